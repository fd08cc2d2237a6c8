// Package pot is a typed client of the pot command line (FreeBSD jails on
// ZFS), in the spirit of go-zfs: one method per subcommand the driver uses,
// options as structs, argv only (never a shell), a context and a deadline on
// every call, errors that carry pot's exit status and stderr, and parsed
// results. It is the only code in this project that knows pot's CLI.
package pot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// DefaultBin is where FreeBSD's package installs pot.
const DefaultBin = "/usr/local/bin/pot"

// DefaultCallTimeout bounds every call that has no deadline of its own, so a
// hanging pot can never wedge the caller.
const DefaultCallTimeout = 2 * time.Minute

// Client runs pot commands.
type Client struct {
	// Bin is the path of the pot binary (DefaultBin when empty).
	Bin string
	// CallTimeout bounds each call whose context has no earlier deadline
	// (DefaultCallTimeout when zero). Prepare, which may download an image,
	// is bounded by PrepareTimeout instead.
	CallTimeout time.Duration
	// PrepareTimeout bounds Prepare (10 minutes when zero).
	PrepareTimeout time.Duration
	// Env, when not nil, is the environment of every pot command (else
	// this process's).
	Env []string
	// Logger receives one debug line per call (optional).
	Logger hclog.Logger
	// Observer, when set, is called after every pot command the client runs
	// to completion (not Start, whose process lives as long as the task, nor
	// ExecCommand) with its argv and wall time; benchmarks use it to measure
	// the time spent inside pot. It is called from concurrent goroutines and
	// must be safe for that; set it before the client is used.
	Observer func(args []string, took time.Duration, err error)

	fsRoot fsRootCache
}

// New returns a client of the pot binary at bin.
func New(bin string, logger hclog.Logger) *Client {
	return &Client{Bin: bin, Logger: logger}
}

func (c *Client) bin() string {
	if c.Bin == "" {
		return DefaultBin
	}
	return c.Bin
}

func (c *Client) logger() hclog.Logger {
	if c.Logger == nil {
		return hclog.NewNullLogger()
	}
	return c.Logger
}

// Error is a pot command that did not succeed: it carries the argv, pot's
// exit status (-1 when pot did not exit on its own), its stderr and its
// stdout.
type Error struct {
	Args     []string
	ExitCode int
	Stderr   string
	// Stdout is pot's standard output: pot prints its own messages there
	// (errors as "###>  MESSAGE", via _error/_msg), not on stderr, which
	// carries only what the tools pot runs (fetch, cp...) complain about.
	Stdout string
	Err    error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if pm := potErrorLines(e.Stdout); pm != "" {
		if msg == "" {
			msg = pm
		} else {
			msg = pm + "; " + msg
		}
	}
	switch {
	case msg == "" && e.Err != nil:
		msg = e.Err.Error()
	case e.ExitCode < 0 && e.Err != nil:
		// pot did not exit on its own (killed at a deadline, refused
		// before it ran): that comes first, what it said after.
		msg = e.Err.Error() + "; " + msg
	}
	sub := ""
	if len(e.Args) > 0 {
		sub = e.Args[0]
	}
	if e.ExitCode >= 0 {
		return fmt.Sprintf("pot %s exited %d: %s", sub, e.ExitCode, msg)
	}
	return fmt.Sprintf("pot %s: %s", sub, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// potErrorLines returns pot's error messages ("###>  MESSAGE" lines) of its
// output, joined by "; ", without the help text pot prints after them.
func potErrorLines(out string) string {
	var msgs []string
	for _, l := range strings.Split(out, "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(l), "###>"); ok {
			if m = strings.TrimSpace(m); m != "" {
				msgs = append(msgs, m)
			}
		}
	}
	return strings.Join(msgs, "; ")
}

// ExitCode returns pot's exit status carried by err, or -1.
func ExitCode(err error) int {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.ExitCode
	}
	return -1
}

