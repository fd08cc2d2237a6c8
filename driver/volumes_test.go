package driver

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/hostvolume"
)

func TestSnapshotsToPrune(t *testing.T) {
	const ds = "zroot/pot/fscomp/default_data"
	all := []string{
		ds + "@nomad-a1-300", ds + "@manual", ds + "@nomad-a2-100", ds + "@nomad-a3-200",
		ds + "/child@nomad-a4-50", ds + "@nomad-bad", "zroot/pot/fscomp/default_data2@nomad-a5-10",
	}
	if got, want := snapshotsToPrune(ds, all, 1), []string{ds + "@nomad-a2-100", ds + "@nomad-a3-200"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("keep 1: %q, want %q", got, want)
	}
	if got := snapshotsToPrune(ds, all, 3); got != nil {
		t.Fatalf("keep 3: %q", got)
	}
	if got := snapshotsToPrune(ds, all, 0); len(got) != 3 {
		t.Fatalf("keep 0: %q", got)
	}
}

// TestVolumeSnapshots: each start of a task mounting a pot fscomp volume
// takes a snapshot first (a task event names it), the newest N (the
// volume's snapshots property) are kept and the operator's own snapshot
// is left; a volume that is no fscomp gets none.
func TestVolumeSnapshots(t *testing.T) {
	env := newTestEnv(t)
	if env.emu == nil {
		t.Skip("on pot's scripts fscomps are the emulated machine's: covered by the e2e volume test")
	}
	const ds = "zroot/pot/fscomp/default_data"
	env.emu.Run("zfs", "create", "-p", "-o", hostvolume.SnapshotsProperty+"=2", ds)
	env.emu.Run("zfs", "snapshot", ds+"@manual")
	volume := filepath.Join(env.root, "fscomp", "default_data")
	plain := t.TempDir()
	for _, dir := range []string{volume} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, h := env.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, HostPathAllow: []string{filepath.Join(env.root, "fscomp"), plain}})
	events := taskEvents(t, h)
	ours := func() []string {
		var out []string
		for _, l := range strings.Fields(env.emu.Run("zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-r", ds)) {
			if strings.Contains(l, "@nomad-") {
				out = append(out, l)
			}
		}
		return out
	}
	var taken []string
	for i := 0; i < 3; i++ {
		cfg, tc := env.task("stateful", "echo run >> /data/runs")
		cfg.Mounts = []*drivers.MountConfig{{TaskPath: "/data", HostPath: volume}}
		start(t, h, cfg, tc)
		ev := waitEvent(events, cfg.ID, 10*time.Second, func(m string) bool { return strings.HasPrefix(m, "Volume snapshot "+ds+"@nomad-") })
		if ev == nil {
			t.Fatalf("start %d: no event names the volume's snapshot", i+1)
		}
		snap := strings.Fields(ev.Message)[2]
		if !slices.Contains(ours(), snap) && i < 2 {
			t.Fatalf("start %d: %s is not among the snapshots %q", i+1, snap, ours())
		}
		taken = append(taken, snap)
		waitResult(t, h, cfg.ID, 20*time.Second)
	}
	// Every start's pruning has run (each pruneDelay after its start).
	time.Sleep(pruneDelay + 500*time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for !sameSet(ours(), taken[1:]) {
		if time.Now().After(deadline) {
			t.Fatalf("snapshots %q, want the newest two %q", ours(), taken[1:])
		}
		time.Sleep(100 * time.Millisecond)
	}
	if all := env.emu.Run("zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-r", ds); !strings.Contains(all, ds+"@manual") {
		t.Fatalf("the operator's snapshot is gone:\n%s", all)
	}

	// What StartTask asks of zfs, counted by a zfs in front of the
	// emulation's: one snapshot per fscomp volume, nothing for a task
	// without one (the image imported, pot's ZFS root known).
	wrap := t.TempDir()
	calls := filepath.Join(wrap, "calls")
	// potsim's own calls (it keeps its pots' datasets) are pot's, not the
	// driver's: only those of the test's process count.
	script := "#!/bin/sh\n[ \"$PPID\" = " + strconv.Itoa(os.Getpid()) + " ] && echo \"$*\" >> " + calls + "\nexec " + filepath.Join(env.emu.Bin, "zfs") + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(wrap, "zfs"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", wrap+string(os.PathListSeparator)+os.Getenv("PATH"))
	zfsCalls := func(mounts []*drivers.MountConfig) []string {
		t.Helper()
		os.Remove(calls)
		cfg, tc := env.task("counted", "true")
		cfg.Mounts = mounts
		encode(t, cfg, tc)
		allocDir(t, h, cfg, true)
		if _, _, err := h.StartTask(cfg); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(calls)
		waitResult(t, h, cfg.ID, 20*time.Second)
		time.Sleep(pruneDelay + 500*time.Millisecond) // the pruning after it
		return strings.Fields(strings.ReplaceAll(string(data), " ", "_"))
	}
	if got := zfsCalls([]*drivers.MountConfig{{TaskPath: "/data", HostPath: volume}}); len(got) != 1 || !strings.HasPrefix(got[0], "snapshot_") {
		t.Fatalf("zfs calls of StartTask with one fscomp volume: %q, want one snapshot", got)
	}
	if got := zfsCalls([]*drivers.MountConfig{{TaskPath: "/data", HostPath: plain}}); len(got) != 0 {
		t.Fatalf("zfs calls of StartTask with a volume that is no fscomp: %q, want none", got)
	}
	if got := zfsCalls(nil); len(got) != 0 {
		t.Fatalf("zfs calls of StartTask without volumes: %q, want none", got)
	}
}
