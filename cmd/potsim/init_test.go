package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Before `pot init` every subcommand but version and init exits 1 with
// pot-cmd's message on stderr, and nothing is created; init makes the root,
// a second init says it is already there, and then the commands work.
func TestInitRequired(t *testing.T) {
	for _, name := range []string{"missing", "empty"} {
		t.Run(name, func(t *testing.T) {
			e := newUninitEnv(t)
			if name == "empty" {
				// An existing folder without pot's layout (a test's
				// temporary directory) is not initialised either.
				if err := os.MkdirAll(e.root, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			want := "###>  " + e.root + " does not exist, please run 'pot init'\n"
			for _, args := range [][]string{
				{"ls", "-q"}, {"list"}, {"ps", "-q"}, {"config", "-q", "-g", "fs_root"},
				{"info", "-p", "x"}, {"destroy", "-p", "x"}, {"stop", "-p", "x"}, {"help", "ls"},
				{"prepare", "-U", "file:///nowhere", "-p", "img", "-t", "1", "-a", "a", "-n", "n"},
			} {
				out, errs, code := e.pot(args...)
				if code != 1 || out != "" || errs != want {
					t.Errorf("%q before init: exit %d, stdout %q, stderr %q; want 1 and %q on stderr", args, code, out, errs, want)
				}
			}
			if out := e.must("version", "-q"); out != "0.16.0\n" {
				t.Errorf("version -q before init = %q", out)
			}
			if out, _, code := e.pot("help"); code != 0 || !strings.Contains(out, "Usage: pot") {
				t.Errorf("help before init: exit %d, %q", code, out)
			}
			if fileExists(filepath.Join(e.root, "jails")) {
				t.Fatal("a command before init created the root's folders")
			}

			if out := e.must("init"); out != "" {
				t.Errorf("first init printed %q", out)
			}
			for _, d := range []string{"jails", "tmp", "cache", "bridges"} {
				if !isDir(filepath.Join(e.root, d)) {
					t.Errorf("init made no %s/", d)
				}
			}
			if out := e.must("init"); out != "===>  zroot/pot already present\n" {
				t.Errorf("second init printed %q", out)
			}
			if out := e.must("ls", "-q"); out != "" {
				t.Errorf("ls -q after init = %q", out)
			}
			if out := e.must("config", "-q", "-g", "fs_root"); strings.TrimSpace(out) != e.root {
				t.Errorf("fs_root after init = %q", out)
			}
		})
	}
}

// An image pot cannot be destroyed while a pot cloned from it exists
// (zfs destroy -r refuses a dataset with dependent clones): pot's two
// messages on stdout, zfs's on stderr, exit 1, and both pots stay. Once the
// clone is gone the image pot goes.
func TestDestroyImageWithClones(t *testing.T) {
	e := newPotsimEnv(t)
	imgDir := t.TempDir()
	writeTarImage(t, filepath.Join(imgDir, "img_1.2.xz"), map[string]string{"hello.txt": "from image\n"})
	url := "file://" + imgDir
	for _, n := range []string{"one", "two"} {
		e.must("prepare", "-U", url, "-p", "img", "-t", "1.2", "-a", "a", "-n", n, "-c", "true", "-N", "inherit")
	}
	for _, args := range [][]string{{"destroy", "-p", "img_1_2"}, {"destroy", "-F", "-p", "img_1_2"}, {"destroy", "-r", "-p", "img_1_2"}} {
		out, errs, code := e.pot(args...)
		wantOut := "===>  Destroying pot img_1_2\n" +
			"###>  zfs failed to destroy the dataset zroot/pot/jails/img_1_2\n" +
			"###>  img_1_2 destruction failed\n"
		wantErr := "cannot destroy 'zroot/pot/jails/img_1_2': filesystem has dependent clones\n" +
			"use '-R' to destroy the following datasets:\n" +
			"zroot/pot/jails/one_a/m\nzroot/pot/jails/two_a/m\n"
		if code != 1 || out != wantOut || errs != wantErr {
			t.Errorf("%q with clones: exit %d\nstdout %q\nstderr %q", args, code, out, errs)
		}
	}
	if out := e.must("ls", "-q"); out != "img_1_2\none_a\ntwo_a\n" {
		t.Fatalf("ls -q after the failed destroys = %q", out)
	}
	if data, err := os.ReadFile(filepath.Join(e.root, "jails", "img_1_2", "m", "hello.txt")); err != nil || string(data) != "from image\n" {
		t.Fatalf("image pot's file system after the failed destroy: %q, %v", data, err)
	}
	if _, _, code := e.pot("start", "-p", "one_a"); code != 0 {
		t.Fatalf("start of the clone after the image's failed destroy: exit %d", code)
	}

	e.must("destroy", "-p", "one_a")
	if _, errs, code := e.pot("destroy", "-p", "img_1_2"); code != 1 || !strings.HasSuffix(errs, "datasets:\nzroot/pot/jails/two_a/m\n") {
		t.Errorf("destroy with one clone left: exit %d, stderr %q", code, errs)
	}
	e.must("destroy", "-p", "two_a")
	e.must("destroy", "-p", "img_1_2")
	if out := e.must("ls", "-q"); out != "" {
		t.Fatalf("ls -q at the end = %q", out)
	}
}
