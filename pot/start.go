package pot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/bsdpot/nomad-pot-driver/internal/procwait"
)

// ExitStatus is how a pot's command ended.
type ExitStatus struct {
	// Code is the command's exit code (from last-run-stats when pot start
	// exited 125).
	Code int
	// Signal is set when `pot start` itself was ended by a signal.
	Signal int
}

// StartError is a `pot start` that could not start the pot (exit 1).
type StartError struct {
	Name     string
	ExitCode int
}

func (e *StartError) Error() string {
	return fmt.Sprintf("pot start -p %s failed (exit %d): the jail could not be started, see the task's stderr for pot's message", e.Name, e.ExitCode)
}

// Process is a pot's foreground `pot start` process: the one started by
// Start, or one reattached by Attach after the caller restarted.
type Process struct {
	c    *Client
	name string
	pid  int
	cmd  *exec.Cmd // nil when attached

	done   chan struct{}
	once   sync.Once
	status ExitStatus
	err    error
}

// StartOptions are where `pot start`'s output goes: the pot's command's
// stdout and stderr are pot start's own. Pass *os.File writers (e.g. Nomad's
// log fifos) so the output keeps flowing after the caller exits; other
// writers are fed through pipes that end with the caller.
type StartOptions struct {
	Stdout, Stderr io.Writer
}

// Start runs `pot start -p NAME` in the foreground, in its own process group
// so that it and the jail outlive the caller, and returns at once.
func (c *Client) Start(name string, o StartOptions) (*Process, error) {
	if err := CheckValue(name); err != nil {
		return nil, err
	}
	// Not CommandContext: the process lives as long as the task, not a call.
	cmd := exec.Command(c.bin(), "start", "-p", name)
	cmd.Env = c.Env
	cmd.Stdout = o.Stdout
	cmd.Stderr = o.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pot start -p %s: %w", name, err)
	}
	p := &Process{c: c, name: name, pid: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	go p.waitOwned()
	return p, nil
}

// Attach reattaches to the `pot start` process pid of pot name, e.g. after
// the caller restarted. Its exit is detected by an event (pidfd or kqueue),
// and its exit code read from last-run-stats. It fails if the pot does not
// run or the process is gone.
func (c *Client) Attach(ctx context.Context, name string, pid int) (*Process, error) {
	running, err := c.IsRunning(ctx, name)
	if err != nil {
		return nil, err
	}
	if !running {
		return nil, fmt.Errorf("pot %s is not running", name)
	}
	if !procwait.Alive(pid) {
		return nil, fmt.Errorf("pot start process %d of pot %s is gone", pid, name)
	}
	p := &Process{c: c, name: name, pid: pid, done: make(chan struct{})}
	go p.waitAttached()
	return p, nil
}

// Pid is the host pid of the `pot start` process.
func (p *Process) Pid() int { return p.pid }

// Name is the pot's name.
func (p *Process) Name() string { return p.name }

// Done is closed when the process has exited and its status is known.
func (p *Process) Done() <-chan struct{} { return p.done }

// Result returns how the pot's command ended; valid once Done is closed.
func (p *Process) Result() (ExitStatus, error) {
	<-p.done
	return p.status, p.err
}

// Kill sends SIGKILL to the `pot start` process (not to the jail).
func (p *Process) Kill() error {
	return syscall.Kill(p.pid, syscall.SIGKILL)
}

// KillGroup kills pot start's whole process group (SIGKILL): pot start and
// what it runs, for a start that is given up.
func (p *Process) KillGroup() error {
	return syscall.Kill(-p.pid, syscall.SIGKILL)
}

func (p *Process) finish(st ExitStatus, err error) {
	p.once.Do(func() {
		p.status, p.err = st, err
		close(p.done)
	})
}

func (p *Process) waitOwned() {
	err := p.cmd.Wait()
	if err == nil {
		// pot start also exits 0 when `pot stop` ended the command (its
		// status was "stopping"): last-run-stats has the command's code.
		st, serr := p.lastRunStatus()
		if serr != nil {
			st = ExitStatus{Code: 0}
		}
		p.finish(st, nil)
		return
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		p.finish(ExitStatus{}, fmt.Errorf("pot start -p %s: %w", p.name, err))
		return
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		p.finish(ExitStatus{Code: 128 + int(ws.Signal()), Signal: int(ws.Signal())}, nil)
		return
	}
	switch code := ee.ExitCode(); code {
	case 125:
		p.finish(p.lastRunStatus())
	default:
		p.finish(ExitStatus{Code: code}, &StartError{Name: p.name, ExitCode: code})
	}
}

func (p *Process) waitAttached() {
	if err := procwait.Wait(p.pid); err != nil && !errors.Is(err, procwait.ErrNoProcess) {
		p.finish(ExitStatus{}, err)
		return
	}
	// The status of a process that is not our child is not ours to read:
	// pot's last-run-stats has the command's exit code.
	p.finish(p.lastRunStatus())
}

func (p *Process) lastRunStatus() (ExitStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := p.c.LastRunStats(ctx, p.name)
	if err != nil {
		return ExitStatus{}, fmt.Errorf("reading the exit code of pot %s: %w", p.name, err)
	}
	if rs.ExitCode == nil {
		return ExitStatus{}, fmt.Errorf("pot %s has no last-run-stats after its run", p.name)
	}
	return ExitStatus{Code: *rs.ExitCode}, nil
}
