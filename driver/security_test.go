package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad/helper/testlog"
	"github.com/hashicorp/nomad/helper/uuid"
	"github.com/hashicorp/nomad/plugins/base"
	"github.com/hashicorp/nomad/plugins/drivers"
	dtestutil "github.com/hashicorp/nomad/plugins/drivers/testutils"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// Fault injection for the issue "nothing lost, nothing left behind,
// nothing let in": refused host paths and attributes, hostile values, pot
// hanging, orphans and the image cache.

// syncBuffer is a log the test reads while the driver writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newDriverLogged is newDriverWith whose log the test can read.
func (e *testEnv) newDriverLogged(cfg *hclspec.PluginConfig) (*Driver, *dtestutil.DriverHarness, *syncBuffer) {
	e.t.Helper()
	logs := &syncBuffer{}
	d, h := e.newDriverWithLogger(cfg, hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: io.MultiWriter(logs, testlog.NewWriter(e.t))}))
	return d, h, logs
}

// newDriverWithLogger is newDriverWith logging to logger.
func (e *testEnv) newDriverWithLogger(cfg *hclspec.PluginConfig, logger hclog.Logger) (*Driver, *dtestutil.DriverHarness) {
	e.t.Helper()
	d := New(logger)
	h := dtestutil.NewDriverHarness(e.t, d)
	addTestDriver(e.t, d)
	var data []byte
	if err := base.MsgPackEncode(&data, cfg); err != nil {
		e.t.Fatal(err)
	}
	if err := h.SetConfig(&base.Config{PluginConfig: data}); err != nil {
		e.t.Fatalf("SetConfig: %v", err)
	}
	return d, h
}

// preparePot makes a pot named as the driver names them (name, alloc) that
// runs script, behind the driver's back; the test's end destroys it.
func (e *testEnv) preparePot(name, alloc, script string) string {
	e.t.Helper()
	p, err := e.client.Prepare(context.Background(), pot.PrepareOptions{URL: e.imageURL, Image: testImage, Tag: testTag,
		Name: name, Alloc: alloc, Argv: []string{"/bin/sh", "-c", script}, Network: pot.NetworkInherit})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = e.client.Destroy(context.Background(), p, true) })
	return p
}

// startFails starts a task that must be refused: the error must name
// every want, and no pot may be left.
func (e *testEnv) startFails(h *dtestutil.DriverHarness, cfg *drivers.TaskConfig, tc *hclspec.TaskConfig, want ...string) error {
	e.t.Helper()
	before := e.taskPots()
	encode(e.t, cfg, tc)
	allocDir(e.t, h, cfg, false)
	_, _, err := h.StartTask(cfg)
	if err == nil {
		_ = h.DestroyTask(cfg.ID, true)
		e.t.Fatalf("%s: StartTask succeeded, want an error naming %q", cfg.Name, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			e.t.Errorf("%s: error %q does not name %q", cfg.Name, err, w)
		}
	}
	for _, p := range e.taskPots() {
		if !slices.Contains(before, p) {
			e.t.Fatalf("%s: pot left behind: %s", cfg.Name, p)
		}
	}
	return err
}

