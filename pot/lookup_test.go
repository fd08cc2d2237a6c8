package pot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLookupProgram: a program is looked for as the jail sees its file
// system — pot's root, mount-ins over it, links resolved inside the jail —
// not on the host.
func TestLookupProgram(t *testing.T) {
	fsRoot := t.TempDir()
	jail := filepath.Join(fsRoot, "jails", "p")
	root := filepath.Join(jail, "m")
	host := t.TempDir() // a host folder mounted in at /local
	write := func(p string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "bin", "busybox"), 0o755)
	link("/bin/busybox", filepath.Join(root, "bin", "sh"))              // absolute: a jail path
	link("../../bin/busybox", filepath.Join(root, "usr", "bin", "env")) // relative
	link("/etc/passwd", filepath.Join(root, "bin", "hostlink"))         // the host's /etc/passwd is not the jail's
	write(filepath.Join(root, "usr", "local", "bin", "app"), 0o644)
	if err := os.MkdirAll(filepath.Join(root, "usr", "local", "bin", "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(host, "run.sh"), 0o755)
	write(filepath.Join(root, "local", "shadowed.sh"), 0o755) // hidden by the mount-in
	conf := host + " /local\nzroot/pot/fscomp/data /data\n"
	if err := os.MkdirAll(filepath.Join(jail, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(jail, "conf", "fscomp.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	path := []string{"/sbin", "/bin", "/usr/bin", "/usr/local/bin"}

	for _, tc := range []struct {
		program          string
		found, uncertain bool
		problem          string
		looked           string // in Looked
	}{
		{program: "/bin/sh", found: true},
		{program: "sh", found: true},
		{program: "/usr/bin/env", found: true},
		{program: "/local/run.sh", found: true},
		{program: "local/run.sh", found: true},
		{program: "/local/shadowed.sh", problem: "no such file", looked: "/local/shadowed.sh (" + filepath.Join(host, "shadowed.sh") + ")"},
		{program: "/no/such", problem: "no such file", looked: "/no/such"},
		{program: "nginx", problem: "no such file", looked: "/usr/local/bin/nginx"},
		{program: "/bin/hostlink", problem: "no such file"},
		{program: "/usr/local/bin/app", problem: "not executable"},
		{program: "app", problem: "not executable"},
		{program: "/usr/local/bin/adir", problem: "a directory"},
		{program: "/data/bin/db", uncertain: true},
	} {
		l, err := LookupProgram(fsRoot, "p", tc.program, path)
		if err != nil {
			t.Errorf("%s: %v", tc.program, err)
			continue
		}
		if l.Found != tc.found || l.Uncertain != tc.uncertain || (!tc.found && !tc.uncertain && l.Problem != tc.problem) {
			t.Errorf("%s: found %v, uncertain %v, problem %q; want %v, %v, %q (looked %v)", tc.program, l.Found, l.Uncertain, l.Problem, tc.found, tc.uncertain, tc.problem, l.Looked)
		}
		if l.Root != root {
			t.Errorf("%s: root %q, want %q", tc.program, l.Root, root)
		}
		if tc.looked != "" && !strings.Contains(strings.Join(l.Looked, "\n"), tc.looked) {
			t.Errorf("%s: looked %v, want %q among them", tc.program, l.Looked, tc.looked)
		}
	}
	if _, err := LookupProgram(fsRoot, "nopot", "/bin/sh", path); err == nil {
		t.Error("a pot with no root: no error")
	}
	if _, err := LookupProgram("relative", "p", "/bin/sh", path); err == nil {
		t.Error("a relative fs_root: no error")
	}
}
