//go:build e2e

package e2e

import (
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
