// Command potsim is a stand-in for the FreeBSD `pot` command line that runs on
// Linux: the same subcommands, flags, messages, exit codes and on-disk pot.conf
// as pot 0.16, with a pot's "jail" being an ordinary process group whose root
// directory is the pot's m/ folder. See README.md in this directory for the
// on-disk layout and every place where potsim knowingly differs from pot.
package main

import (
	"fmt"
	"os"
	"strings"
)

// potVersion is the version of pot that potsim imitates.
const potVersion = "0.16.0"

// exitError unwinds the stack to main with an exit status, the way `exit N`
// ends a pot shell script from inside any function.
type exitError struct{ code int }

// exit ends the current subcommand with status code, running deferred
// clean-ups on the way out.
func exit(code int) { panic(exitError{code}) }

// verbosity is pot's _POT_VERBOSITY: 1 by default, -v raises it, destroy -q
// sets it to 0.
var verbosity = 1

const (
	sevErr   = 0
	sevInfo  = 1
	sevDebug = 2
)

// msg prints like pot's _msg: to stdout, "###> ", "===> " or "=====> "
// followed by a space and the message (echo "###> " "$@").
func msg(sev int, format string, a ...any) {
	if sev > verbosity {
		return
	}
	var prefix string
	switch sev {
	case sevErr:
		prefix = "###> "
	case sevInfo:
		prefix = "===> "
	case sevDebug:
		prefix = "=====> "
	default:
		return
	}
	fmt.Fprintf(os.Stdout, "%s %s\n", prefix, fmt.Sprintf(format, a...))
}

func errorf(format string, a ...any) { msg(sevErr, format, a...) }
func infof(format string, a ...any)  { msg(sevInfo, format, a...) }
func debugf(format string, a ...any) { msg(sevDebug, format, a...) }

// qerrorf is pot's _qerror: an error unless quiet.
func qerrorf(quiet bool, format string, a ...any) {
	if !quiet {
		errorf(format, a...)
	}
}

// stderrf writes a message of a host tool (fetch, cp, getopts...) to stderr.
func stderrf(format string, a ...any) { fmt.Fprintf(os.Stderr, format, a...) }

// printHelp prints a help text (pot prints them with cat, on stdout).
func printHelp(text string) { fmt.Fprint(os.Stdout, text) }

// mandatory is pot's check of a mandatory flag: when value is empty, the
// error, the subcommand's help, and exit 1.
func mandatory(value, msg, help string) {
	if value == "" {
		errorf("%s", msg)
		printHelp(help)
		exit(1)
	}
}

type command struct {
	run func(args []string) int
	// help is printed by `pot help CMD`.
	help func() string
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"version":               {cmdVersion, func() string { return versionHelp }},
		"config":                {cmdConfig, configHelp},
		"list":                  {cmdList, func() string { return listHelp }},
		"info":                  {cmdInfo, func() string { return infoHelp }},
		"ps":                    {cmdPs, func() string { return psHelp }},
		"init":                  {cmdInit, func() string { return initHelp }},
		"prepare":               {cmdPrepare, func() string { return prepareHelp }},
		"import":                {cmdImport, func() string { return importHelp }},
		"clone":                 {cmdClone, func() string { return cloneHelp }},
		"start":                 {cmdStart, func() string { return startHelp }},
		"stop":                  {cmdStop, func() string { return stopHelp }},
		"destroy":               {cmdDestroy, func() string { return destroyHelp }},
		"prune":                 {cmdPrune, func() string { return pruneHelp }},
		"set-env":               {cmdSetEnv, func() string { return setEnvHelp }},
		"set-hosts":             {cmdSetHosts, func() string { return setHostsHelp }},
		"set-cmd":               {cmdSetCmd, func() string { return setCmdHelp }},
		"set-attribute":         {cmdSetAttribute, setAttributeHelp},
		"get-attribute":         {cmdGetAttribute, getAttributeHelp},
		"set-rss":               {cmdSetRss, func() string { return setRssHelp }},
		"get-rss":               {cmdGetRss, func() string { return getRssHelp }},
		"export-ports":          {cmdExportPorts, func() string { return exportPortsHelp }},
		"mount-in":              {cmdMountIn, func() string { return mountInHelp }},
		"copy-in":               {cmdCopyIn, func() string { return copyInHelp }},
		"last-run-stats":        {cmdLastRunStats, func() string { return lastRunStatsHelp }},
		"signal":                {cmdSignal, func() string { return signalHelp }},
		"set-status":            {cmdSetStatus, func() string { return setStatusHelp }},
		"exec":                  {cmdExec, func() string { return execHelp }},
		"create-private-bridge": {cmdCreatePrivateBridge, func() string { return createPrivateBridgeHelp }},
	}
}