func mkfile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestHostPathAllowlist: mount, mount_read_only, copy, host volumes and
// a custom dns file take host paths only under host_path_allow, links resolved;
// "..", a link out of the prefix, a prefix's sibling, relative and missing
// paths are refused naming the key and the path, and leave nothing.
func TestHostPathAllowlist(t *testing.T) {
	env := newTestEnv(t)
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(base, "allowed")
	sibling := filepath.Join(base, "allowed2")
	outside := filepath.Join(base, "outside")
	mkfile(t, filepath.Join(allowed, "file"), "inside")
	mkfile(t, filepath.Join(allowed, "sub", "f"), "via-inner-link")
	mkfile(t, filepath.Join(sibling, "file"), "sibling")
	mkfile(t, filepath.Join(outside, "secret"), "SECRET")
	symlink(t, outside, filepath.Join(allowed, "escape"))                          // a link out of the prefix
	symlink(t, filepath.Join(allowed, "sub"), filepath.Join(allowed, "inner"))     // a link that stays inside
	symlink(t, "../outside/secret", filepath.Join(allowed, "relescape"))           // a relative link out
	symlink(t, allowed, filepath.Join(base, "linked"))                             // the allowlist entry is a link
	symlink(t, filepath.Join(base, "nowhere"), filepath.Join(allowed, "dangling")) // a link to nothing
	linked := filepath.Join(base, "linked")

	_, h := env.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, HostPathAllow: []string{linked}})

	// Allowed: through the linked prefix, an inner link, a host volume.
	cfg, tc := env.task("allowed", `cat m/f; echo; cat c/file; echo; cat vol/file; echo`)
	tc.MountReadOnly = []string{filepath.Join(allowed, "inner") + ":/m"}
	tc.Copy = []string{filepath.Join(linked, "file") + ":/c/file"}
	cfg.Mounts = []*drivers.MountConfig{{HostPath: allowed, TaskPath: "/vol", Readonly: true}}
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 20*time.Second); res.ExitCode != 0 {
		t.Fatalf("allowed paths: exit %+v", res)
	}
	logContains(t, cfg, "stdout", "via-inner-link\ninside\ninside\n")
	if err := h.DestroyTask(cfg.ID, true); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name  string
		setup func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig)
		want  []string
	}{
		{"dotdot-volume", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			cfg.Mounts = []*drivers.MountConfig{{HostPath: allowed + "/../outside", TaskPath: "/x"}}
		}, []string{"volume_mount /x", "resolves to " + outside, "host_path_allow"}},
		{"dotdot-mount", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Mount = []string{allowed + "/../outside:/x"}
		}, []string{"mount[0]", "'..'"}},
		{"link-out-mount", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Mount = []string{filepath.Join(allowed, "escape") + ":/x"}
		}, []string{"mount[0]", "resolves to " + outside}},
		{"link-out-copy", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Copy = []string{filepath.Join(allowed, "escape", "secret") + ":/s"}
		}, []string{"copy[0]", "resolves to " + filepath.Join(outside, "secret")}},
		{"relative-link-out-copy", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Copy = []string{filepath.Join(linked, "relescape") + ":/s"}
		}, []string{"copy[0]", "resolves to " + filepath.Join(outside, "secret")}},
		{"link-out-volume", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			cfg.Mounts = []*drivers.MountConfig{{HostPath: filepath.Join(allowed, "escape"), TaskPath: "/data"}}
		}, []string{"volume_mount /data", "resolves to " + outside}},
		{"prefix-sibling", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.MountReadOnly = []string{sibling + ":/x"}
		}, []string{"mount_read_only[0]", sibling, "is not under the pot plugin's host_path_allow"}},
		{"relative-volume", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			cfg.Mounts = []*drivers.MountConfig{{HostPath: "allowed/file", TaskPath: "/x"}}
		}, []string{"volume_mount 0", "must be absolute"}},
		{"relative-mount", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Mount = []string{"allowed:/x"}
		}, []string{"mount[0]", "not absolute"}},
		{"missing", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Mount = []string{filepath.Join(allowed, "nope") + ":/x"}
		}, []string{"mount[0]", "no such file or directory"}},
		{"dangling-link", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Copy = []string{filepath.Join(allowed, "dangling") + ":/x"}
		}, []string{"copy[0]", "no such file or directory"}},
		{"dns-custom-outside", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.DNS = pot.CustomDNS(filepath.Join(outside, "secret")).String()
		}, []string{"dns", "is not under the pot plugin's host_path_allow"}},
		{"all-reported", func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Mount = []string{filepath.Join(allowed, "file") + ":/ok", sibling + ":/bad"}
			tc.Copy = []string{filepath.Join(outside, "secret") + ":/s"}
		}, []string{"mount[1]", "copy[0]"}},
	} {
		cfg, tc := env.task(c.name, "true")
		c.setup(cfg, tc)
		env.startFails(h, cfg, tc, c.want...)
	}

	// The default: no host path at all.
	_, h = env.newDriver()
	cfg, tc = env.task("default-none", "true")
	tc.MountReadOnly = []string{allowed + ":/m"}
	env.startFails(h, cfg, tc, "mount_read_only[0]", "host_path_allow is empty")
	cfg, tc = env.task("default-none-volume", "true")
	cfg.Mounts = []*drivers.MountConfig{{HostPath: allowed, TaskPath: "/vol"}}
	env.startFails(h, cfg, tc, "volume_mount /vol", "host_path_allow is empty")
}

