package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
)

// signifyTool is the signify potsim finds (signify, or Debian's
// signify-openbsd), which the tests sign images with; CI installs it.
func signifyTool(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"signify", "signify-openbsd"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("signify is not installed: apt-get install signify-openbsd")
	return ""
}

// signify runs the tool, failing the test if it fails.
func signify(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(signifyTool(t), args...).CombinedOutput(); err != nil {
		t.Fatalf("signify %q: %v\n%s", args, err, out)
	}
}

// keyPair generates a signify key pair in dir and returns the public and
// the secret key's files.
func keyPair(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	pub, sec := filepath.Join(dir, name+".pub"), filepath.Join(dir, name+".sec")
	signify(t, "-G", "-n", "-p", pub, "-s", sec)
	return pub, sec
}

// cacheFiles lists the cache folder.
func (e *potsimEnv) cacheFiles() []string {
	entries, _ := os.ReadDir(filepath.Join(e.root, "cache"))
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names
}

// cmpDiffer is FreeBSD cmp's line for the first difference of a and b
// (of the same length), compared as `cmp A -`.
func cmpDiffer(nameA string, a, b []byte) string {
	line := 1
	for i := range a {
		if a[i] != b[i] {
			return nameA + " - differ: char " + strconv.Itoa(i+1) + ", line " + strconv.Itoa(line) + "\n"
		}
		if a[i] == '\n' {
			line++
		}
	}
	return ""
}