func (c *Client) timeout(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// CallLimit is how long one call may take (CallTimeout, else
// DefaultCallTimeout): also what a caller waiting on pot should allow.
func (c *Client) CallLimit() time.Duration {
	return c.timeout(c.CallTimeout, DefaultCallTimeout)
}

// PrepareLimit is how long Prepare may take (PrepareTimeout, or its
// default).
func (c *Client) PrepareLimit() time.Duration {
	return c.timeout(c.PrepareTimeout, 10*time.Minute)
}

// run executes `pot args...` and returns its stdout.
func (c *Client) run(ctx context.Context, args ...string) ([]byte, error) {
	return c.runTimeout(ctx, c.timeout(c.CallTimeout, DefaultCallTimeout), args...)
}

func (c *Client) runTimeout(ctx context.Context, limit time.Duration, args ...string) ([]byte, error) {
	for _, a := range args {
		if err := CheckValue(a); err != nil {
			return nil, &Error{Args: args, ExitCode: -1, Err: fmt.Errorf("refused before calling pot: %w", err)}
		}
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin(), args...)
	cmd.Env = c.Env
	// WaitDelay stops a pot that forked children holding our pipes from
	// blocking us past the deadline.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	c.logger().Trace("pot call", "args", args, "duration", took.String(), "error", err)
	if c.Observer != nil {
		c.Observer(args, took, err)
	}
	if err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Exited() {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			err = deadlineError(parent, ctx, limit, took)
			code = -1
		}
		return stdout.Bytes(), &Error{Args: args, ExitCode: code, Stderr: stderr.String(), Stdout: stdout.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

// ErrTimeout is wrapped by the error of a pot command killed because it
// did not finish within the client's limit (CallTimeout, PrepareTimeout).
var ErrTimeout = errors.New("pot did not finish in time and was killed")

// deadlineError says why a pot command was ended early: the client's own
// limit (ErrTimeout), the caller's deadline, or the caller giving up.
func deadlineError(parent, ctx context.Context, limit, took time.Duration) error {
	switch {
	case parent.Err() == context.Canceled:
		return fmt.Errorf("cancelled after %s: %w", took.Round(time.Millisecond), parent.Err())
	case parent.Err() != nil:
		return fmt.Errorf("no answer within the caller's deadline (%s), killed: %w", took.Round(time.Millisecond), parent.Err())
	}
	return fmt.Errorf("%w: no answer within %s: %w", ErrTimeout, limit, ctx.Err())
}

// Version returns pot's bare version, e.g. "0.16.0" (`pot version -q`).
func (c *Client) Version(ctx context.Context) (string, error) {
	out, err := c.run(ctx, "version", "-q")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Config returns one of pot's configuration values (`pot config -q -g NAME`).
func (c *Client) Config(ctx context.Context, name string) (string, error) {
	out, err := c.run(ctx, "config", "-q", "-g", name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// StartingWait bounds how long Stop and Signal wait out pot start's
// starting window: pot start marks a pot started only half a second after
// its command runs (0.5-0.65 s on pot 0.16), and until then pot stop
// refuses the pot and pot signal finds no main process.
const StartingWait = 5 * time.Second

// startingRetry is the pause between two tries within StartingWait.
const startingRetry = 100 * time.Millisecond

// refusedStop is pot stop's answer for a pot whose status is not one it
// can stop (starting, or no status at all).
const refusedStop = "not in a state where it can be stopped"

// isRefusedStop reports whether err is pot refusing to stop a pot because
// of its status (pot stop, or pot destroy -F, which stops first).
func isRefusedStop(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.ExitCode == 1 && strings.Contains(potErrorLines(pe.Stdout), refusedStop)
}

// sleepCtx waits d, or less if ctx ends first (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stop stops a pot's jail (`pot stop -p NAME`). A pot still in pot start's
// starting window is refused by pot ("not in a state where it can be
// stopped"): while its jail runs, Stop tries again for up to StartingWait
// (within ctx), then returns pot's refusal. A pot that does not run is
// refused at once. Stop does not wait for the `pot start` process, which
// may write last-run-stats after Stop returns: Process.Result has the code.
// A pot another pot process is already stopping (pot start ending its
// command's run) is waited for until its jail is gone.
func (c *Client) Stop(ctx context.Context, name string) error {
	deadline := time.Now().Add(StartingWait)
	for {
		_, err := c.run(ctx, "stop", "-p", name)
		if isAlreadyStopping(err) {
			return c.waitStopped(ctx, name, err)
		}
		if err == nil || !isRefusedStop(err) {
			return err
		}
		// Refused: still starting if the jail runs (stuck there if its
		// pot start is gone), never started if it does not.
		if running, rerr := c.IsRunning(ctx, name); rerr != nil || !running {
			return err
		}
		if time.Now().After(deadline) || !sleepCtx(ctx, startingRetry) {
			return err
		}
	}
}

// alreadyStopping is pot stop's answer while another pot process (pot
// start ending its non-persistent pot, or another stop) is stopping it.
const alreadyStopping = "is already stopping"

func isAlreadyStopping(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.ExitCode == 1 && strings.Contains(potErrorLines(pe.Stdout), alreadyStopping)
}

// waitStopped waits (within ctx) until the pot another process is
// stopping no longer runs; refused is pot's answer, returned if it never
// stops.
func (c *Client) waitStopped(ctx context.Context, name string, refused error) error {
	for {
		running, err := c.IsRunning(ctx, name)
		if err != nil {
			return err
		}
		if !running {
			return nil
		}
		if !sleepCtx(ctx, startingRetry) {
			return refused
		}
	}
}

// SetStopGrace sets how long pot stop lets the jail's processes go on after
// its SIGTERM before they are killed: the pot's stop_timeout, which pot
// stop hands to `jail -r` as stop.timeout. Whole seconds (rounded up);
// 0 removes the jail at once, every process killed, no SIGTERM sent
// (jail(8)). It takes effect at the next stop, also the one pot start runs
// when the command ends.
func (c *Client) SetStopGrace(ctx context.Context, name string, grace time.Duration) error {
	if grace < 0 {
		return fmt.Errorf("stop grace %s is negative", grace)
	}
	secs := int64((grace + time.Second - 1) / time.Second)
	return c.SetAttribute(ctx, name, "stop_timeout", strconv.FormatInt(secs, 10))
}

// Kill removes a pot's jail at once, every process in it killed: no
// SIGTERM, no grace (SetStopGrace 0, then Stop). A job's own stop_timeout
// is overwritten; the pot is on its way out. Like Stop, Kill does not wait
// for the pot start process.
func (c *Client) Kill(ctx context.Context, name string) error {
	if err := c.SetStopGrace(ctx, name, 0); err != nil {
		return fmt.Errorf("setting stop_timeout 0 to kill the jail: %w", err)
	}
	return c.Stop(ctx, name)
}

// Destroy destroys a pot (`pot destroy [-F] -p NAME`); force stops it first
// if it runs. With force, a pot that pot refuses to stop because its status
// is still "starting" is retried for a second (its starting window may be
// closing); if it is still refused, its pot start is taken to be gone (a
// pot start killed in the window leaves "starting" for good): Destroy sets
// the status doa (`pot set-status -s doa`) and destroys it.
func (c *Client) Destroy(ctx context.Context, name string, force bool) error {
	args := []string{"destroy"}
	if force {
		args = append(args, "-F")
	}
	args = append(args, "-p", name)
	_, err := c.run(ctx, args...)
	if err == nil || !force || !isRefusedStop(err) {
		return err
	}
	deadline := time.Now().Add(stuckStartingWait)
	for time.Now().Before(deadline) {
		if !sleepCtx(ctx, 4*startingRetry) {
			return err
		}
		if _, err = c.run(ctx, args...); err == nil || !isRefusedStop(err) {
			return err
		}
	}
	c.logger().Debug("pot stays starting: its pot start is gone; setting it doa", "pot", name)
	if serr := c.SetStatus(ctx, name, "doa"); serr != nil && ExitCode(serr) != 2 {
		return fmt.Errorf("%w; clearing its starting status: %w", err, serr)
	}
	_, err = c.run(ctx, args...)
	return err
}

// stuckStartingWait is how long Destroy lets a pot be "starting" before it
// takes its pot start to be gone.
const stuckStartingWait = time.Second

// SetStatus sets a pot's status as pot's scripts do (`pot set-status -p
// NAME -s STATUS`, one of starting, doa, started, stopping, stopped). pot
// accepts only some transitions: started and doa from starting; stopping
// from started, doa or stopped; stopped from stopping; starting from none
// or stopped. A refused one is exit 1, the current status exit 2 (both an
// *Error).
func (c *Client) SetStatus(ctx context.Context, name, status string) error {
	switch status {
	case "starting", "doa", "started", "stopping", "stopped":
	default:
		return fmt.Errorf("pot set-status: %q is not a status", status)
	}
	_, err := c.run(ctx, "set-status", "-p", name, "-s", status)
	return err
}

// IsRunning reports whether a pot's jail runs (`pot info -q -r -p NAME`,
// which exits 0 when it does and 1 when it does not).
func (c *Client) IsRunning(ctx context.Context, name string) (bool, error) {
	_, err := c.run(ctx, "info", "-q", "-r", "-p", name)
	if err == nil {
		return true, nil
	}
	if ExitCode(err) == 1 {
		return false, nil
	}
	return false, err
}

// List returns the names of all pots (`pot ls -q`).
func (c *Client) List(ctx context.Context) ([]string, error) {
	out, err := c.run(ctx, "ls", "-q")
	if err != nil {
		return nil, err
	}
	return lines(out), nil
}

// ListRunning returns the names of running pots (`pot ps -q`).
func (c *Client) ListRunning(ctx context.Context) ([]string, error) {
	out, err := c.run(ctx, "ps", "-q")
	if err != nil {
		return nil, err
	}
	return lines(out), nil
}

func lines(out []byte) []string {
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	return names
}

// EnvVar is one variable of a pot's environment; Value reaches the process
// literally.
type EnvVar struct {
	Name, Value string
}

// SetEnv sets the environment of the pot's command in one call
// (`pot set-env -p NAME -E VAR=VALUE ...`), each value escaped so the jail's
// sh passes it on literally.
func (c *Client) SetEnv(ctx context.Context, name string, vars []EnvVar) error {
	if len(vars) == 0 {
		return nil
	}
	env, err := EnvArgs(vars)
	if err != nil {
		return err
	}
	_, err = c.run(ctx, append([]string{"set-env", "-p", name}, env...)...)
	return err
}

// Host is one line of the jail's /etc/hosts.
type Host struct {
	Name string
	IP   string
}

// checkName refuses a name set-hosts cannot take: empty, or one pot would
// split (at ':').
func (h Host) checkName() error {
	if h.Name == "" || strings.ContainsAny(h.Name, ": \t") || CheckValue(h.Name) != nil {
		return fmt.Errorf("invalid host name %q", h.Name)
	}
	return nil
}

// SetHosts adds lines to the jail's /etc/hosts (`pot set-hosts -H host:IP`).
func (c *Client) SetHosts(ctx context.Context, name string, hosts []Host) error {
	if len(hosts) == 0 {
		return nil
	}
	args := []string{"set-hosts", "-p", name}
	for _, h := range hosts {
		if err := h.checkName(); err != nil {
			return err
		}
		args = append(args, "-H", h.Name+":"+h.IP)
	}
	// pot's set-hosts.sh writes a temp file of a fixed name
	// (POT_TMP/pot-set-hosts: its mktemp suffix variable is never set), so
	// two at once collide: one at a time.
	setHostsMu.Lock()
	defer setHostsMu.Unlock()
	_, err := c.run(ctx, args...)
	return err
}

// setHostsMu serializes pot set-hosts on this machine (see SetHosts).
var setHostsMu sync.Mutex

// SetAttribute sets a pot or jail attribute (`pot set-attribute -A ATTR -V VALUE`).
func (c *Client) SetAttribute(ctx context.Context, name, attr, value string) error {
	_, err := c.run(ctx, "set-attribute", "-p", name, "-A", attr, "-V", value)
	return err
}

// MountOptions describes `pot mount-in`.
type MountOptions struct {
	HostDir  string // absolute host path
	JailPath string // absolute path inside the jail
	ReadOnly bool
}

// MountIn nullfs-mounts a host folder into the pot (`pot mount-in`).
func (c *Client) MountIn(ctx context.Context, name string, m MountOptions) error {
	args := []string{"mount-in", "-p", name, "-d", m.HostDir, "-m", m.JailPath}
	if m.ReadOnly {
		args = append(args, "-r")
	}
	_, err := c.run(ctx, args...)
	return err
}

// CopyOptions describes `pot copy-in`.
type CopyOptions struct {
	Source        string // host file or folder
	Destination   string // path inside the jail
	CreateParents bool   // -c
	Force         bool   // -F, needed for a running pot
}

// CopyIn copies a host file or folder into the pot (`pot copy-in`).
func (c *Client) CopyIn(ctx context.Context, name string, o CopyOptions) error {
	args := []string{"copy-in", "-p", name, "-s", o.Source, "-d", o.Destination}
	if o.CreateParents {
		args = append(args, "-c")
	}
	if o.Force {
		args = append(args, "-F")
	}
	_, err := c.run(ctx, args...)
	return err
}

// SignalOptions describes `pot signal`.
type SignalOptions struct {
	// Signal as `killall -l` names it, with or without "SIG" (e.g. "TERM").
	Signal string
	// PID, when set, signals that process of the jail instead of the main one.
	PID int
	// Pattern, when set, signals the jail's processes whose name matches.
	Pattern string
	// Force: with PID or Pattern, -f (a failure to signal is not an
	// error). For the main process pot's -f would also hide a signal
	// that was never sent (pot start not done yet), so it is not passed:
	// Force only makes a pot that does not run (nothing to signal) not an
	// error.
	Force bool
}

// notRunning is pot signal's answer for a pot that does not run.
const notRunning = "The pot is not running"

// pkillNoPidFile is pot signal's exit status when pkill cannot open the
// main pid file, which pot start writes at the end of its starting window.
const pkillNoPidFile = 3

// Signal sends a signal into the pot (`pot signal`): to its main process by
// default. The main process is known to pot only once pot start has
// written its pid file, half a second after the command started: until
// then pot signal fails (exit 3) and Signal tries again, for up to
// StartingWait within ctx, so a signal is delivered or its failure
// reported, never dropped.
func (c *Client) Signal(ctx context.Context, name string, o SignalOptions) error {
	if o.Signal == "" {
		return fmt.Errorf("no signal given")
	}
	args := []string{"signal", "-p", name, "-s", o.Signal}
	switch {
	case o.PID > 0 && o.Pattern != "":
		return fmt.Errorf("a pid and a pattern exclude each other")
	case o.PID > 0:
		args = append(args, "-P", fmt.Sprint(o.PID))
	case o.Pattern != "":
		args = append(args, "-m", o.Pattern)
	default:
		return c.signalMain(ctx, name, o.Force, args)
	}
	if o.Force {
		args = append(args, "-f")
	}
	_, err := c.run(ctx, args...)
	return err
}

func (c *Client) signalMain(ctx context.Context, name string, force bool, args []string) error {
	deadline := time.Now().Add(StartingWait)
	for {
		_, err := c.run(ctx, args...)
		if err == nil {
			return nil
		}
		var pe *Error
		if force && errors.As(err, &pe) && pe.ExitCode == 1 && strings.Contains(potErrorLines(pe.Stdout), notRunning) {
			return nil
		}
		if ExitCode(err) != pkillNoPidFile || time.Now().After(deadline) || !sleepCtx(ctx, startingRetry) {
			return err
		}
	}
}

// signalNames are the signal names FreeBSD's kill/killall know, the names
// pot signal takes.
var signalNames = map[string]bool{
	"HUP": true, "INT": true, "QUIT": true, "ILL": true, "TRAP": true, "ABRT": true, "EMT": true,
	"FPE": true, "KILL": true, "BUS": true, "SEGV": true, "SYS": true, "PIPE": true, "ALRM": true,
	"TERM": true, "URG": true, "STOP": true, "TSTP": true, "CONT": true, "CHLD": true, "TTIN": true,
	"TTOU": true, "IO": true, "XCPU": true, "XFSZ": true, "VTALRM": true, "PROF": true,
	"WINCH": true, "INFO": true, "USR1": true, "USR2": true,
}

// SignalName turns a signal name as Nomad gives it ("SIGTERM", "sigterm",
// "TERM") into the name pot signal takes ("TERM"), refusing unknown ones.
func SignalName(s string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(s))
	n = strings.TrimPrefix(n, "SIG")
	if n == "IOT" {
		n = "ABRT"
	}
	if !signalNames[n] {
		return "", fmt.Errorf("unknown signal %q", s)
	}
	return n, nil
}
