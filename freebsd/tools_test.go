package freebsd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeTool writes a script that appends its argv, one argument a line and
// "--" after the call, to log, prints stderr and exits with code.
func fakeTool(t *testing.T, name, log, stderr string, code int, sleep string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	body := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '" + log + "'; done\necho -- >> '" + log + "'\n"
	if sleep != "" {
		body += "exec sleep " + sleep + "\n"
	}
	if stderr != "" {
		body += "printf '%s\\n' '" + stderr + "' >&2\n"
	}
	body += "exit " + strconv.Itoa(code) + "\n"
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func calls(t *testing.T, log string) [][]string {
	t.Helper()
	data, _ := os.ReadFile(log)
	var out [][]string
	var cur []string
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if l == "--" {
			out = append(out, cur)
			cur = nil
			continue
		}
		if l != "" {
			cur = append(cur, l)
		}
	}
	return out
}

func TestToolsArgv(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	tools := Tools{RctlBin: fakeTool(t, "rctl", log, "", 0, ""), CpusetBin: fakeTool(t, "cpuset", log, "", 0, "")}
	ctx := context.Background()
	rules, _ := JailLimits{Jail: "web_1", MemoryBytes: 1 << 20, Pcpu: 50}.Rules()
	if err := tools.AddRules(ctx, rules); err != nil {
		t.Fatal(err)
	}
	if err := tools.SetJailCPUs(ctx, 12, []int{0, 1}); err != nil {
		t.Fatal(err)
	}
	if err := tools.RemoveJailRules(ctx, "web_1"); err != nil {
		t.Fatal(err)
	}
	if err := tools.AddRules(ctx, nil); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"-a", "jail:web_1:memoryuse:deny=1048576", "jail:web_1:memoryuse:log=1048576", "jail:web_1:pcpu:deny=50"},
		{"-l", "0,1", "-j", "12"},
		{"-r", "jail:web_1"},
	}
	if got := calls(t, log); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestRemoveJailRulesIsIdempotent(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	gone := Tools{RctlBin: fakeTool(t, "rctl", log, "rctl: rctl_remove_rule: No such process", 1, "")}
	if err := gone.RemoveJailRules(context.Background(), "web_1"); err != nil {
		t.Fatalf("nothing to remove: %v", err)
	}
	broken := Tools{RctlBin: fakeTool(t, "rctl", log, "rctl: RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable", 1, "")}
	err := broken.RemoveJailRules(context.Background(), "web_1")
	var te *ToolError
	if !errors.As(err, &te) || te.ExitCode != 1 || !strings.Contains(err.Error(), "rctl -r jail:web_1: rctl: RACCT/RCTL present, but disabled") {
		t.Fatalf("disabled racct: %v", err)
	}
}

func TestToolsDeadline(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	slow := Tools{CpusetBin: fakeTool(t, "cpuset", log, "", 0, "5"), Timeout: 200 * time.Millisecond}
	begin := time.Now()
	err := slow.SetJailCPUs(context.Background(), 3, []int{1})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("slow cpuset: %v", err)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Fatalf("took %s", took)
	}
	if err := slow.SetJailCPUs(context.Background(), 0, []int{1}); err == nil {
		t.Fatal("jid 0 accepted")
	}
}

func TestExecutable(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "x")
	plain := filepath.Join(dir, "y")
	_ = os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	_ = os.WriteFile(plain, []byte(""), 0o644)
	if !Executable(exe) || Executable(plain) || Executable(dir) || Executable(filepath.Join(dir, "none")) {
		t.Fatal("Executable is wrong")
	}
}
