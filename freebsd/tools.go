package freebsd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Default paths of FreeBSD's base system tools.
const (
	DefaultRctlBin   = "/usr/bin/rctl"
	DefaultCpusetBin = "/usr/bin/cpuset"
)

// DefaultToolTimeout bounds each rctl and cpuset call.
const DefaultToolTimeout = 30 * time.Second

// Tools runs rctl and cpuset: argv only, never a shell, a deadline on every
// call.
type Tools struct {
	RctlBin   string        // RctlPath when empty
	CpusetBin string        // CpusetPath when empty
	Timeout   time.Duration // DefaultToolTimeout when zero
}

// ToolError is a failed rctl or cpuset call.
type ToolError struct {
	Tool     string // base name of the program
	Args     []string
	ExitCode int // -1 when it did not exit on its own
	Stderr   string
	Err      error
}

func (e *ToolError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("%s %s: %s", e.Tool, strings.Join(e.Args, " "), msg)
}

func (e *ToolError) Unwrap() error { return e.Err }

func (t Tools) run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	limit := t.Timeout
	if limit <= 0 {
		limit = DefaultToolTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var stdout bytes.Buffer
	err := runTool(ctx, nil, &stdout, bin, args...)
	var te *ToolError
	if err != nil && ctx.Err() != nil && errors.As(err, &te) {
		te.Err = fmt.Errorf("%w (after %s)", ctx.Err(), limit)
	}
	return stdout.Bytes(), err
}

// runTool runs bin with args, stdin from in and stdout to out (nil:
// none), bounded by ctx only; a failure is a *ToolError with its stderr.
func runTool(ctx context.Context, in io.Reader, out io.Writer, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, &stderr
	err := cmd.Run()
	if err == nil {
		return nil
	}
	code := -1
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		err, code = ctx.Err(), -1
	}
	return &ToolError{Tool: filepath.Base(bin), Args: args, ExitCode: code, Stderr: stderr.String(), Err: err}
}

// RctlPath is the rctl that runs: RctlBin, else rctl on PATH, else
// DefaultRctlBin.
func (t Tools) RctlPath() string {
	if t.RctlBin == "" {
		return FindTool("rctl", DefaultRctlBin)
	}
	return t.RctlBin
}

// CpusetPath is the cpuset that runs: CpusetBin, else cpuset on PATH,
// else DefaultCpusetBin.
func (t Tools) CpusetPath() string {
	if t.CpusetBin == "" {
		return FindTool("cpuset", DefaultCpusetBin)
	}
	return t.CpusetBin
}

// AddRulesArgs is the argv of AddRules: rctl -a RULE...
func AddRulesArgs(rules []Rule) []string {
	args := make([]string, 0, 1+len(rules))
	args = append(args, "-a")
	for _, r := range rules {
		args = append(args, r.String())
	}
	return args
}

// RemoveRulesArgs is the argv of RemoveJailRules: rctl -r jail:NAME.
func RemoveRulesArgs(jail string) []string { return []string{"-r", JailFilter(jail)} }

// AddRules adds the rules in one call (rctl -a RULE...). rctl stops at the
// first rule the kernel refuses, so on error some may be in place: remove
// them with RemoveJailRules.
func (t Tools) AddRules(ctx context.Context, rules []Rule) error {
	if len(rules) == 0 {
		return nil
	}
	_, err := t.run(ctx, t.RctlPath(), AddRulesArgs(rules)...)
	return err
}

// RemoveJailRules removes every rule of the jail (rctl -r jail:NAME). It is
// idempotent: the kernel's ESRCH ("No such process", nothing matched) is
// success.
func (t Tools) RemoveJailRules(ctx context.Context, jail string) error {
	if jail == "" {
		return errors.New("no jail name")
	}
	_, err := t.run(ctx, t.RctlPath(), RemoveRulesArgs(jail)...)
	var te *ToolError
	if errors.As(err, &te) && te.ExitCode > 0 && strings.Contains(te.Stderr, "No such process") {
		return nil
	}
	return err
}

// SetJailCPUs restricts a running jail and every process in it to cpus
// (cpuset -l LIST -j JID).
func (t Tools) SetJailCPUs(ctx context.Context, jid int, cpus []int) error {
	if jid <= 0 {
		return fmt.Errorf("invalid jail id %d", jid)
	}
	if len(cpus) == 0 {
		return errors.New("no cpus")
	}
	_, err := t.run(ctx, t.CpusetPath(), CpusetArgs(cpus, jid)...)
	return err
}

// Executable says whether path is a regular file someone may execute: off
// FreeBSD, an installed stand-in of rctl or cpuset.
func Executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
