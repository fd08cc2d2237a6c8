package hclspec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPluginConfigSecurityKeys(t *testing.T) {
	pc, err := decodePluginConfig(t, map[string]interface{}{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(pc.HostPathAllow) != 0 || len(pc.AttributesAllow) != 0 {
		t.Fatalf("allowlists not empty by default: %#v", pc)
	}
	if call, prep := pc.PotTimeouts(); call != 2*time.Minute || prep != 10*time.Minute {
		t.Fatalf("pot timeouts %s %s", call, prep)
	}
	if grace, period := pc.Orphans(); grace != 10*time.Minute || period != time.Minute {
		t.Fatalf("orphans %s %s", grace, period)
	}
	if b, age := pc.ImageCache(); b != 0 || age != 0 {
		t.Fatalf("image cache %d %s", b, age)
	}

	pc, err = decodePluginConfig(t, map[string]interface{}{
		"host_path_allow": []interface{}{"/mnt/data", "/usr/local/etc/app"}, "attributes_allow": []interface{}{"mount", "devfs_ruleset"},
		"pot_call_timeout": "30s", "pot_prepare_timeout": "20m", "orphan_grace": "5m", "orphan_sweep_period": "0",
		"image_cache_max_bytes": 10 << 30, "image_cache_max_age": "168h",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pc.HostPathAllow, []string{"/mnt/data", "/usr/local/etc/app"}) || !reflect.DeepEqual(pc.AttributesAllow, []string{"mount", "devfs_ruleset"}) {
		t.Fatalf("allowlists %#v", pc)
	}
	if call, prep := pc.PotTimeouts(); call != 30*time.Second || prep != 20*time.Minute {
		t.Fatalf("pot timeouts %s %s", call, prep)
	}
	if grace, period := pc.Orphans(); grace != 5*time.Minute || period != 0 {
		t.Fatalf("orphans %s %s", grace, period)
	}
	if b, age := pc.ImageCache(); b != 10<<30 || age != 168*time.Hour {
		t.Fatalf("image cache %d %s", b, age)
	}
	if pc.DefaultSignaturePubkey != "" || pc.RequireSignedImages {
		t.Fatalf("signed images asked for by default: %#v", pc)
	}
	pc, err = decodePluginConfig(t, map[string]interface{}{"default_signature_pubkey": "/usr/local/etc/pot/sign_key.pub", "require_signed_images": true})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Validate(); err != nil || pc.DefaultSignaturePubkey != "/usr/local/etc/pot/sign_key.pub" || !pc.RequireSignedImages {
		t.Fatalf("signature keys: %v %#v", err, pc)
	}
	if _, err := decodePluginConfig(t, map[string]interface{}{"host_path_allow": "/mnt"}); err == nil {
		t.Error("a string for host_path_allow decoded")
	}

	for _, c := range []struct {
		cfg  PluginConfig
		want string
	}{
		{PluginConfig{HostPathAllow: []string{"mnt/data"}}, `host_path_allow[0] "mnt/data": must be an absolute path`},
		{PluginConfig{HostPathAllow: []string{"/mnt/data/"}}, `host_path_allow[0] "/mnt/data/": must be a clean path`},
		{PluginConfig{HostPathAllow: []string{"/mnt/../etc"}}, `host_path_allow[0] "/mnt/../etc": must be a clean path`},
		{PluginConfig{HostPathAllow: []string{"/ok", "/"}}, `host_path_allow[1] "/": would allow every host path`},
		{PluginConfig{HostPathAllow: []string{"/mnt\n/etc"}}, `host_path_allow[0] "/mnt\n/etc": value contains a line break`},
		{PluginConfig{AttributesAllow: []string{"allow.mount"}}, `attributes_allow[0] "allow.mount": unknown pot attribute; the risky ones are: children devfs_ruleset`},
		{PluginConfig{AttributesAllow: []string{"mount", "persistent"}}, `attributes_allow[1] "persistent": attribute persistent is set by the driver`},
		{PluginConfig{PotCallTimeout: "soon"}, `pot_call_timeout "soon": want a duration`},
		{PluginConfig{PotCallTimeout: "10ms"}, `pot_call_timeout "10ms": must be at least 1s`},
		{PluginConfig{PotPrepareTimeout: "0"}, `pot_prepare_timeout "0": must be at least 1s`},
		{PluginConfig{OrphanGrace: "-1m"}, `orphan_grace "-1m": must be at least 1s`},
		{PluginConfig{OrphanSweepPeriod: "10ms"}, `orphan_sweep_period "10ms": must be at least 1s (or 0: off)`},
		{PluginConfig{ImageCacheMaxAge: "30s"}, `image_cache_max_age "30s": must be at least 1m0s (or 0: off)`},
		{PluginConfig{ImageCacheMaxBytes: -1}, `image_cache_max_bytes "-1": must not be negative`},
		{PluginConfig{DefaultSignaturePubkey: "keys/pot.pub"}, `default_signature_pubkey "keys/pot.pub": must be an absolute path`},
		{PluginConfig{DefaultSignaturePubkey: "/"}, `default_signature_pubkey "/": names a folder, not a file`},
		{PluginConfig{DefaultSignaturePubkey: "/etc/../pot.pub"}, `default_signature_pubkey "/etc/../pot.pub": must be a clean path`},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("got %v, want %s", err, c.want)
		}
	}
	// Listing a harmless attribute is allowed (it changes nothing).
	if err := (&PluginConfig{AttributesAllow: []string{"procfs", "stop_timeout"}}).Validate(); err != nil {
		t.Error(err)
	}
}

// hostTree builds, below a resolved temporary folder:
//
//	allowed/file, allowed/sub/f, allowed2/file, outside/secret
//	allowed/escape -> outside          allowed/inner -> allowed/sub
//	allowed/rel -> ../outside/secret    linked -> allowed
//	allowed/loop -> allowed/loop
func hostTree(t testing.TB) string {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"allowed/file", "allowed/sub/f", "allowed2/file", "outside/secret"} {
		p := filepath.Join(base, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"allowed/escape": filepath.Join(base, "outside"),
		"allowed/inner":  filepath.Join(base, "allowed/sub"),
		"allowed/rel":    "../outside/secret",
		"linked":         filepath.Join(base, "allowed"),
		"allowed/loop":   filepath.Join(base, "allowed/loop"),
	} {
		if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

func TestCheckHostPath(t *testing.T) {
	base := hostTree(t)
	in := func(p string) string { return base + "/" + p } // not cleaned
	pc := &PluginConfig{HostPathAllow: []string{in("allowed"), in("missing")}}
	for _, c := range []struct {
		path     string
		resolved string // "" refused
		want     string
	}{
		{in("allowed"), in("allowed"), ""},
		{in("allowed/file"), in("allowed/file"), ""},
		{in("allowed/inner/f"), in("allowed/sub/f"), ""},
		{in("linked/file"), in("allowed/file"), ""},
		{in("allowed/sub/../file"), in("allowed/file"), ""},
		{in("allowed/../outside/secret"), "", "resolves to " + in("outside/secret")},
		{in("allowed/escape"), "", "resolves to " + in("outside")},
		{in("allowed/escape/secret"), "", "resolves to " + in("outside/secret")},
		{in("allowed/escape/.."), "", "resolves to " + base},
		{in("allowed/rel"), "", "resolves to " + in("outside/secret")},
		{in("allowed2"), "", "is not under the pot plugin's host_path_allow"},
		{in("allowed2/file"), "", "is not under"},
		{in("outside"), "", "is not under"},
		{base, "", "is not under"},
		{"/", "", "is not under"},
		{"allowed/file", "", "is not an absolute path"},
		{"", "", "is not an absolute path"},
		{in("allowed/nope"), "", "no such file or directory"},
		{in("missing"), "", "no such file or directory"},
		{in("allowed/loop"), "", "too many links"},
		{in("allowed/file\n"), "", "line break"},
	} {
		got, err := pc.CheckHostPath("mount[3]", c.path+":/x", c.path)
		if c.resolved != "" {
			if err != nil || got != c.resolved {
				t.Errorf("%s: %q %v, want %s", c.path, got, err, c.resolved)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted as %s", c.path, got)
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Key != "mount[3]" || fe.Value != c.path+":/x" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want mount[3] and %q", c.path, err, c.want)
		}
	}
	// The allowlist entry may itself be a link; a prefix's sibling is not
	// under it even through the link.
	pc = &PluginConfig{HostPathAllow: []string{in("linked")}}
	if got, err := pc.CheckHostPath("copy[0]", "", in("allowed/file")); err != nil || got != in("allowed/file") {
		t.Errorf("through a linked prefix: %q %v", got, err)
	}
	if _, err := pc.CheckHostPath("copy[0]", "", in("allowed2/file")); !errors.Is(err, ErrHostPathNotAllowed) {
		t.Errorf("sibling of a linked prefix: %v", err)
	}
	// Nothing is allowed without an allowlist.
	for _, pc := range []*PluginConfig{nil, {}, DefaultPluginConfig()} {
		if _, err := pc.CheckHostPath("copy[0]", "", in("allowed/file")); !errors.Is(err, ErrHostPathNotAllowed) || !strings.Contains(err.Error(), "host_path_allow is empty") {
			t.Errorf("%#v: %v", pc, err)
		}
	}
}

func TestPathUnder(t *testing.T) {
	for _, c := range []struct {
		p, prefix string
		under     bool
	}{
		{"/mnt/data", "/mnt/data", true},
		{"/mnt/data/x", "/mnt/data", true},
		{"/mnt/data2", "/mnt/data", false},
		{"/mnt/dat", "/mnt/data", false},
		{"/mnt", "/mnt/data", false},
		{"/anything", "/", true},
		{"/mnt/data/../etc", "/mnt/data", false},
		{"/mnt/data/", "/mnt/data", false},
		{"mnt/data/x", "/mnt/data", false},
		{"/mnt/data/x", "mnt/data", false},
		{"", "/", false},
	} {
		if got := PathUnder(c.p, c.prefix); got != c.under {
			t.Errorf("PathUnder(%q, %q) = %v", c.p, c.prefix, got)
		}
	}
}

func TestCheckTaskAttributes(t *testing.T) {
	c := validConfig()
	c.Attributes = []string{"stop_timeout:5", "mount:yes", "enforce_statfs:1", "devfs_ruleset:4", "sysvshm:inherit"}
	s, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	err = DefaultPluginConfig().CheckTask(s)
	if err == nil {
		t.Fatal("risky attributes accepted")
	}
	for _, want := range []string{
		`attributes[1] "mount:YES": mount weakens the jail's isolation (allow.mount: root in the jail may mount file systems); the pot plugin's attributes_allow must list mount`,
		`attributes[2] "enforce_statfs:1"`, `attributes[4] "sysvshm:inherit"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, not := range []string{"attributes[0]", "attributes[3]"} {
		if strings.Contains(err.Error(), not) {
			t.Errorf("error %q names harmless %s", err, not)
		}
	}
	pc := DefaultPluginConfig()
	pc.AttributesAllow = []string{"mount", "enforce_statfs", "sysvshm"}
	if err := pc.CheckTask(s); err != nil {
		t.Fatal(err)
	}
	pc.AttributesAllow = []string{"mount"}
	if err := pc.CheckTask(s); err == nil || strings.Contains(err.Error(), "attributes[1]") || !strings.Contains(err.Error(), "attributes[2]") {
		t.Fatalf("allowing mount only: %v", err)
	}
}

// FuzzPathUnder: PathUnder agrees with an element-by-element comparison
// and with filepath.Rel, for every pair of strings.
func FuzzPathUnder(f *testing.F) {
	for _, s := range [][2]string{{"/mnt/data/x", "/mnt/data"}, {"/mnt/data2", "/mnt/data"}, {"/", "/"}, {"/a/../b", "/a"},
		{"/a//b", "/a"}, {"/a/b/", "/a"}, {"a/b", "a"}, {"/a/./b", "/a"}, {"/a\x00/b", "/a\x00"}, {"/..", "/"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, prefix string) {
		got := PathUnder(p, prefix)
		clean := filepath.IsAbs(p) && filepath.IsAbs(prefix) && filepath.Clean(p) == p && filepath.Clean(prefix) == prefix
		want := false
		if clean {
			pe, qe := strings.Split(p, "/")[1:], strings.Split(prefix, "/")[1:]
			if prefix == "/" {
				qe = nil
			}
			if p == "/" {
				pe = nil
			}
			want = len(pe) >= len(qe)
			for i := 0; want && i < len(qe); i++ {
				want = pe[i] == qe[i]
			}
		}
		if got != want {
			t.Fatalf("PathUnder(%q, %q) = %v, want %v", p, prefix, got, want)
		}
		if got {
			rel, err := filepath.Rel(prefix, p)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
				t.Fatalf("PathUnder(%q, %q) but Rel = %q %v", p, prefix, rel, err)
			}
		}
	})
}

// FuzzCheckHostPath: whatever path a job names below a tree with links
// that lead out, in, around and nowhere, CheckHostPath accepts only paths
// that really are inside the allowed folder, returns the real path, and
// names the key in every refusal.
func FuzzCheckHostPath(f *testing.F) {
	base := hostTree(f)
	allowed := filepath.Join(base, "allowed")
	pc := &PluginConfig{HostPathAllow: []string{filepath.Join(base, "linked")}}
	for _, s := range []string{"allowed/file", "allowed/escape/secret", "allowed/../outside", "allowed/inner/../file", "linked/rel",
		"allowed2/file", "allowed/loop/x", "linked/./sub//f", "allowed/escape/../allowed/file", "/etc/passwd", "../../etc", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		p := base + "/" + rel
		got, err := pc.CheckHostPath("copy[0]", rel, p)
		if err != nil {
			var fe *FieldError
			if got != "" || !errors.As(err, &fe) || fe.Key != "copy[0]" || fe.Value != rel {
				t.Fatalf("%q: %q %v", rel, got, err)
			}
			return
		}
		real, rerr := filepath.EvalSymlinks(p)
		if rerr != nil || real != got || !PathUnder(got, allowed) {
			t.Fatalf("%q accepted as %q (real %q %v)", rel, got, real, rerr)
		}
		if info, err := os.Lstat(got); err != nil || info.Mode()&os.ModeSymlink != 0 {
			t.Fatalf("%q accepted as %q, which is a link or missing: %v", rel, got, err)
		}
	})
}
