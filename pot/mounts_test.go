package pot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A pot's tree as pot keeps it under fs_root, for mountAll without pot.
func fakePot(t *testing.T, typ string) (fsRoot, name string) {
	t.Helper()
	fsRoot, name = t.TempDir(), "p1"
	for _, d := range []string{"conf", "m/etc", "m/srv/data"} {
		if err := os.MkdirAll(filepath.Join(potDir(fsRoot, name), d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(potConfFile(fsRoot, name), []byte("pot.type="+typ+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return fsRoot, name
}

// clientAt is a client whose fs_root is known (no pot is called).
func clientAt(fsRoot string) *Client {
	c := New("/nonexistent/pot", nil)
	c.fsRoot.root = fsRoot
	return c
}

// mountAll makes mount points inside the jail, following the jail's own
// symbolic links there (never the host's), and records each mount as pot
// mount-in does; it refuses what mount-in refuses.
func TestMountAll(t *testing.T) {
	fsRoot, name := fakePot(t, potTypeSingle)
	m := filepath.Join(potDir(fsRoot, name), "m")
	// An absolute link in the jail is a jail path; one climbing out
	// stops at the jail's root.
	if err := os.Symlink("/srv/data", filepath.Join(m, "data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../etc", filepath.Join(m, "escape")); err != nil {
		t.Fatal(err)
	}
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	err := clientAt(fsRoot).mountAll(context.Background(), name, []MountOptions{
		{HostDir: a, JailPath: "/data/x"},
		{HostDir: b + "/", JailPath: "/escape/y", ReadOnly: true},
		{HostDir: c, JailPath: "/data/x/inner"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(fscompFile(fsRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	want := a + " /srv/data/x\n" + b + " /etc/y ro\n" + c + " /srv/data/x/inner\n"
	if string(got) != want {
		t.Fatalf("fscomp.conf:\n%s\nwant:\n%s", got, want)
	}
	for _, p := range []string{filepath.Join(m, "srv/data/x"), filepath.Join(m, "etc/y"), filepath.Join(a, "inner")} {
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			t.Errorf("mount point %s not made: %v", p, err)
		}
	}

	for _, bad := range []struct {
		m    MountOptions
		says string
	}{
		{MountOptions{HostDir: a, JailPath: "/again"}, "already used"},
		{MountOptions{HostDir: filepath.Join(m, "srv"), JailPath: "/self"}, "part of the pot"},
		{MountOptions{HostDir: filepath.Join(a, "missing"), JailPath: "/z"}, "not a directory"},
		{MountOptions{HostDir: t.TempDir(), JailPath: "relative"}, "absolute"},
		{MountOptions{HostDir: t.TempDir(), JailPath: "/"}, "not a valid mount point"},
	} {
		err := clientAt(fsRoot).mountAll(context.Background(), name, []MountOptions{bad.m})
		if err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("%+v: %v, want %q", bad.m, err, bad.says)
		}
	}
	if after, _ := os.ReadFile(fscompFile(fsRoot, name)); string(after) != want {
		t.Fatalf("a refused mount changed fscomp.conf:\n%s", after)
	}
}
