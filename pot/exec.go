package pot

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// ExecOptions describes `pot exec`.
type ExecOptions struct {
	// Argv is the command and its arguments, run as they are (no shell).
	Argv []string
	// Env adds variables to the command's environment (-e VAR=VAL).
	Env []EnvVar
	// TTY gives the command a pty inside pot (-t). A caller that brings its
	// own pty (the driver, for Nomad's exec) leaves this off.
	TTY bool
	// HostUser (-u) or PotUser (-U) runs the command as that user.
	HostUser, PotUser string
}

// ExecCommand returns the command that runs opts.Argv in a running pot
// (`pot exec -p NAME ...`); the caller wires its stdio and runs it. ctx
// bounds its life.
func (c *Client) ExecCommand(ctx context.Context, name string, o ExecOptions) (*exec.Cmd, error) {
	if len(o.Argv) == 0 || o.Argv[0] == "" {
		return nil, fmt.Errorf("pot exec: empty command")
	}
	if o.HostUser != "" && o.PotUser != "" {
		return nil, fmt.Errorf("pot exec: a host user and a pot user exclude each other")
	}
	args := []string{"exec", "-p", name}
	if o.TTY {
		args = append(args, "-t")
	}
	for _, v := range o.Env {
		if !IsEnvName(v.Name) {
			return nil, fmt.Errorf("pot exec: %q is not a valid environment variable name", v.Name)
		}
		args = append(args, "-e", v.Name+"="+v.Value)
	}
	if o.HostUser != "" {
		args = append(args, "-u", o.HostUser)
	}
	if o.PotUser != "" {
		args = append(args, "-U", o.PotUser)
	}
	args = append(args, o.Argv...)
	// exec hands argv to jexec unchanged and stores nothing in pot.conf,
	// so only what argv cannot carry is refused.
	for _, a := range args {
		if strings.ContainsRune(a, 0) {
			return nil, fmt.Errorf("pot exec: argument contains a NUL byte")
		}
	}
	cmd := exec.CommandContext(ctx, c.bin(), args...)
	cmd.Env = c.Env
	return cmd, nil
}