// aliases are the alternative spellings bin/pot accepts.
var aliases = map[string]string{
	"ls":       "list",
	"set-attr": "set-attribute",
	"get-attr": "get-attribute",
}

// potCommands lists every subcommand of pot 0.16; those potsim does not
// implement fail with a clear message instead of the usage text.
var potCommands = strings.Fields(`show version config list info ps top init de-init vnet-start
create-base create-fscomp create create-private-bridge copy-in copy-out mount-in mount-out prune
set-hook destroy add-dep set-rss get-rss set-cmd set-env set-hosts export import prepare
export-ports set-attribute get-attribute start stop term rename clone clone-fscomp promote
snapshot revert purge-snapshots update-config last-run-stats signal exec set-status run`)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes one pot command line and returns its exit status.
func run(args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(exitError); ok {
				code = e.code
				return
			}
			panic(r)
		}
	}()
	if len(args) > 0 && args[0] == jailExecCmd {
		return jailExec(args[1:])
	}
	if len(args) > 0 {
		logCall(args[0])
	}
	if len(args) < 1 {
		printHelp(usageText)
		return 1
	}
	name, rest := args[0], args[1:]
	if a, ok := aliases[name]; ok {
		name = a
	}
	if name == "help" {
		if len(rest) > 0 {
			// bin/pot runs `pot-cmd help CMD`, which needs pot init.
			if err := setupRoot(name); err != nil {
				fmt.Fprintf(os.Stderr, "###>  %v\n", err)
				return 1
			}
			return cmdHelp(rest[0])
		}
		printHelp(usageText)
		return 0
	}
	if name == "run" {
		name, rest = "term", append([]string{"-f"}, rest...)
	}
	cmd, ok := commands[name]
	if !ok {
		for _, c := range potCommands {
			if c == name {
				stderrf("potsim: the pot subcommand %q is not implemented by potsim\n", name)
				return 1
			}
		}
		printHelp(usageText)
		return 1
	}
	if err := setupRoot(name); err != nil {
		fmt.Fprintf(os.Stderr, "###>  %v\n", err)
		return 1
	}
	return cmd.run(rest)
}

func cmdHelp(name string) int {
	if a, ok := aliases[name]; ok {
		name = a
	}
	if name == "run" {
		name = "term"
	}
	cmd, ok := commands[name]
	if !ok {
		errorf("Command %s unkown", name)
		return 1
	}
	printHelp(cmd.help())
	return 0
}

// logCall appends the subcommand to $POTSIM_CALL_LOG, one line per call.
func logCall(sub string) {
	path := os.Getenv("POTSIM_CALL_LOG")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(sub + "\n")
}

const usageText = `Usage: pot command [options]

Commands:
    help    -- Show help
    version -- Show version of the pot command
    config  -- Show pot framework configuration
    ls/list -- List of the installed pots
    show    -- Show information on pots
    info    -- Print minimal information on a pot
    top     -- Run top(1) inside the pot
    ps      -- Show running pots
    init    -- Initialize the ZFS layout
    de-init -- Remove pot from your system
    vnet-start -- Start vnet configuration
    create-base -- Create a new base image
    create-fscomp -- Create a new fs component
    create-private-bridge -- Create a new private bridge
    create -- Create a new pot (jail)
    clone -- Clone a pot, creating a new one
    clone-fscomp -- Clone an fscomp
    rename -- Rename a pot
    destroy -- Destroy a pot
    prune   -- Destroy non-running, prunable pots
    copy-in -- Copy a file or a directory into a pot
    copy-out -- Copy a file or a directory out of a pot
    mount-in -- Mount directory, ZFS dataset, or fscomp into a pot
    mount-out -- Unmount directory, ZFS dataset, or fscomp from a pot
    add-dep -- Add a dependency
    set-rss -- Set a resource constraint
    get-rss -- Get the current resource usage
    set-cmd -- Set the command to start the pot
    set-env -- Set environment variables inside a pot
    set-hosts -- Set /etc/hosts entries inside a pot
    set-hook -- Set hook scripts for a pot
    set-attribute/set-attr -- Set an attribute on a pot
    get-attribute/set-attr -- Get an attribute from a pot
    export-ports -- Allows exposing tcp and udp ports
    start -- Start a pot (jail)
    stop -- Stop a pot (jail)
    term -- Open terminal inside of a pot
    run -- Same as term, but start pot if it is not running
    snap/snapshot -- Take a snapshot of a pot
    rollback/revert -- Restore the latest snapshot
    purge-snapshots -- Remove old/all snapshots
    export -- Export a pot to a file
    import -- Import a pot from a file or a URL
    prepare -- Import and prepare a pot, used by orchestrators
    update-config -- Update the configuration of a pot
    last-run-stats -- Get statistics about a pot's last run
    signal -- Send signal to pot
    exec -- Execute a progam inside of a pot
`
