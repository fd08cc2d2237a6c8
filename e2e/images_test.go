//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
)

// TestImportProgress: the image server is slow (the image takes about 12 s
// to arrive); while it downloads, the task's events show how far it is,
// bytes of the total, never two within 5 s, and the job then runs.
func TestImportProgress(t *testing.T) {
	c, _ := startCluster(t, func(o *cluster.Options) { o.HaproxyConfig = "" })
	c.Images.SlowDown(12 * time.Second)
	ids, _ := startTicks(t, c, "slow-image", 1)
	var a alloc
	if err := c.NomadJSON("/v1/allocation/"+ids[0], &a); err != nil {
		t.Fatal(err)
	}
	prefix := "Downloading image " + cluster.ImageName + " tag " + cluster.ImageTag + ": "
	var times []time.Time
	for _, ev := range a.TaskStates["tick"].Events {
		if strings.HasPrefix(ev.DisplayMessage, prefix) {
			at := time.Unix(0, ev.Time)
			t.Logf("%s %s", at.Format("15:04:05.000"), ev.DisplayMessage)
			if !strings.Contains(ev.DisplayMessage, " of ") {
				t.Errorf("progress event %q does not give the total", ev.DisplayMessage)
			}
			times = append(times, at)
		}
	}
	if len(times) < 2 {
		t.Fatalf("%d progress events during a 12 s download, want at least 2; events: %+v", len(times), a.TaskStates["tick"].Events)
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 5*time.Second {
			t.Errorf("two progress events %s apart, want at least 5 s", gap.Round(time.Millisecond))
		}
	}
}

// TestSignedImages: the plugin verifies every image with the cluster's
// key (default_signature_pubkey, require_signed_images) or the job's own
// signature_pubkey; an image signed with another key, unsigned, or changed
// after it was signed fails its task with pot's message and leaves no pot.
func TestSignedImages(t *testing.T) {
	c, _ := startCluster(t, func(o *cluster.Options) { o.HaproxyConfig = ""; o.SignImages = true })
	ownPub, ownSec, err := cluster.SigningKeys(c.HostDir, "own")
	if err != nil {
		t.Fatal(err)
	}
	for name, sign := range map[string]string{"e2e-ownkey": ownSec, "e2e-otherkey": c.SigningSecKey, "e2e-tampered": c.SigningSecKey, "e2e-unsigned": ""} {
		if err := c.Images.CopyImage(name); err != nil {
			t.Fatal(err)
		}
		if sign != "" {
			if err := cluster.SignImage(c.Images.Dir, name, cluster.ImageTag, sign); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustWrite(t, filepath.Join(c.Images.Dir, "e2e-tampered_"+cluster.ImageTag+".xz"), "not the image that was signed")

	for _, tc := range []struct {
		job, image, key string
		want            string // "" runs
	}{
		{"signed-default", cluster.ImageName, "", ""},
		{"signed-own-key", "e2e-ownkey", ownPub, ""},
		{"signed-other-key", "e2e-otherkey", ownPub, "Signature verification failed"},
		{"signed-tampered", "e2e-tampered", "", "The image and its hash do not overlap"},
		{"signed-unsigned", "e2e-unsigned", "", ".skein.sig"},
	} {
		t.Run(tc.job, func(t *testing.T) {
			t.Cleanup(func() { stopJob(t, c, tc.job) })
			nomad(t, c, "job", "run", "-detach", signedJob(t, c, tc.job, tc.image, tc.key))
			a := waitTaskDead(t, c, tc.job, "signed", slowerOnRealPot(time.Minute, 3))
			ts := a.TaskStates["signed"]
			var msgs []string
			for _, ev := range ts.Events {
				msgs = append(msgs, ev.Type+": "+ev.DisplayMessage)
			}
			t.Logf("%s: failed %v, events:\n  %s", tc.job, ts.Failed, strings.Join(msgs, "\n  "))
			switch {
			case tc.want == "" && ts.Failed:
				t.Errorf("%s failed, want it run", tc.job)
			case tc.want != "" && !ts.Failed:
				t.Errorf("%s ran, want it failed with %q", tc.job, tc.want)
			case tc.want != "" && !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, tc.want) }):
				t.Errorf("no event of %s says %q", tc.job, tc.want)
			}
			if pots := potsOf(t, c, tc.job); len(pots) != 0 && tc.want != "" {
				t.Errorf("pots of the failed %s left: %v", tc.job, pots)
			}
		})
	}
}

// signedJob is a batch job of image whose task prints a line, verified
// with key ("": the plugin's default), neither restarted nor rescheduled.
func signedJob(t *testing.T, c *cluster.Cluster, job, image, key string) string {
	t.Helper()
	keyLine := ""
	if key != "" {
		keyLine = fmt.Sprintf("signature_pubkey = %q", key)
	}
	hcl := fmt.Sprintf(`job %q {
  type = "batch"
  group "g" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "signed" {
      driver = "pot"
      config {
        image        = %q
        pot          = %q
        tag          = %q
        network_mode = "inherit"
        command      = "echo"
        args         = ["signed"]
        %s
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}
`, job, c.Images.URL, image, cluster.ImageTag, keyLine)
	file := filepath.Join(t.TempDir(), job+".nomad.hcl")
	mustWrite(t, file, hcl)
	return file
}

// waitTaskDead waits for the job's allocation whose task has ended.
func waitTaskDead(t *testing.T, c *cluster.Cluster, job, task string, limit time.Duration) alloc {
	t.Helper()
	var dead alloc
	eventually(t, limit, job+"'s task "+task+" ended", func() (bool, string) {
		for _, a := range jobAllocs(t, c, job) {
			if ts, ok := a.TaskStates[task]; ok && ts.State == "dead" {
				dead = a
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", jobAllocs(t, c, job))
	})
	return dead
}
