package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newTestPot makes a minimal pot under a temporary root.
func newTestPot(t *testing.T, name, conf string) {
	t.Helper()
	root = t.TempDir()
	for _, d := range []string{confDir(name), mDir(name), tmpDir(), bridgesDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(confFile(name), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fscompFile(name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readConf(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(confFile(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func quietly(t *testing.T, fn func() int) int {
	t.Helper()
	old := os.Stdout
	devnull, _ := os.Open(os.DevNull)
	os.Stdout = devnull
	defer func() { os.Stdout = old; devnull.Close() }()
	return runNested(fn)
}

func TestConfVarPipelines(t *testing.T) {
	newTestPot(t, "p", "pot.type=single\nhost.hostname=\"a b.c\"\npot.attr.x=YES\npot.attr.x=NO\nip=em0|1.2.3.4 5.6.7.8\npotXcmd=no\na=b=c\npot.export.ports=80 tcp:53:1053\n")
	if got := getConfVar("p", "host.hostname"); got != "ab.c" {
		t.Errorf("host.hostname = %q (tr -d removes blanks and quotes)", got)
	}
	if got := getConfVar("p", "pot.attr.x"); got != "YES\nNO" {
		t.Errorf("duplicate key = %q, want both lines", got)
	}
	if got := getConfVar("p", "a"); got != "b" {
		t.Errorf("cut -f2 = %q", got)
	}
	if got := getConfVarString("p", "host.hostname"); got != `"a b.c"` {
		t.Errorf("string var = %q", got)
	}
	if got := getIPVar("p"); got != "em0|1.2.3.4 5.6.7.8" {
		t.Errorf("ip = %q", got)
	}
	if got := getExportPorts("p"); got != "80 tcp:53:1053" {
		t.Errorf("ports = %q", got)
	}
	// '.' in a key is a regular expression: pot.cmd matches potXcmd.
	if got := getPotCmd("p"); got != "no" {
		t.Errorf("pot.cmd pattern = %q", got)
	}
	newTestPot(t, "q", "pot.type=single\n")
	if got := getPotCmd("q"); got != "sh /etc/rc" {
		t.Errorf("default cmd = %q", got)
	}
}

func TestSetEnvRoundTrip(t *testing.T) {
	newTestPot(t, "p", "pot.type=single\npot.env=\"OLD=1\"\n")
	rc := quietly(t, func() int {
		return cmdSetEnv([]string{"-p", "p", "-E", `A=x "y" $z \w`, "-E", "B=", "-E", "C=l1\nl2"})
	})
	if rc != 0 {
		t.Fatalf("set-env rc = %d", rc)
	}
	want := "pot.type=single\n" +
		"pot.env=\"A=x \\\"y\\\" $z \\w\"\n" +
		"pot.env=\"B=\"\n" +
		"pot.env=\"C=l1\n" +
		"pot.env=l2\"\n"
	if got := readConf(t, "p"); got != want {
		t.Errorf("pot.conf =\n%s\nwant\n%s", got, want)
	}
	lines := stripPrefixLines(confFile("p"), "pot.env")
	if len(lines) != 4 || lines[0] != `"A=x \"y\" $z \w"` {
		t.Errorf("read back %q", lines)
	}
	if rc := quietly(t, func() int { return cmdSetEnv([]string{"-p", "p", "-E", "NOEQUAL"}) }); rc != 1 {
		t.Errorf("invalid -E rc = %d", rc)
	}
}

func TestSetCommand(t *testing.T) {
	cases := []struct{ cmd, line string }{
		{`'/bin/echo' 'a b'`, `pot.cmd='/bin/echo' 'a b'`},
		{`"quoted cmd"`, `pot.cmd=quoted cmd`},
		{`"only leading`, `pot.cmd=only leading`},
		{"two\nlines", "pot.cmd=two\nlines"},
	}
	for _, c := range cases {
		newTestPot(t, "p", "pot.type=single\npot.cmd=old\n")
		if rc := quietly(t, func() int { return cmdSetCmd([]string{"-p", "p", "-c", c.cmd}) }); rc != 0 {
			t.Fatalf("set-cmd rc = %d", rc)
		}
		if got := readConf(t, "p"); got != "pot.type=single\n"+c.line+"\n" {
			t.Errorf("set-cmd %q wrote %q", c.cmd, got)
		}
	}
	newTestPot(t, "p", "pot.type=single\n")
	_ = quietly(t, func() int { return cmdSetCmd([]string{"-p", "p", "-c", "exec x\npot.attr.persistent=YES"}) })
	if got := getConfVar("p", "pot.attr.persistent"); got != "YES" {
		t.Errorf("a newline in the command writes a setting, as with pot: got %q", got)
	}
}

func TestSetAttribute(t *testing.T) {
	newTestPot(t, "p", "pot.type=single\npot.attr.persistent=YES\n")
	ok := []struct{ attr, value, want string }{
		{"persistent", "off", "NO"},
		{"no-rc-script", "On", "YES"},
		{"stop_timeout", "3", "3"},
		{"sysvshm", "inherit", "inherit"},
		{"exec_stop", "echo bye", "echo bye"},
		{"no-tmpfs", "true", "YES"},
	}
	for _, c := range ok {
		if rc := quietly(t, func() int { return cmdSetAttribute([]string{"-p", "p", "-A", c.attr, "-V", c.value}) }); rc != 0 {
			t.Errorf("set-attribute %s=%s rc = %d", c.attr, c.value, rc)
		}
		if got := getConfVarString("p", "pot.attr."+c.attr); got != c.want {
			t.Errorf("%s = %q, want %q", c.attr, got, c.want)
		}
	}
	bad := [][]string{
		{"-p", "p", "-A", "nosuch", "-V", "YES"},
		{"-p", "p", "-A", "persistent", "-V", "maybe"},
		{"-p", "p", "-A", "stop_timeout", "-V", "-1"},
		{"-p", "p", "-A", "sysvmsg", "-V", "old"},
		{"-p", "p", "-A", "persistent"},
		{"-p", "nopot", "-A", "persistent", "-V", "YES"},
	}
	for _, args := range bad {
		if rc := quietly(t, func() int { return cmdSetAttribute(args) }); rc != 1 {
			t.Errorf("set-attribute %q rc = %d, want 1", args, rc)
		}
	}
	if n := strings.Count(readConf(t, "p"), "pot.attr.persistent="); n != 1 {
		t.Errorf("persistent appears %d times", n)
	}
}

func TestSetRssValidation(t *testing.T) {
	newTestPot(t, "p", "pot.type=single\n")
	for _, m := range []string{"512M", "1g", "1024", "3b"} {
		if rc := quietly(t, func() int { return cmdSetRss([]string{"-p", "p", "-M", m}) }); rc != 0 {
			t.Errorf("-M %s rc = %d", m, rc)
		}
	}
	for _, m := range []string{"0", "00M", "1.5G", "M", "12MB", "-1"} {
		if rc := quietly(t, func() int { return cmdSetRss([]string{"-p", "p", "-M", m}) }); rc != 1 {
			t.Errorf("-M %s rc = %d, want 1", m, rc)
		}
	}
	for _, c := range []string{"0", "x", "1.5"} {
		if rc := quietly(t, func() int { return cmdSetRss([]string{"-p", "p", "-C", c}) }); rc != 1 {
			t.Errorf("-C %s rc = %d, want 1", c, rc)
		}
	}
	if rc := quietly(t, func() int { return cmdSetRss([]string{"-p", "p", "-C", "2"}) }); rc != 0 {
		t.Errorf("-C 2 rc = %d", rc)
	}
	if got := getConfVar("p", "pot.rss.memory") + "/" + getConfVar("p", "pot.rss.cpus"); got != "3b/2" {
		t.Errorf("rss = %q", got)
	}
}

func TestStatusTransitions(t *testing.T) {
	newTestPot(t, "p", "pot.type=single\n")
	steps := []struct {
		status string
		rc     int
	}{
		{"stopping", 1}, {"started", 1}, {"starting", 0}, {"starting", 2}, {"started", 0},
		{"starting", 1}, {"stopping", 0}, {"stopping", 2}, {"stopped", 0}, {"stopping", 0},
		{"stopped", 0}, {"starting", 0}, {"doa", 0}, {"stopping", 0}, {"stopped", 0},
	}
	for i, s := range steps {
		if rc := quietly(t, func() int { return setPotStatus("p", s.status) }); rc != s.rc {
			t.Fatalf("step %d: %s rc = %d, want %d", i, s.status, rc, s.rc)
		}
	}
	data, _ := os.ReadFile(filepath.Join(tmpDir(), "pot_status_p"))
	if string(data) != "pot.status=stopped,\n" {
		t.Errorf("status file = %q", data)
	}
}

// pot set-status: set-status.sh's exit codes, the interfaces kept from
// started (-i) to stopping, which it prints.
func TestSetStatusCommand(t *testing.T) {
	newTestPot(t, "p", "pot.type=single\n")
	steps := []struct {
		args []string
		rc   int
		file string
	}{
		{[]string{"-p", "p", "-s", "doa"}, 1, ""},
		{[]string{"-p", "p", "-s", "starting", "-i", "ignored"}, 0, "pot.status=starting,\n"},
		{[]string{"-p", "p", "-s", "starting"}, 2, "pot.status=starting,\n"},
		{[]string{"-p", "p", "-s", "started", "-i", "epair4a"}, 0, "pot.status=started,epair4a\n"},
		{[]string{"-p", "p", "-s", "stopped"}, 1, "pot.status=started,epair4a\n"},
		{[]string{"-p", "p", "-s", "stopping"}, 0, "pot.status=stopping,epair4a\n"},
		{[]string{"-p", "p", "-s", "stopped"}, 0, "pot.status=stopped,\n"},
		{[]string{"-p", "nopot", "-s", "stopped"}, 1, "pot.status=stopped,\n"},
		{[]string{"-s", "stopped"}, 1, "pot.status=stopped,\n"},
	}
	for i, s := range steps {
		if rc := quietly(t, func() int { return cmdSetStatus(s.args) }); rc != s.rc {
			t.Fatalf("step %d: set-status %q rc = %d, want %d", i, s.args, rc, s.rc)
		}
		if data, _ := os.ReadFile(filepath.Join(tmpDir(), "pot_status_p")); string(data) != s.file {
			t.Fatalf("step %d: status file %q, want %q", i, data, s.file)
		}
	}
}
