package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Proc is a process the cluster started: an agent, haproxy. Its output goes
// to a log file; it runs in a process group of its own, so a Ctrl-C on the
// terminal reaches only the program that started it, which then stops it in
// order, by its pid.
type Proc struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{}
	waitErr error
}

// startProc starts argv with env, output appended to logPath.
func startProc(name, logPath string, env []string, argv ...string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends sig to the process (by its pid), waits up to grace for it to
// exit, then kills it. It returns once the process is gone.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = syscall.Kill(p.Pid(), sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(p.Pid(), syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("%s (pid %d) did not stop within %s after %s; killed", p.Name, p.Pid(), grace, sig)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit even after SIGKILL", p.Name, p.Pid())
	}
}

// Tail returns the last n lines of the process's log, leaving out the
// lines that contain any of skip.
func (p *Proc) Tail(n int, skip ...string) string { return tailFile(p.LogPath, n, skip...) }

func tailFile(path string, n int, skip ...string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	var lines []string
next:
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		for _, s := range skip {
			if strings.Contains(l, s) {
				continue next
			}
		}
		lines = append(lines, l)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Output is what a command printed, for error messages and assertions.
type Output struct {
	Argv   []string
	Stdout string
	Stderr string
	Code   int // exit status; -1 if it did not exit normally
}

func (o Output) String() string {
	return fmt.Sprintf("$ %s\n(exit %d)\n--- stdout\n%s--- stderr\n%s", strings.Join(o.Argv, " "), o.Code, o.Stdout, o.Stderr)
}

// run runs argv with env and stdin from /dev/null; a non-zero exit is an
// error carrying the output.
func run(env []string, timeout time.Duration, argv ...string) (Output, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return Output{Argv: argv, Code: -1}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		err = fmt.Errorf("timed out after %s", timeout)
	}
	out := Output{Argv: argv, Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out, fmt.Errorf("%s exited %d:\n%s", argv[0], out.Code, out)
		}
		return out, fmt.Errorf("%s: %w\n%s", argv[0], err, out)
	}
	return out, nil
}

// cleanEnv is the environment minus the variables that would point the
// agents or the CLIs at another cluster, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NOMAD_") || strings.HasPrefix(kv, "CONSUL_") || strings.HasPrefix(kv, "POTSIM_") || strings.HasPrefix(kv, RunEnv+"=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
