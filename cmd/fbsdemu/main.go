// Command fbsdemu is a FreeBSD emulation for Linux, for tests and development
// only: one multi-call program that stands in for the FreeBSD commands pot's
// own shell scripts and the driver call (zfs, jail, jexec, pkill, sysctl,
// rctl, ...), so that pot 0.16's scripts run unchanged on a Linux machine.
// It never runs in production; see README.md for what each command does and
// where it differs from FreeBSD.
//
// Called by the name of a tool (a symbolic link named zfs, jail, ...) it is
// that tool; called as fbsdemu it takes the tool's name as its first
// argument (fbsdemu zfs list), or one of its own commands (fbsdemu run,
// fbsdemu install), see usage.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// tool is one emulated command: it gets its arguments (without its name)
// and returns its exit status.
type tool func(args []string) int

// tools are the emulated FreeBSD commands, by name. Each file of this
// package registers its own in an init function.
var tools = map[string]tool{}

func register(name string, t tool) {
	if _, dup := tools[name]; dup {
		panic("fbsdemu: tool registered twice: " + name)
	}
	tools[name] = t
}

// commands are fbsdemu's own commands (fbsdemu NAME ...).
var commands = map[string]tool{}

func main() {
	os.Exit(dispatch(os.Args))
}

func dispatch(argv []string) int {
	name := filepath.Base(argv[0])
	args := argv[1:]
	if name == "fbsdemu" || name == "fbsdemu.test" {
		if len(args) == 0 {
			usage()
			return 64
		}
		name, args = args[0], args[1:]
		if c, ok := commands[name]; ok {
			return c(args)
		}
	}
	// pot runs copies of ncat named ncat-POT-PORT (localhost tunnels).
	if strings.HasPrefix(name, "ncat-") {
		name = "ncat"
	}
	t, ok := tools[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "fbsdemu: no such tool: %s\n", name)
		return 127
	}
	return t(args)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: fbsdemu run [-state DIR] [-keep] -- COMMAND [ARGS...]")
	fmt.Fprintln(os.Stderr, "       fbsdemu install DIR   (a symbolic link per tool)")
	fmt.Fprintln(os.Stderr, "       fbsdemu wire [--] COMMAND [ARGS...]   (in a machine: run on the LAN, 198.18.0.1)")
	fmt.Fprintln(os.Stderr, "       fbsdemu TOOL [ARGS...]")
	fmt.Fprintln(os.Stderr, "tools:", toolNames())
}

func toolNames() []string {
	names := make([]string, 0, len(tools))
	for n := range tools {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// warnx prints "tool: message" to stderr, as FreeBSD's warnx(3) does.
func warnx(tool, format string, a ...any) {
	fmt.Fprintf(os.Stderr, tool+": "+format+"\n", a...)
}