// Import checks what it fetched as import.sh does, in its order, with its
// messages: the .skein first, the signature (given -C) before the image,
// a missing .meta made empty, the hash of image and .meta against the
// .skein; a failure removes what was cached and tries once more.
func TestImportVerification(t *testing.T) {
	keys := t.TempDir()
	pub, sec := keyPair(t, keys, "right")
	wrongPub, _ := keyPair(t, keys, "wrong")
	image := []byte("opaque image\n")
	type files map[string][]byte // by suffix of img_1.xz
	cases := []struct {
		name   string
		server files
		stale  files  // in the cache before the import
		sign   bool   // the .skein signed with the right key
		tamper []byte // the image served in place of the one hashed
		args   []string
		env    []string
		code   int
		stdout func(cache string) string
		stderr func(url string) string
		pot    bool     // img_1 exists afterwards
		cached []string // the cache folder afterwards
	}{{
		name:   "no .meta",
		server: files{"": image, ".skein": imagehash.Skein(image, nil)},
		code:   0,
		stdout: func(cache string) string {
			return "===>  importing img @ 1 as img_1\n===>  No " + cache + "/img_1.xz.meta, ignoring\n===>  Pot img_1 has no dependencies\n"
		},
		stderr: func(url string) string { return "fetch: " + url + "/img_1.xz.meta: No such file or directory\n" },
		pot:    true,
		cached: []string{"img_1.xz", "img_1.xz.meta", "img_1.xz.skein"},
	}, {
		name:   "with .meta, verbose",
		server: files{"": image, ".meta": []byte("-\n"), ".skein": imagehash.Skein(image, []byte("-\n"))},
		args:   []string{"-v"},
		code:   0,
		stdout: func(string) string {
			return "===>  importing img @ 1 as img_1\n=====>  Hash confirmed\n===>  Pot img_1 has no dependencies\n"
		},
		stderr: func(string) string { return "" },
		pot:    true,
		cached: []string{"img_1.xz", "img_1.xz.meta", "img_1.xz.skein"},
	}, {
		name:   "no .skein",
		server: files{"": image},
		code:   1,
		stdout: func(string) string { return "===>  importing img @ 1 as img_1\n" },
		stderr: func(url string) string {
			return strings.Repeat("fetch: "+url+"/img_1.xz.skein: No such file or directory\n", 2)
		},
	}, {
		name:   "tampered image",
		server: files{"": image, ".skein": imagehash.Skein(image, nil)},
		tamper: []byte("opaque image, changed\n"),
		code:   1,
		stdout: func(cache string) string {
			skein := cache + "/img_1.xz.skein"
			diff := cmpDiffer(skein, imagehash.Skein(image, nil), imagehash.Skein([]byte("opaque image, changed\n"), nil))
			once := "===>  No " + cache + "/img_1.xz.meta, ignoring\n" + diff + "###>  The image and its hash do not overlap\n"
			return "===>  importing img @ 1 as img_1\n" + once + once
		},
		stderr: func(url string) string {
			return strings.Repeat("fetch: "+url+"/img_1.xz.meta: No such file or directory\n", 2)
		},
		// pot leaves what the second try fetched.
		cached: []string{"img_1.xz", "img_1.xz.meta", "img_1.xz.skein"},
	}, {
		name:   "stale image in the cache",
		server: files{"": image, ".skein": imagehash.Skein(image, nil)},
		stale:  files{"": []byte("an image of before\n")},
		code:   0,
		stdout: func(cache string) string {
			skein := cache + "/img_1.xz.skein"
			noMeta := "===>  No " + cache + "/img_1.xz.meta, ignoring\n"
			return "===>  importing img @ 1 as img_1\n" + noMeta +
				cmpDiffer(skein, imagehash.Skein(image, nil), imagehash.Skein([]byte("an image of before\n"), nil)) +
				"###>  The image and its hash do not overlap\n" + noMeta + "===>  Pot img_1 has no dependencies\n"
		},
		stderr: func(url string) string {
			return strings.Repeat("fetch: "+url+"/img_1.xz.meta: No such file or directory\n", 2)
		},
		pot:    true,
		cached: []string{"img_1.xz", "img_1.xz.meta", "img_1.xz.skein"},
	}, {
		name:   "signed, right key",
		server: files{"": image, ".meta": []byte("-\n"), ".skein": imagehash.Skein(image, []byte("-\n"))},
		sign:   true,
		args:   []string{"-v", "-C", pub},
		code:   0,
		stdout: func(string) string {
			// "Signature Verified" is signify's own.
			return "===>  importing img @ 1 as img_1\nSignature Verified\n=====>  Signature verification succeeded\n=====>  Hash confirmed\n===>  Pot img_1 has no dependencies\n"
		},
		stderr: func(string) string { return "" },
		pot:    true,
		cached: []string{"img_1.xz", "img_1.xz.meta", "img_1.xz.skein", "img_1.xz.skein.sig"},
	}, {
		name:   "signed, wrong key",
		server: files{"": image, ".skein": imagehash.Skein(image, nil)},
		sign:   true,
		args:   []string{"-C", wrongPub},
		code:   1,
		stdout: func(string) string {
			return "===>  importing img @ 1 as img_1\n" + strings.Repeat("###>  Signature verification failed\n", 2)
		},
		stderr: func(string) string {
			return strings.Repeat(filepath.Base(signifyTool(t))+": verification failed: checked against wrong key\n", 2)
		},
		// The image itself is never fetched.
		cached: []string{"img_1.xz.skein", "img_1.xz.skein.sig"},
	}, {
		name:   "key, no signature on the server",
		server: files{"": image, ".skein": imagehash.Skein(image, nil)},
		args:   []string{"-C", pub},
		code:   1,
		stdout: func(string) string { return "===>  importing img @ 1 as img_1\n" },
		stderr: func(url string) string {
			return strings.Repeat("fetch: "+url+"/img_1.xz.skein.sig: No such file or directory\n", 2)
		},
		cached: []string{"img_1.xz.skein"},
	}, {
		name:   "key file missing",
		server: files{"": image, ".skein": imagehash.Skein(image, nil)},
		args:   []string{"-C", filepath.Join(keys, "nosuch.pub")},
		code:   1,
		stdout: func(string) string { return "###>  Public key " + filepath.Join(keys, "nosuch.pub") + " not found\n" },
		stderr: func(string) string { return "" },
	}, {
		name:   "no signify",
		server: files{"": image, ".skein": imagehash.Skein(image, nil)},
		args:   []string{"-C", pub},
		env:    []string{"PATH=" + t.TempDir()},
		code:   1,
		stdout: func(string) string { return "###>  Could not find 'signify', try 'pkg install signify'\n" },
		stderr: func(string) string { return "" },
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newPotsimEnv(t)
			dir := t.TempDir()
			for suffix, body := range c.server {
				if err := os.WriteFile(filepath.Join(dir, "img_1.xz"+suffix), body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for suffix, body := range c.stale {
				if err := os.WriteFile(filepath.Join(e.root, "cache", "img_1.xz"+suffix), body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if c.sign {
				signify(t, "-S", "-s", sec, "-m", filepath.Join(dir, "img_1.xz.skein"), "-x", filepath.Join(dir, "img_1.xz.skein.sig"))
			}
			if c.tamper != nil {
				if err := os.WriteFile(filepath.Join(dir, "img_1.xz"), c.tamper, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			url := "file://" + dir
			cmd := e.cmd(append([]string{"import", "-p", "img", "-t", "1", "-U", url}, c.args...)...)
			cmd.Env = append(cmd.Env, c.env...)
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			code := 0
			if err := cmd.Run(); err != nil {
				ee, ok := err.(*exec.ExitError)
				if !ok {
					t.Fatal(err)
				}
				code = ee.ExitCode()
			}
			cache := filepath.Join(e.root, "cache")
			if code != c.code || out.String() != c.stdout(cache) || errb.String() != c.stderr(url) {
				t.Fatalf("import: exit %d, want %d\nstdout %q\nwant   %q\nstderr %q\nwant   %q",
					code, c.code, out.String(), c.stdout(cache), errb.String(), c.stderr(url))
			}
			pots := e.must("ls", "-q")
			if got := pots == "img_1\n"; got != c.pot {
				t.Fatalf("ls -q after the import: %q", pots)
			}
			if got := e.cacheFiles(); !slices.Equal(got, c.cached) {
				t.Fatalf("cache after the import: %q, want %q", got, c.cached)
			}
		})
	}
}
