//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
)

// TestStatefulVolume runs example-jobs/stateful.nomad.hcl on a volume of
// example-jobs/stateful.volume.hcl, made by `nomad volume create` through
// the driver's host volume plugin as a pot fscomp: the count the job keeps
// in it survives a job stop and run and a client restart; each start is
// preceded by a snapshot (a task event names it); a rollback brings back
// the count before a start; `nomad volume delete` removes the dataset and
// its snapshots. With potsim the machine's ZFS is the emulation's, whose
// mounts need a mount namespace of this test's own.
func TestStatefulVolume(t *testing.T) {
	if os.Getenv(realPotEnv) == "" && !emulation.InMountNamespace(t) {
		return
	}
	c, root := startCluster(t, persistentNomad, func(o *cluster.Options) { o.HaproxyConfig = ""; o.HostVolumes = true })
	const job = "stateful"
	t.Cleanup(func() { stopJob(t, c, job) })

	out := nomad(t, c, "volume", "create", jobFile(root, "stateful.volume.hcl"))
	m := regexp.MustCompile(`ID "?([0-9a-f-]{36})`).FindStringSubmatch(out.Stdout + out.Stderr)
	if m == nil {
		t.Fatalf("nomad volume create said:\n%s%s", out.Stdout, out.Stderr)
	}
	volumeID := m[1]
	zfsRoot, err := c.Pot("config", "-q", "-g", "zfs_root")
	if err != nil {
		t.Fatal(err)
	}
	dataset := strings.TrimSpace(zfsRoot.Stdout) + "/fscomp/default_counter"
	zfsGet := func(prop string) string {
		out, err := c.ZFS("get", "-Hp", "-o", "value", prop, dataset)
		if err != nil {
			t.Fatalf("zfs get %s %s: %v", prop, dataset, err)
		}
		return strings.TrimSpace(out.Stdout)
	}
	if q := zfsGet("quota"); q != "67108864" {
		t.Errorf("the volume's quota is %s, want capacity_max 64MiB", q)
	}
	count := filepath.Join(zfsGet("mountpoint"), "count")
	read := func() string { b, _ := os.ReadFile(count); return strings.TrimSpace(string(b)) }

	run := func(want string) alloc {
		t.Helper()
		nomad(t, c, append(append([]string{"job", "run", "-detach"}, imageVars(c)...), jobFile(root, "stateful.nomad.hcl"))...)
		a := waitRunning(t, c, job, 1, slowerOnRealPot(time.Minute, 3))[0]
		waitLog(t, c, a.ID, "counter", false, "count="+want, 30*time.Second)
		if got := read(); got != want {
			t.Fatalf("the volume holds count %q, want %q", got, want)
		}
		return a
	}
	stop := func() {
		t.Helper()
		nomad(t, c, "job", "stop", "-detach", job)
		waitNoPots(t, c, job, slowerOnRealPot(time.Minute, 3))
	}
	snapshots := func() []string {
		t.Helper()
		out, err := c.VolumeCommand("snapshots", "counter")
		if err != nil {
			t.Fatalf("nomad-pot-driver volume snapshots: %v\n%s", err, out.Stderr)
		}
		var names []string
		for _, l := range strings.Split(strings.TrimSpace(out.Stdout), "\n") {
			if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "nomad-") {
				names = append(names, f[0])
			}
		}
		return names
	}

	a := run("1")
	if n := len(snapshots()); n != 1 {
		t.Fatalf("%d snapshots after the first start, want 1", n)
	}
	var full alloc
	if err := c.NomadJSON("/v1/allocation/"+a.ID, &full); err != nil {
		t.Fatal(err)
	}
	var named bool
	for _, ev := range full.TaskStates["counter"].Events {
		named = named || strings.HasPrefix(ev.DisplayMessage, "Volume snapshot "+dataset+"@nomad-")
	}
	if !named {
		t.Errorf("no task event names the volume's snapshot: %+v", full.TaskStates["counter"].Events)
	}
	stop()
	run("2")
	snaps := snapshots()
	if len(snaps) != 2 {
		t.Fatalf("snapshots after the second start: %q, want 2", snaps)
	}

	// A client restart: the task and its count stay.
	if err := c.StopNomad(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNomad(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, c, job, 1, time.Minute)
	if got := read(); got != "2" {
		t.Fatalf("after a client restart the volume holds %q, want 2", got)
	}

	// Refused while the job's pot mounts the volume; after the stop, the
	// state from before the second start (count 1) comes back.
	if out, err := c.VolumeCommand("rollback", "counter", snaps[1]); err == nil {
		t.Fatalf("a rollback under a running task succeeded:\n%s", out.Stdout)
	}
	stop()
	if out, err := c.VolumeCommand("rollback", "counter", snaps[1]); err != nil {
		t.Fatalf("rollback: %v\n%s%s", err, out.Stdout, out.Stderr)
	}
	if got := read(); got != "1" {
		t.Fatalf("after the rollback the volume holds %q, want 1", got)
	}
	run("2")
	stop()

	// The stopped allocations hold the volume until they are collected.
	nomad(t, c, "job", "stop", "-purge", "-detach", job)
	nomad(t, c, "system", "gc")
	eventually(t, time.Minute, "nomad volume delete to succeed", func() (bool, string) {
		out, err := c.Nomad(time.Minute, "volume", "delete", "-type", "host", volumeID)
		if err != nil {
			_, _ = c.Nomad(time.Minute, "system", "gc")
			return false, err.Error()
		}
		return true, out.Stdout
	})
	eventually(t, time.Minute, "the volume's dataset to be destroyed", func() (bool, string) {
		out, err := c.ZFS("list", "-H", "-t", "all", "-r", "-o", "name", strings.TrimSuffix(dataset, "/default_counter"))
		return err == nil && !strings.Contains(out.Stdout, "default_counter"), out.Stdout
	})
}
