package hostvolume

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// TestPluginOnEmulation runs the plugin as Nomad does (arguments,
// DHV_* variables, JSON on stdout) against the FreeBSD emulation's zfs,
// with potsim as pot: create makes a mounted fscomp with the volume's
// quota, reservation, compression, recordsize and ID; create again grows
// it; another ID of that name, bad parameters and a delete of another ID
// are refused leaving everything as it was; delete removes it with its
// snapshots and is idempotent.
func TestPluginOnEmulation(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	m, base, client := emulatedPot(t)
	p := &Plugin{Pot: client}
	run := func(env map[string]string) (int, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := p.Run(context.Background(), []string{env[EnvOperation]}, envOf(env), &out, &errOut)
		return code, out.String()
	}
	prop := func(p string) string {
		return strings.TrimSpace(m.Run("zfs", "get", "-Hp", "-o", "value", p, "zroot/pot/fscomp/default_data"))
	}

	code, out := run(createEnv(EnvCapacityMin, "16777216", EnvParameters, `{"compression":"lz4","recordsize":"16K","reserve":"true","snapshots":"3"}`))
	var resp CreateResponse
	if code != 0 || json.Unmarshal([]byte(out), &resp) != nil {
		t.Fatalf("create: %d %s", code, out)
	}
	want := CreateResponse{Path: filepath.Join(base, "pot", "fscomp", "default_data"), Bytes: 64 << 20}
	if resp != want {
		t.Fatalf("create answered %+v, want %+v", resp, want)
	}
	for k, v := range map[string]string{"quota": "67108864", "reservation": "16777216", "compression": "lz4", "recordsize": "16384",
		VolumeIDProperty: testID, SnapshotsProperty: "3"} {
		if got := prop(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if err := os.WriteFile(filepath.Join(resp.Path, "count"), []byte("1\n"), 0o644); err != nil {
		t.Fatalf("the volume's path is not a folder to write to: %v", err)
	}
	if ls := m.Run("zfs", "list", "-d", "1", "-H", "-o", "name", "zroot/pot/fscomp"); !strings.Contains(ls, "zroot/pot/fscomp/default_data") {
		t.Fatalf("not an fscomp pot lists:\n%s", ls)
	}

	// Nomad's volume update: the same ID, a larger capacity.
	if code, out := run(createEnv(EnvCapacityMax, "134217728")); code != 0 || !strings.Contains(out, `"bytes":134217728`) {
		t.Fatalf("create again: %d %s", code, out)
	}
	if got := prop("quota"); got != "134217728" {
		t.Fatalf("quota after update %s", got)
	}
	if data, err := os.ReadFile(filepath.Join(resp.Path, "count")); err != nil || string(data) != "1\n" {
		t.Fatalf("the update lost the volume's data: %q %v", data, err)
	}

	other := "aaaaaaaa-8b1d-4c1f-9f55-0d1e2a3b4c5d"
	for _, bad := range []map[string]string{
		createEnv(EnvVolumeID, other),
		createEnv(EnvVolumeName, "fresh", EnvParameters, `{"compression":"brotli"}`),
		createEnv(EnvOperation, OpDelete, EnvVolumeID, other),
	} {
		code, out := run(bad)
		var e ErrorResponse
		if code != 1 || json.Unmarshal([]byte(out), &e) != nil || e.Error == "" {
			t.Errorf("%v: %d %s, want exit 1 and an error", bad, code, out)
		}
	}
	if ls := m.Run("zfs", "list", "-r", "-H", "-o", "name", "zroot/pot/fscomp"); strings.Contains(ls, "fresh") || !strings.Contains(ls, "default_data") {
		t.Fatalf("a refused call changed the datasets:\n%s", ls)
	}

	m.Run("zfs", "snapshot", "zroot/pot/fscomp/default_data@nomad-1")
	del := createEnv(EnvOperation, OpDelete, EnvCreatedPath, resp.Path)
	for i := 0; i < 2; i++ {
		if code, out := run(del); code != 0 {
			t.Fatalf("delete %d: %d %s", i+1, code, out)
		}
	}
	if ls := m.Run("zfs", "list", "-r", "-t", "all", "-H", "-o", "name", "zroot/pot/fscomp"); strings.Contains(ls, "default_data") {
		t.Fatalf("delete left:\n%s", ls)
	}

	if code, out := run(map[string]string{EnvOperation: OpFingerprint}); code != 0 || strings.TrimSpace(out) != `{"version":"`+Version+`"}` {
		t.Fatalf("fingerprint: %d %s", code, out)
	}
}

// emulatedPot is a machine with the emulation's zfs (pool zroot, pot's
// root zroot/pot mounted at BASE/pot, its fscomp dataset) and potsim as
// pot; the caller runs in a mount namespace of its own.
func emulatedPot(t *testing.T) (*emulation.Machine, string, *pot.Client) {
	t.Helper()
	m := emulation.New(t, "zfs", "zpool")
	m.Setenv(t)
	base := t.TempDir()
	m.Run("zpool", "create", "-m", "none", "zroot", "/dev/emulated")
	// Before the folders go: the pool's datasets are mounted under base.
	t.Cleanup(func() { _, _ = m.Try("zpool", "destroy", "-f", "zroot") })
	m.Run("zfs", "create", "-o", "mountpoint="+filepath.Join(base, "pot"), "zroot/pot")
	m.Run("zfs", "create", "zroot/pot/fscomp")

	bin := filepath.Join(t.TempDir(), "potsim")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/potsim").CombinedOutput(); err != nil {
		t.Fatalf("building potsim: %v\n%s", err, out)
	}
	t.Setenv("POTSIM_ROOT", t.TempDir())
	if out, err := exec.Command(bin, "init").CombinedOutput(); err != nil {
		t.Fatalf("potsim init: %v\n%s", err, out)
	}
	return m, base, pot.New(bin, nil)
}