// TestRiskyAttributesNeedAllowing: jail attributes that weaken isolation
// are refused (naming the key and value) unless attributes_allow lists
// them; their harmless values and the other attributes need nothing.
func TestRiskyAttributesNeedAllowing(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("risky", "true")
	tc.Attributes = []string{"stop_timeout:3", "mount:yes", "devfs_ruleset:0", "enforce_statfs:1", "sysvshm:inherit", "children:2", "raw_sockets:on", "mlock:true", "zfs:yes", "nullfs:yes", "tmpfs:yes", "linprocfs:yes", "sysvsem:inherit", "sysvmsg:inherit"}
	err := env.startFails(h, cfg, tc,
		`attributes[1] "mount:YES"`, `attributes[2] "devfs_ruleset:0"`, `attributes[3] "enforce_statfs:1"`,
		`attributes[4] "sysvshm:inherit"`, `attributes[5] "children:2"`, `attributes[6] "raw_sockets:YES"`,
		`attributes[7] "mlock:YES"`, `attributes[8] "zfs:YES"`, `attributes[9] "nullfs:YES"`, `attributes[10] "tmpfs:YES"`,
		`attributes[11] "linprocfs:YES"`, `attributes[12] "sysvsem:inherit"`, `attributes[13] "sysvmsg:inherit"`,
		"attributes_allow must list mount")
	if strings.Contains(err.Error(), "attributes[0]") {
		t.Errorf("stop_timeout reported: %v", err)
	}
	// Unknown attributes and pot's own are refused whatever the plugin says.
	cfg, tc = env.task("unknown", "true")
	tc.Attributes = []string{"allow.mount.devfs:yes", "persistent:yes"}
	env.startFails(h, cfg, tc, "attributes[0]", "unknown attribute", "attributes[1]", "set by the driver")

	// Harmless values need nothing.
	cfg, tc = env.task("harmless", "true")
	tc.Attributes = []string{"mount:no", "enforce_statfs:2", "devfs_ruleset:4", "sysvshm:new", "sysvmsg:disable", "children:0", "procfs:yes", "fdescfs:yes"}
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 20*time.Second); res.ExitCode != 0 {
		t.Fatalf("harmless attributes: %+v", res)
	}

	// Allowed by the plugin: they reach pot.
	_, h = env.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, AttributesAllow: []string{"mount", "devfs_ruleset"}})
	cfg, tc = env.task("allowed", "sleep 30")
	tc.Attributes = []string{"mount:yes", "devfs_ruleset:0"}
	start(t, h, cfg, tc)
	st, err := h.InspectTask(cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	for attr, want := range map[string]string{"mount": "YES", "devfs_ruleset": "0"} {
		out, err := exec.Command(potsimBin, "get-attribute", "-q", "-p", st.DriverAttributes["pot_name"], "-A", attr).Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("get-attribute %s = %q (%v), want %s", attr, out, err, want)
		}
	}
	cfg, tc = env.task("still-refused", "true")
	tc.Attributes = []string{"mount:yes", "zfs:yes"}
	err = env.startFails(h, cfg, tc, `attributes[1] "zfs:YES"`)
	if strings.Contains(err.Error(), "attributes[0]") {
		t.Errorf("allowed mount reported: %v", err)
	}
}

