package driver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
)

func (d *Driver) handleHooks() handleHooks {
	return handleHooks{explain: d.explainExit, exited: d.taskExited}
}

// Exit codes of sh (the jail runs the command as `exec CMD` of a shell
// script): the program was not found, or found but not executable.
const (
	exitNotFound      = 127
	exitNotExecutable = 126
)

// defaultSearchPath is where FreeBSD's sh looks for a program when nothing
// in its environment sets PATH.
var defaultSearchPath = []string{"/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"}

// explainExit: a task that ends as sh ends for a command it cannot run
// (127, 126), not stopped by the driver, gets a task event saying so when
// the program is not in the jail's file system — naming it and where it was
// looked for, in the jail, not on the host. The reason is otherwise only
// in the task's stderr ("exec: /no/such: not found"), and the event comes
// before Nomad's restart policy acts.
func (d *Driver) explainExit(h *taskHandle, res *drivers.ExitResult) {
	if res.Signal != 0 || (res.ExitCode != exitNotFound && res.ExitCode != exitNotExecutable) || h.stopRequested.Load() {
		return
	}
	program := taskProgram(h.cfg)
	if program == "" {
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	client := d.potClient()
	l, err := client.LookupProgram(ctx, h.potName, program, jailSearchPath(h.cfg.Env, client.Env))
	if err != nil {
		h.logger.Debug("looking for the task's program in the jail", "program", program, "error", err)
		return
	}
	if l.Found || l.Uncertain {
		return
	}
	msg := fmt.Sprintf("Command %q cannot run in the jail (exit code %d): %s in the jail's file system; looked at %s (the jail's root is %s on the host)",
		program, res.ExitCode, l.Problem, strings.Join(l.Looked, ", "), l.Root)
	h.logger.Warn("the task's program is not in the jail", "program", program, "problem", l.Problem, "looked", strings.Join(l.Looked, ", "))
	d.emit(h.cfg, msg)
}

// taskProgram is the program the task's command line starts with: its
// `command`, or that line's first word. "" when the task runs the image's
// own command, or when the first word is sh syntax (quotes, escapes,
// expansions) the driver does not parse: nothing is then looked for.
func taskProgram(cfg *drivers.TaskConfig) string {
	var raw hclspec.TaskConfig
	if err := cfg.DecodeDriverConfig(&raw); err != nil {
		return ""
	}
	if raw.ExactArgs {
		return raw.Command
	}
	fields := strings.Fields(raw.Command)
	if len(fields) == 0 || strings.ContainsAny(fields[0], "'\"\\$`*?[~=;&|<>(){}") {
		return ""
	}
	return fields[0]
}

// jailSearchPath is the PATH the jail's sh searches: the task's own PATH if
// its environment sets one (pot exports it in the jail), else what `pot
// start` runs with (jexec keeps the environment), else sh's default.
func jailSearchPath(taskEnv map[string]string, potEnv []string) []string {
	p, ok := taskEnv["PATH"]
	if !ok {
		env := potEnv
		if env == nil {
			env = os.Environ()
		}
		for _, kv := range env {
			if v, found := strings.CutPrefix(kv, "PATH="); found {
				p, ok = v, true
			}
		}
	}
	if !ok {
		return defaultSearchPath
	}
	// Empty and relative entries name the working folder, not looked in.
	return filepath.SplitList(p)
}
