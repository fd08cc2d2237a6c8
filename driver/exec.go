package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"time"

	"github.com/armon/circbuf"
	"github.com/creack/pty"
	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

// execOptions runs the command with the task's environment, as Nomad's
// other drivers do (pot exec itself starts from a clean login env).
func execOptions(h *taskHandle, argv []string) pot.ExecOptions {
	keys := make([]string, 0, len(h.cfg.Env))
	for k := range h.cfg.Env {
		if pot.IsEnvName(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	env := make([]pot.EnvVar, 0, len(keys))
	for _, k := range keys {
		env = append(env, pot.EnvVar{Name: k, Value: h.cfg.Env[k]})
	}
	return pot.ExecOptions{Argv: argv, Env: env}
}

func (d *Driver) runningHandle(taskID string) (*taskHandle, error) {
	h, ok := d.tasks.get(taskID)
	if !ok {
		return nil, errTaskNotFound(taskID)
	}
	if h.exited() {
		return nil, fmt.Errorf("task %s has exited", taskID)
	}
	return h, nil
}

// ExecTask runs a command in the task's jail (script checks, nomad alloc
// exec without a stream): bounded by timeout, stdout and stderr each
// capped to the last drivers.CheckBufSize bytes, as Nomad's executor does.
func (d *Driver) ExecTask(taskID string, argv []string, timeout time.Duration) (*drivers.ExecTaskResult, error) {
	h, err := d.runningHandle(taskID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(d.ctx, timeout)
	defer cancel()
	cmd, err := d.potClient().ExecCommand(ctx, h.potName, execOptions(h, argv))
	if err != nil {
		return nil, err
	}
	stdout, _ := circbuf.NewBuffer(drivers.CheckBufSize)
	stderr, _ := circbuf.NewBuffer(drivers.CheckBufSize)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	res := &drivers.ExecTaskResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitResult: &drivers.ExitResult{}}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, fmt.Errorf("exec in task %s: timed out after %s", taskID, timeout)
	case errors.As(err, &ee):
		res.ExitResult.ExitCode = ee.ExitCode()
	default:
		return nil, fmt.Errorf("exec in task %s: %w", taskID, err)
	}
	return res, nil
}

// ExecTaskStreaming runs an interactive command in the task's jail: with
// a pty on the host when Tty is asked (resized as the terminal is), plain
// pipes otherwise.
func (d *Driver) ExecTaskStreaming(ctx context.Context, taskID string, o *drivers.ExecOptions) (*drivers.ExitResult, error) {
	h, err := d.runningHandle(taskID)
	if err != nil {
		return nil, err
	}
	if o == nil || len(o.Command) == 0 {
		return nil, errors.New("exec: no command")
	}
	cmd, err := d.potClient().ExecCommand(ctx, h.potName, execOptions(h, o.Command))
	if err != nil {
		return nil, err
	}
	cmd.WaitDelay = time.Second
	if o.Tty {
		err = runWithPty(ctx, cmd, o)
	} else {
		err = runWithPipes(cmd, o)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return &drivers.ExitResult{}, nil
	case errors.As(err, &ee):
		return &drivers.ExitResult{ExitCode: ee.ExitCode()}, nil
	default:
		return nil, err
	}
}

func runWithPipes(cmd *exec.Cmd, o *drivers.ExecOptions) error {
	if o.Stdin != nil {
		cmd.Stdin = o.Stdin
	}
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	return cmd.Run()
}

// ptyDrain is how long output the exec's lead process left in the pty is
// read after it exited.
const ptyDrain = 250 * time.Millisecond

func runWithPty(ctx context.Context, cmd *exec.Cmd, o *drivers.ExecOptions) error {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return fmt.Errorf("exec: opening a pty: %w", err)
	}
	defer ptmx.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = ttySysProcAttr()
	if err := cmd.Start(); err != nil {
		tty.Close()
		return err
	}
	tty.Close()

	resizeCtx, stopResize := context.WithCancel(ctx)
	resized := make(chan struct{})
	// Runs before the deferred ptmx.Close: no resize of a closed pty.
	defer func() {
		stopResize()
		<-resized
	}()
	go func() {
		defer close(resized)
		for {
			select {
			case <-resizeCtx.Done():
				return
			case sz, ok := <-o.ResizeCh:
				if !ok {
					return
				}
				_ = pty.Setsize(ptmx, &pty.Winsize{Rows: uint16(sz.Height), Cols: uint16(sz.Width)})
			}
		}
	}()
	if o.Stdin != nil {
		go func() { _, _ = io.Copy(ptmx, o.Stdin) }()
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(o.Stdout, ptmx)
	}()
	err = cmd.Wait()
	// Like `docker exec -t`, the exec ends with its lead process: output
	// already written is drained, but background children that keep the
	// terminal open are not waited for.
	select {
	case <-copied:
	case <-time.After(ptyDrain):
	}
	return err
}