// TestHostileValues: $(…), backquotes, ;, quotes, globs and variables in
// args and env reach the process literally; where a key cannot carry
// them (extra_hosts, attributes, image) the task is refused naming the key;
// no injection creates a file on the host or in the jail. Newlines are
// refused everywhere.
func TestHostileValues(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	marks := t.TempDir()
	hostile := []string{
		"$(touch " + marks + "/dollar)",
		"`touch " + marks + "/backquote`",
		"; touch " + marks + "/semicolon",
		"' ; touch " + marks + "/squote ; '",
		`" ; touch ` + marks + `/dquote ; "`,
		"'\"'\"; touch " + marks + "/mixed",
		"&& touch " + marks + "/and",
		"| touch " + marks + "/pipe",
		"$(touch jail-dollar)",
		"`touch jail-backquote`",
		`\$(touch ` + marks + `/escaped)`,
		`\`, `\\`, "$HOME", "${PATH}", "*", "?", "~", "#comment", "$'x'", "-n", "",
	}
	script := `i=0; for a in "$@"; do printf 'arg%d<%s>\n' "$i" "$a"; i=$((i+1)); done; ` +
		`i=0; while [ $i -lt ` + fmt.Sprint(len(hostile)) + ` ]; do eval "v=\"\${H$i}\""; printf 'env%d<%s>\n' "$i" "$v"; i=$((i+1)); done`
	cfg, tc := env.task("hostile", "")
	tc.Args = append([]string{"-c", script, "sh"}, hostile...)
	cfg.Env = map[string]string{}
	for i, v := range hostile {
		cfg.Env[fmt.Sprintf("H%d", i)] = v
	}
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 20*time.Second); res.ExitCode != 0 {
		t.Fatalf("exit %+v", res)
	}
	for i, v := range hostile {
		logContains(t, cfg, "stdout", fmt.Sprintf("arg%d<%s>\n", i, v))
		logContains(t, cfg, "stdout", fmt.Sprintf("env%d<%s>\n", i, v))
	}
	st, err := h.InspectTask(cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	jailRoot := filepath.Join(env.root, "jails", st.DriverAttributes["pot_name"], "m")
	for _, f := range []string{"jail-dollar", "jail-backquote"} {
		if _, err := os.Stat(filepath.Join(jailRoot, f)); err == nil {
			t.Errorf("an injection created %s in the jail", f)
		}
	}

	// command is one program: a ';' in it is part of its name.
	cfg, tc = env.task("command", "")
	tc.Command = "/bin/true;touch"
	tc.Args = []string{marks + "/command"}
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 20*time.Second); res.ExitCode == 0 {
		t.Errorf("command %q ran: %+v", tc.Command, res)
	}

	// Keys that cannot carry such characters refuse them by name.
	for _, c := range []struct {
		name  string
		setup func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig)
		want  []string
	}{
		{"extra-hosts", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.ExtraHosts = []string{"db$(touch " + marks + "/hosts):10.0.0.1", "db:10.0.0.1;touch"}
		}, []string{"extra_hosts[0]", "extra_hosts[1]"}},
		{"attribute-value", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Attributes = []string{"procfs:$(touch " + marks + "/attr)", "stop_timeout:1;touch"}
		}, []string{"attributes[0]", "attributes[1]", "wants a"}},
		{"attribute-name", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Attributes = []string{"`touch " + marks + "/attrname`:yes"}
		}, []string{"attributes[0]", "unknown attribute"}},
		{"exec-stop-equals", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Attributes = []string{"exec_stop:a=b"}
		}, []string{"attributes[0]", "'='"}},
		{"image", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.Image = env.imageURL + "/$(touch " + marks + "/image)"
			tc.Tag = "1;touch"
		}, []string{"image", "tag"}},
		{"group-dns", func(cfg *drivers.TaskConfig, _ *hclspec.TaskConfig) {
			cfg.DNS = &drivers.DNSConfig{Servers: []string{"1.1.1.1 ; touch"}}
		}, []string{"dns"}},
	} {
		cfg, tc := env.task(c.name, "true")
		c.setup(cfg, tc)
		env.startFails(h, cfg, tc, c.want...)
	}

	// An env name no sh can export is left out (TestEnvNamesNomadAllows),
	// never run.
	cfg, tc = env.task("env-name", "true")
	cfg.Env = map[string]string{"A;touch " + marks + "/env-name;B": "x", "$(touch " + marks + "/env-name2)": "y"}
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 20*time.Second); res.ExitCode != 0 {
		t.Errorf("a task with hostile env names: %+v", res)
	}

	// A newline anywhere is refused, naming the key; nothing reaches pot.conf.
	const nl = "x\npot.cmd=/bin/touch-pwned"
	for _, c := range []struct {
		name  string
		setup func(cfg *drivers.TaskConfig, tc *hclspec.TaskConfig)
		want  string
	}{
		{"nl-command", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.Command = "/bin/sh" + nl }, "command"},
		{"nl-args", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.Args = []string{"-c", nl} }, "args[1]"},
		{"nl-cr-args", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.Args = []string{"-c", "x\rpot.cmd=y"} }, "args[1]"},
		{"nl-env", func(cfg *drivers.TaskConfig, _ *hclspec.TaskConfig) { cfg.Env = map[string]string{"V": nl} }, "environment variable V"},
		{"nl-extra-hosts", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.ExtraHosts = []string{"a" + nl + ":1.2.3.4"} }, "extra_hosts[0]"},
		{"nl-attributes", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.Attributes = []string{"exec_stop:" + nl} }, "attributes[0]"},
		{"nl-mount", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.Mount = []string{"/tmp" + nl + ":/x"} }, "mount[0]"},
		{"nl-copy", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.Copy = []string{"/tmp:/x" + nl} }, "copy[0]"},
		{"nl-image", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.Image = env.imageURL + nl }, "image"},
		{"nl-pot", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.Pot = testImage + nl }, "pot"},
		{"nl-port-map", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.PortMap = map[string]string{"a" + nl: "80"} }, "port_map"},
		{"nl-dns", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) {
			tc.DNS = pot.CustomDNS("/etc/resolv.conf" + nl).String()
		}, "dns"},
		{"nl-rctl", func(_ *drivers.TaskConfig, tc *hclspec.TaskConfig) { tc.Rctl = map[string]string{"maxproc": "1" + nl} }, "rctl"},
		{"nl-group-dns", func(cfg *drivers.TaskConfig, _ *hclspec.TaskConfig) {
			cfg.DNS = &drivers.DNSConfig{Searches: []string{"consul" + nl}}
		}, "dns"},
		{"nl-volume", func(cfg *drivers.TaskConfig, _ *hclspec.TaskConfig) {
			cfg.Mounts = []*drivers.MountConfig{{HostPath: "/tmp", TaskPath: "/x" + nl}}
		}, "volume_mount"},
	} {
		cfg, tc := env.task(c.name, "true")
		c.setup(cfg, tc)
		env.startFails(h, cfg, tc, c.want)
	}

	// Nothing was created on the host, and no pot.conf took a setting.
	if entries, _ := os.ReadDir(marks); len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("injections created files on the host: %v", names)
	}
	confs, _ := filepath.Glob(filepath.Join(env.root, "jails", "*", "conf", "pot.conf"))
	for _, c := range confs {
		b, _ := os.ReadFile(c)
		if strings.Contains(string(b), "pwned") || strings.Contains(string(b), "pot.cmd=y") {
			t.Errorf("%s took an injected setting:\n%s", c, b)
		}
	}
}

// hangingPot writes a pot that hangs (sleeps) on the given subcommands and
// is potsim otherwise; with after, it first runs potsim's subcommand, so
// what it made is there when it hangs.
func hangingPot(t *testing.T, after bool, subcommands ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pot")
	run := ""
	if after {
		run = `"$POTSIM" "$@"; `
	}
	script := fmt.Sprintf("#!/bin/sh\nPOTSIM=%s\ncase \"$1\" in\n%s) %sexec sleep 3600 ;;\nesac\nexec \"$POTSIM\" \"$@\"\n",
		pot.ShellQuoteWord(potsimBin), strings.Join(subcommands, "|"), run)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// slowPot writes a pot that first sleeps delay on the given subcommand,
// then is potsim (or the pot under test).
func slowPot(t *testing.T, subcommand string, delay time.Duration) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pot")
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = %s ] && sleep %.1f\nexec %s \"$@\"\n",
		pot.ShellQuoteWord(subcommand), delay.Seconds(), pot.ShellQuoteWord(potsimBin))
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestPotHanging: a pot that never answers fails the call at its deadline
// (pot_call_timeout, pot_prepare_timeout) with a message that says so; a
// start fails and leaves no pot, and nothing wedges: fingerprint, recovery,
// stop and destroy all return.
func TestPotHanging(t *testing.T) {
	env := newTestEnv(t)
	hangCfg := func(bin string) *hclspec.PluginConfig {
		// prepare with an import takes 1.2–2.3 s on pot's own scripts:
		// the cases that hang after a real prepare must not cut it short.
		return &hclspec.PluginConfig{PotBin: bin, PotCallTimeout: "1s", PotPrepareTimeout: "6s"}
	}
	bounded := func(what string, took, limit time.Duration) {
		t.Helper()
		if took > limit {
			t.Errorf("%s took %s, want at most %s", what, took, limit)
		}
	}

	for _, c := range []struct {
		sub   string
		after bool
		want  string
		limit time.Duration
	}{
		{"set-env", false, "no answer within 1s", 15 * time.Second},
		// (mounts are written without a pot call: pot/ Create)
		{"set-hosts", false, "no answer within 1s", 15 * time.Second},
		{"prepare", false, "no answer within 6s", 20 * time.Second},
		// prepare made the pot, then hung: the pot is removed.
		{"prepare", true, "no answer within 6s", 20 * time.Second},
		{"set-attribute", true, "no answer within 1s", 15 * time.Second},
	} {
		_, h := env.newDriverWith(hangCfg(hangingPot(t, c.after, c.sub)))
		cfg, tc := env.task("hang-"+c.sub, "true")
		cfg.Env = map[string]string{"GREETING": "hello"}
		tc.Attributes = []string{"stop_timeout:3"}
		tc.ExtraHosts = []string{"db.internal:10.1.2.3"}
		begin := time.Now()
		env.startFails(h, cfg, tc, "pot "+c.sub, c.want, pot.ErrTimeout.Error())
		bounded("StartTask with pot "+c.sub+" hanging", time.Since(begin), c.limit)
	}

	// pot start runs but never gets to its jail: given up after a call's
	// limit, pot start killed, the pot removed.
	{
		_, h := env.newDriverWith(hangCfg(hangingPot(t, false, "start")))
		cfg, tc := env.task("hang-start", "true")
		begin := time.Now()
		env.startFails(h, cfg, tc, "the jail did not start", "reported no jail id (_POT_JID) within 1s")
		bounded("StartTask with pot start hanging", time.Since(begin), 15*time.Second)
	}

	// Fingerprint: unhealthy within the call timeout, not after its own 10 s.
	d, _ := env.newDriverWith(hangCfg(hangingPot(t, false, "version")))
	begin := time.Now()
	fp := d.fingerprint(context.Background())
	bounded("fingerprint", time.Since(begin), 5*time.Second)
	if fp.Health != drivers.HealthStateUnhealthy || !strings.Contains(fp.HealthDescription, "no answer within 1s") {
		t.Errorf("fingerprint with pot version hanging: %s %q", fp.Health, fp.HealthDescription)
	}

	// A running task whose pot then hangs on everything the driver asks.
	bin := hangingPot(t, false, "info", "signal", "stop", "destroy", "last-run-stats")
	// Started with pot's usual deadlines: on pot's scripts a jail takes
	// about a second to show, the 1 s limit's own length.
	_, h := env.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin})
	cfg, tc := env.task("hang-running", `trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done`)
	handle := start(t, h, cfg, tc)
	logContains(t, cfg, "stdout", "ready")
	t.Cleanup(func() {
		st, err := h.InspectTask(cfg.ID)
		if err == nil {
			_ = env.client.Destroy(context.Background(), st.DriverAttributes["pot_name"], true)
		}
	})

	// Recovery by a new plugin process: pot info hangs.
	_, h2 := env.newDriverWith(hangCfg(bin))
	begin = time.Now()
	err := h2.RecoverTask(handle.Copy())
	bounded("RecoverTask", time.Since(begin), 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "no answer within 1s") {
		t.Errorf("RecoverTask with pot info hanging: %v", err)
	}

	// Stop and destroy through a driver whose pot hangs: errors, in time.
	d3, h3 := env.newDriverWith(hangCfg(potsimBin))
	if err := h3.RecoverTask(handle.Copy()); err != nil {
		t.Fatalf("RecoverTask: %v", err)
	}
	d3.mu.Lock()
	d3.pot = &pot.Client{Bin: bin, CallTimeout: time.Second, PrepareTimeout: 2 * time.Second}
	d3.mu.Unlock()
	begin = time.Now()
	err = h3.StopTask(cfg.ID, time.Second, "SIGTERM")
	bounded("StopTask", time.Since(begin), 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "no answer within 1s") {
		t.Errorf("StopTask with pot signal and stop hanging: %v", err)
	}
	begin = time.Now()
	err = h3.DestroyTask(cfg.ID, true)
	bounded("DestroyTask", time.Since(begin), 30*time.Second)
	if err == nil {
		t.Error("DestroyTask with pot stop and destroy hanging reported success")
	}
}

// orphanName is a pot name as potNameParts makes them.
func orphanName(job, task string) (name, alloc string) {
	return job + "_" + task, uuid.Generate() + "_" + uuid.Generate()[:8]
}

// setPluginConfig changes the driver's plugin config in place of SetConfig
// (which a test cannot call with a moved clock).
func setPluginConfig(d *Driver, change func(c *hclspec.PluginConfig)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := *d.config
	change(&c)
	d.config = &c
}

// TestOrphanSweep: pots named like the driver's that no task owns (a
// crash, a failed start, lost client state) are destroyed, running or not,
// once orphan_grace has passed since the sweep first saw them, one log line
// each; the driver's own tasks (also one still starting), foreign pots and
// image pots are never touched.
func TestOrphanSweep(t *testing.T) {
	env := newTestEnv(t)
	d, h, logs := env.newDriverLogged(&hclspec.PluginConfig{PotBin: potsimBin, OrphanGrace: "1m"})
	ctx := context.Background()

	// The driver's own running task.
	cfg, tc := env.task("owned", "sleep 60")
	start(t, h, cfg, tc)
	st, err := h.InspectTask(cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	owned := st.DriverAttributes["pot_name"]
	if !driverPotName.MatchString(owned) {
		t.Fatalf("the driver's pot %s does not match driverPotName", owned)
	}

	prepare := func(name, alloc string) string {
		t.Helper()
		p, err := env.client.Prepare(ctx, pot.PrepareOptions{URL: env.imageURL, Image: testImage, Tag: testTag,
			Name: name, Alloc: alloc, Argv: []string{"/bin/sh", "-c", "sleep 60"}, Network: pot.NetworkInherit})
		if err != nil {
			t.Fatal(err)
		}
		// The sweep leaves some of them: the test removes them all.
		t.Cleanup(func() { _ = env.client.Destroy(context.Background(), p, true) })
		return p
	}
	// Orphans: one left prepared (a failed start), one running (a lost
	// client state), one with a job name of its own underscores.
	stopped := prepare(orphanName("web", "nginx"))
	running := prepare(orphanName("my_job", "my_task"))
	proc, err := env.client.Start(running, pot.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Foreign pots: not the driver's names.
	foreign := prepare("myweb", "manual")
	foreignLike := prepare("web_nginx", "not-an-alloc_12345678")
	// A start under way.
	startingName, startingAlloc := orphanName("starting", "task")
	starting := prepare(startingName, startingAlloc)
	end, _ := d.beginStart(starting, pot.ImageName(testImage, testTag))
	image := pot.ImageName(testImage, testTag)

	t0 := time.Now()
	d.janitorPass(t0)
	d.janitorPass(t0.Add(59 * time.Second))
	all, _ := env.client.List(ctx)
	for _, p := range []string{stopped, running, owned, foreign, foreignLike, starting, image} {
		if !slices.Contains(all, p) {
			t.Fatalf("pot %s removed before orphan_grace: %v", p, all)
		}
	}
	d.janitorPass(t0.Add(61 * time.Second))
	all, _ = env.client.List(ctx)
	for _, p := range []string{stopped, running} {
		if slices.Contains(all, p) {
			t.Errorf("orphan %s not destroyed: %v", p, all)
		}
		if n := strings.Count(logs.String(), "destroyed a pot of this driver that no task owned: pot="+p); n != 1 {
			t.Errorf("orphan %s: %d log lines, want 1", p, n)
		}
	}
	for _, p := range []string{owned, foreign, foreignLike, starting, image} {
		if !slices.Contains(all, p) {
			t.Errorf("pot %s destroyed by the sweep: %v", p, all)
		}
	}
	select {
	case <-proc.Done():
	case <-time.After(10 * time.Second):
		t.Error("the running orphan's pot start did not end")
	}
	// The owned task still runs.
	if st, err := h.InspectTask(cfg.ID); err != nil || st.State != drivers.TaskStateRunning {
		t.Errorf("owned task: %+v %v", st, err)
	}

	// A start that ended without its task (failed, its cleanup lost) is
	// an orphan from then on: seen, then destroyed after the grace.
	end()
	d.janitorPass(t0.Add(2 * time.Minute))
	if all, _ = env.client.List(ctx); !slices.Contains(all, starting) {
		t.Fatalf("%s destroyed at first sight", starting)
	}
	d.janitorPass(t0.Add(4 * time.Minute))
	if all, _ = env.client.List(ctx); slices.Contains(all, starting) {
		t.Errorf("%s not destroyed", starting)
	}

	// The sweep can be switched off.
	d2, _ := env.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, OrphanGrace: "1s", OrphanSweepPeriod: "0"})
	late := prepare(orphanName("late", "task"))
	d2.janitorPass(t0)
	d2.janitorPass(t0.Add(time.Hour))
	if all, _ = env.client.List(ctx); !slices.Contains(all, late) {
		t.Errorf("orphan_sweep_period = 0 swept %s", late)
	}
}

// TestImageCachePrune: images the driver imported are pruned when no pot
// uses them: least recently used first until under image_cache_max_bytes,
// and any older than image_cache_max_age; an image a task uses and an
// image the driver did not import stay.
func TestImageCachePrune(t *testing.T) {
	env := newTestEnv(t)
	d, h, logs := env.newDriverLogged(&hclspec.PluginConfig{PotBin: potsimBin, OrphanSweepPeriod: "0"})
	ctx := context.Background()
	imageOf := func(name string) string { return pot.ImageName(name, testTag) }

	// An image imported by hand: not the driver's.
	if out, err := exec.Command(potsimBin, "import", "-p", testImage+"-manual", "-t", testTag, "-U", env.imageURL).CombinedOutput(); err != nil {
		t.Fatalf("potsim import: %v\n%s", err, out)
	}
	// Images a, b, c used in that order; c by a task that still runs.
	for _, name := range []string{"a", "b"} {
		cfg, tc := env.task("img-"+name, "true")
		tc.Pot = testImage + "-" + name
		start(t, h, cfg, tc)
		waitResult(t, h, cfg.ID, 20*time.Second)
		if err := h.DestroyTask(cfg.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	cfg, tc := env.task("img-c", "sleep 60")
	tc.Pot = testImage + "-c"
	start(t, h, cfg, tc)
	// The image a foreign pot was cloned from is in use too.
	cfg2, tc2 := env.task("img-d", "true")
	tc2.Pot = testImage + "-d"
	start(t, h, cfg2, tc2)
	waitResult(t, h, cfg2.ID, 20*time.Second)
	if err := h.DestroyTask(cfg2.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.Prepare(ctx, pot.PrepareOptions{URL: env.imageURL, Image: testImage + "-d", Tag: testTag,
		Name: "foreign", Alloc: "clone", Network: pot.NetworkInherit}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.client.Destroy(context.Background(), "foreign_clone", true) })

	store, err := d.imageStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pots, err := store.Scan(ctx, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if p := pots[imageOf(testImage+"-"+n)]; p == nil || !p.Marked || p.Size == 0 {
			t.Fatalf("image %s: %+v", n, p)
		}
	}
	if p := pots[imageOf(testImage+"-manual")]; p == nil || p.Marked {
		t.Fatalf("hand-imported image marked: %+v", p)
	}
	size := pots[imageOf(testImage+"-a")].Size
	have := func() []string {
		all, _ := env.client.List(ctx)
		var out []string
		for _, n := range []string{"a", "b", "c", "d", "manual"} {
			if slices.Contains(all, imageOf(testImage+"-"+n)) {
				out = append(out, n)
			}
		}
		return out
	}

	// Off by default.
	d.janitorPass(time.Now().Add(24 * time.Hour))
	if got := have(); len(got) != 5 {
		t.Fatalf("pruned without a budget: %v", got)
	}

	// A budget of three images: a (least recently used) goes, b stays.
	// (sizes differ by a few bytes: the marks' lengths)
	setPluginConfig(d, func(c *hclspec.PluginConfig) { c.ImageCacheMaxBytes = int64(3*size + size/2) })
	d.janitorPass(time.Now())
	if got := strings.Join(have(), " "); got != "b c d manual" {
		t.Fatalf("after the size budget: %s", got)
	}
	if !strings.Contains(logs.String(), "image cache: removed an image no pot uses: image="+imageOf(testImage+"-a")) {
		t.Errorf("no log line for the pruned image a")
	}
	// An age limit: b goes; c (a task's) and d (a foreign clone's) stay.
	setPluginConfig(d, func(c *hclspec.PluginConfig) { c.ImageCacheMaxBytes, c.ImageCacheMaxAge = 0, "1h" })
	d.janitorPass(time.Now().Add(30 * time.Minute))
	if got := strings.Join(have(), " "); got != "b c d manual" {
		t.Fatalf("pruned before image_cache_max_age: %s", got)
	}
	d.janitorPass(time.Now().Add(2 * time.Hour))
	if got := strings.Join(have(), " "); got != "c d manual" {
		t.Fatalf("after the age limit: %s", got)
	}

	// Once its task is gone, c goes too; d stays while the foreign clone
	// exists.
	if err := h.StopTask(cfg.ID, time.Second, "SIGTERM"); err != nil {
		t.Fatal(err)
	}
	if err := h.DestroyTask(cfg.ID, true); err != nil {
		t.Fatal(err)
	}
	d.janitorPass(time.Now().Add(2 * time.Hour))
	if got := strings.Join(have(), " "); got != "d manual" {
		t.Fatalf("after the task ended: %s", got)
	}
	// pot itself refuses to destroy an image with a clone (ZFS keeps a
	// dataset with dependent clones): should the driver try, the image is
	// kept and the failure logged.
	if d.pruneImage(ctx, imageOf(testImage+"-d")) {
		t.Fatal("pruneImage of an image a pot is cloned from reported success")
	}
	if got := strings.Join(have(), " "); got != "d manual" {
		t.Fatalf("after pruning an image with a clone: %s", got)
	}
	if !strings.Contains(logs.String(), "image cache: destroying an unused image failed: image="+imageOf(testImage+"-d")) {
		t.Errorf("no log line for the failed destroy of image d")
	}
	// Once the foreign clone is gone, the next pass removes d.
	if err := env.client.Destroy(ctx, "foreign_clone", true); err != nil {
		t.Fatal(err)
	}
	d.janitorPass(time.Now().Add(2 * time.Hour))
	if got := strings.Join(have(), " "); got != "manual" {
		t.Fatalf("after the foreign clone was destroyed: %s", got)
	}

	// A start re-importing a pruned image marks it again.
	cfg, tc = env.task("img-a-again", "true")
	tc.Pot = testImage + "-a"
	start(t, h, cfg, tc)
	waitResult(t, h, cfg.ID, 20*time.Second)
	pots, err = store.Scan(ctx, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if p := pots[imageOf(testImage+"-a")]; p == nil || !p.Marked {
		t.Fatalf("re-imported image a not marked: %+v", p)
	}
}

// TestLogDurationsAreStrings: Nomad reads the plugin's log as JSON, where a
// time.Duration is a number of nanoseconds ("orphaned_for=6e+09" in the
// agent's log): the driver logs durations as strings.
func TestLogDurationsAreStrings(t *testing.T) {
	env := newTestEnv(t)
	logs := &syncBuffer{}
	d, _ := env.newDriverWithLogger(&hclspec.PluginConfig{PotBin: potsimBin, OrphanGrace: "1m"},
		hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, JSONFormat: true, Output: logs}))
	name, alloc := orphanName("web", "durations")
	env.preparePot(name, alloc, "true")
	t0 := time.Now()
	d.janitorPass(t0)
	d.janitorPass(t0.Add(61 * time.Second))
	want := map[string]string{"orphan_grace": "1m0s", "orphaned_for": "1m1s", "duration": ""}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		for key, w := range want {
			v, ok := rec[key]
			if !ok {
				continue
			}
			seen[key] = true
			s, isString := v.(string)
			if _, err := time.ParseDuration(s); !isString || err != nil || (w != "" && s != w) {
				t.Errorf("%s logged as %#v, want the duration string %q", key, v, w)
			}
		}
	}
	for key := range want {
		if !seen[key] {
			t.Errorf("no log line with %s:\n%s", key, logs.String())
		}
	}
}

// TestJanitorFirstPassAtConfiguredPeriod: the janitor's loop starts before
// Nomad's SetConfig; its first pass comes after the configured
// orphan_sweep_period, not the default minute.
func TestJanitorFirstPassAtConfiguredPeriod(t *testing.T) {
	env := newTestEnv(t)
	env.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, OrphanSweepPeriod: "1s", OrphanGrace: "1s"})
	name, alloc := orphanName("web", "janitor")
	orphan := env.preparePot(name, alloc, "true")
	deadline := time.Now().Add(15 * time.Second)
	for {
		all, err := env.client.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(all, orphan) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan %s still there 15 s after SetConfig with orphan_sweep_period 1s, orphan_grace 1s", orphan)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
