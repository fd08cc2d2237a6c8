package hostvolume

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
)

// TestOperatorCommands: snapshots lists a volume's snapshots (the driver's
// with their time); rollback brings back the data of a snapshot, and is
// refused while a running pot mounts the volume; restore clones a
// snapshot into a new fscomp holding that data; usage errors exit 2.
func TestOperatorCommands(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	m, _, client := emulatedPot(t)
	p := &Plugin{Pot: client}
	var out bytes.Buffer
	if code := p.Run(context.Background(), []string{OpCreate}, envOf(createEnv()), &out, &out); code != 0 {
		t.Fatalf("create: %s", out.String())
	}
	const ds = "zroot/pot/fscomp/default_data"
	path := strings.TrimSpace(m.Run("zfs", "get", "-H", "-o", "value", "mountpoint", ds))
	count := filepath.Join(path, "count")
	write := func(v string) {
		if err := os.WriteFile(count, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1\n")
	m.Run("zfs", "snapshot", ds+"@nomad-a1-1765000000000000000")
	write("2\n")
	m.Run("zfs", "snapshot", ds+"@manual")

	running := map[string]bool{}
	o := &Operator{Pot: client, IsRunning: func(_ context.Context, name string) (bool, error) { return running[name], nil }}
	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := o.Command(context.Background(), args, nil, &out, &errOut)
		return code, out.String() + errOut.String()
	}

	code, got := run("snapshots", "data")
	want := "nomad-a1-1765000000000000000\t2025-12-06T05:46:40Z\tbefore a task start\nmanual\n"
	if code != 0 || got != want {
		t.Fatalf("snapshots: %d %q, want %q", code, got, want)
	}

	// A pot that mounts the volume: refused while it runs.
	fsRoot, err := client.FSRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(fsRoot, "jails", "web_1", "conf")
	if err := os.MkdirAll(filepath.Join(fsRoot, "jails", "web_1", "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "fscomp.conf"), []byte(path+" /data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	running["web_1"] = true
	if code, got := run("rollback", "data", "nomad-a1-1765000000000000000"); code != 1 || !strings.Contains(got, "running pot web_1") {
		t.Fatalf("rollback under a running pot: %d %q", code, got)
	}
	if data, _ := os.ReadFile(count); string(data) != "2\n" {
		t.Fatalf("a refused rollback changed the data: %q", data)
	}
	running["web_1"] = false
	if code, got := run("rollback", "data", "nomad-a1-1765000000000000000"); code != 0 {
		t.Fatalf("rollback: %d %q", code, got)
	}
	if data, _ := os.ReadFile(count); string(data) != "1\n" {
		t.Fatalf("after the rollback the volume holds %q, want the snapshot's", data)
	}
	if _, got := run("snapshots", "data"); strings.Contains(got, "manual") {
		t.Fatalf("a snapshot later than the rollback's is left: %q", got)
	}

	if code, got := run("restore", "data", "nomad-a1-1765000000000000000", "inspect"); code != 0 {
		t.Fatalf("restore: %d %q", code, got)
	}
	copyPath := strings.TrimSpace(m.Run("zfs", "get", "-H", "-o", "value", "mountpoint", "zroot/pot/fscomp/default_inspect"))
	if data, err := os.ReadFile(filepath.Join(copyPath, "count")); err != nil || string(data) != "1\n" {
		t.Fatalf("the restored fscomp holds %q, %v", data, err)
	}

	for _, bad := range [][]string{{}, {"snapshots"}, {"rollback", "data"}, {"resize", "data"}, {"snapshots", "-x", "data"}} {
		if code, _ := run(bad...); code != 2 {
			t.Errorf("%q: exit %d, want 2", bad, code)
		}
	}
	for _, bad := range [][]string{{"snapshots", "a/b"}, {"rollback", "data", "x@y"}, {"rollback", "data", "missing"}, {"snapshots", "gone"}} {
		if code, _ := run(bad...); code != 1 {
			t.Errorf("%q: exit %d, want 1", bad, code)
		}
	}
}
