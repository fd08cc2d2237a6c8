package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const stopHelp = `pot stop [-hv] -p potname | potname
  -h print this help
  -v verbose
  -i interface(s) : network interface (epaira) (INTERNAL USE ONLY)
  -s called from start (INTERNAL USE ONLY)
  -p potname : the pot to be stopped
     the -p can be omitted and the last argument will be interpreted
     as the potname

  The option -i is intended to be used only by internal cleanup
  functions that knows in advance what interface pot is/was using.
  Usually, -i is NOT needed and it SHOULDN'T be used by users
`

// cmdStop is stop.sh. As with pot, stopping something that is no pot
// succeeds (exit 0) and stopping a pot that never started fails (its status
// does not allow it).
func cmdStop(args []string) int {
	pname := ""
	fromStart := false
	opts, operands := getopts(args, "hvp:i:s")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(stopHelp)
			return 0
		case 'v':
			verbosity++
		case 'p':
			pname = o.arg
		case 'i':
		case 's':
			fromStart = true
		default:
			printHelp(stopHelp)
			return 1
		}
	}
	if pname == "" && len(operands) > 0 {
		pname = operands[0]
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(stopHelp)
		return 1
	}
	if !isPot(pname, true) {
		errorf("The pot %s is not a valid pot", pname)
		return 0
	}
	return stopPot(pname, fromStart)
}

// stopPot is the body of pot-stop.
func stopPot(name string, fromStart bool) int {
	switch setPotStatus(name, "stopping") {
	case 2:
		if fromStart {
			debugf("pot %s is already stopping, but we are cleaning up from start-cleanup", name)
		} else {
			errorf("pot %s is already stopping!", name)
			return 1
		}
	case 1:
		errorf("pot %s is not in a state where it can be stopped", name)
		return 1
	}
	jsStop(name)
	rmResolv(name)
	potUmount(name)
	switch setPotStatus(name, "stopped") {
	case 2:
		errorf("pot %s is already stopped!", name)
		return 1
	case 1:
		errorf("pot %s is not in a state where it can marked as stopped", name)
		return 1
	}
	return 0
}

// stopTimeout is the jail's stop.timeout: pot.attr.stop_timeout, 10 s
// by default.
func stopTimeout(name string) time.Duration {
	v := getConfVar(name, "pot.attr.stop_timeout")
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	return 10 * time.Second
}

// jsStop is stop.sh's _js_stop: `jail -r` (exec.stop, SIGTERM, stop.timeout,
// SIGKILL), then the clean-up of a stopped pot.
func jsStop(name string) {
	st, _ := loadJail(name)
	if isRunning(name) && st != nil {
		runHook(name, "prestop.sh", "Executing the pre-stop script for the pot %s")
		debugf("Stop the pot %s", name)
		if execStop := getConfVarString(name, "pot.attr.exec_stop"); execStop != "" {
			runExecStop(name, st, execStop)
		}
		killJail(st, stopTimeout(name))
	}
	// pot stop does not wait for pot start (which writes last-run-stats
	// and cleans up after the command's exit, maybe after stop returns),
	// but it flushes the pot's pf rules itself. The ports potsim forwards
	// belong to the potsim start process, which closes them as soon as
	// the command has exited: wait for that much only.
	if st != nil && len(st.Ports) > 0 && st.StartPid != os.Getpid() {
		deadline := time.Now().Add(10 * time.Second)
		for fileExists(portsMarkerFile(name)) && startProcessAlive(st) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.Remove(portsMarkerFile(name))
	runHook(name, "poststop.sh", "Executing the post-stop script for the pot %s")
	removeJail(name)
	os.Remove(rssSampleFile(name))
}

// runExecStop runs the exec.stop command in the jail, as jail(8) does
// with /bin/sh -c, and waits for it.
func runExecStop(name string, st *jailState, command string) {
	argv := []string{"/bin/sh", "-c", command}
	env := []string{"PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"}
	pid, err := spawnInJail(name, argv, env, jailPath(name, "/"), nil, false)
	if err != nil {
		stderrf("jail: exec.stop: %v\n", err)
		return
	}
	_ = updateJail(name, func(s *jailState) {
		if p, err := readProc(pid); err == nil {
			s.Groups = append(s.Groups, jailGroup{Pgid: pid, LeaderStart: p.Start})
		}
	})
	waitChild(pid)
}

// rmResolv is stop.sh's _js_rm_resolv.
func rmResolv(name string) {
	p := filepath.Join(mDir(name), "etc", "resolv.conf")
	if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() {
		if getConfVar(name, "pot.dns") != "off" {
			os.Remove(p)
		}
	}
}

// runHook runs conf/HOOK if it is executable, with the `pot info -E`
// variables in its environment.
func runHook(name, hook, message string) {
	path := filepath.Join(confDir(name), hook)
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return
	}
	infof(message, name)
	env := os.Environ()
	for _, l := range potEnvLines(name) {
		kv := strings.TrimPrefix(l, "export ")
		env = append(env, strings.ReplaceAll(kv, `\ `, " "))
	}
	runHostCommand([]string{path}, env)
}

// runHostCommand runs a program on the host and waits for it; a script
// without #! is run by /bin/sh, as sh would.
func runHostCommand(argv []string, env []string) {
	if activeReaper != nil {
		pid, err := spawnHost(argv, env)
		if err != nil && strings.Contains(err.Error(), "exec format error") {
			pid, err = spawnHost(append([]string{"/bin/sh"}, argv...), env)
		}
		if err == nil {
			waitChild(pid)
		}
		return
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil && strings.Contains(err.Error(), "exec format error") {
		cmd = exec.Command("/bin/sh", argv...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		_ = cmd.Run()
	}
}

// --- destroy

const destroyHelp = `pot destroy [-hvFr] [-p potname|-b basename|-f fscomp|-B bridge]
  -h print this help
  -v verbose
  -q quiet
  -F force the stop and destroy
  -p potname : the pot name (mandatory)
  -b basename : the base name (mandatory)
  -f fscomp : the fscomp name (mandatory)
  -B bridge-name : the name of the bridge to be deleted (mandatory)
  -r : destroy recursively all pots based on this base/pot
`

func cmdDestroy(args []string) int {
	var pname, bname, fname, bridge string
	force, recursive := false, false
	opts, _ := getopts(args, "hvrf:p:b:FB:q")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(destroyHelp)
			exit(0)
		case 'v':
			verbosity++
		case 'q':
			verbosity = 0
		case 'F':
			force = true
		case 'r':
			recursive = true
		case 'p':
			pname = o.arg
		case 'b':
			bname = o.arg
		case 'f':
			fname = o.arg
		case 'B':
			bridge = o.arg
		default:
			printHelp(destroyHelp)
			exit(1)
		}
	}
	if pname == "" && bname == "" && fname == "" && bridge == "" {
		errorf("-b or -p or -f or -B are missing")
		printHelp(destroyHelp)
		exit(1)
	}
	if (pname != "" && (bname != "" || fname != "" || bridge != "")) ||
		(bname != "" && (fname != "" || bridge != "")) || (fname != "" && bridge != "") {
		errorf("-b, -p, -f and -B cannot be used at the same time")
		printHelp(destroyHelp)
		exit(1)
	}
	if bridge != "" {
		if force || recursive {
			infof("Destroy bridge will ignore force and recursive")
		}
		if !isBridge(bridge, false) {
			errorf("%s is not a valid bridge name", bridge)
			exit(1)
		}
		for _, p := range potList() {
			if getConfVar(p, "bridge") == bridge {
				errorf("the bridge %s is still used by the pot %s - unable to delete", bridge, p)
				exit(1)
			}
		}
		infof("Destroying bridge %s", bridge)
		if err := os.Remove(bridgeFile(bridge)); err != nil {
			exit(1)
		}
		exit(0)
	}
	if fname != "" {
		errorf("%s is not a fscomp", fname)
		exit(1)
	}
	if bname != "" {
		errorf("%s is not a base", bname)
		exit(1)
	}
	if !isPot(pname, true) {
		if safeName(pname) && isDir(jailDir(pname)) && force {
			if !potZfsDestroy(pname, force) {
				errorf("Failed to destroy pot %s", pname)
				exit(1)
			}
			infof("Forcibly destroyed pot %s", pname)
			exit(0)
		}
		isPot(pname, false)
		errorf("pot %s not found or corrupted. Try to use the -F flag", pname)
		exit(1)
	}
	lvl := getConfVar(pname, "pot.level")
	if lvl == "0" {
		if getConfVar(pname, "pot.type") == "single" {
			for _, p := range potList() {
				if getConfVar(p, "pot.potbase") == pname {
					if recursive {
						debugf("Destroying recursively pot %s based on %s", p, pname)
						potZfsDestroy(p, force)
					} else {
						errorf("%s is used at least by another pot (%s) - use option -r to destroy it recursively", pname, p)
						exit(1)
					}
				}
			}
		} else {
			errorf("The pot %s has level 0. Please destroy the related base insted", pname)
			exit(1)
		}
	}
	if lvl == "1" {
		for _, p := range potList() {
			if getConfVar(p, "pot.potbase") == pname {
				if recursive {
					debugf("Destroying recursively pot %s based on %s", p, pname)
					potZfsDestroy(p, force)
				} else {
					errorf("%s is used at least by one level 2 pot - use option -r to destroy it recursively", pname)
					exit(1)
				}
			}
		}
	}
	for _, p := range potList() {
		for _, d := range strings.Fields(getConfVar(p, "pot.depend")) {
			if d == pname {
				infof("pot %s is losing his dependency %s", p, pname)
			}
		}
	}
	infof("Destroying pot %s", pname)
	if !potZfsDestroy(pname, force) {
		errorf("%s destruction failed", pname)
		exit(1)
	}
	os.Remove(statusFile(pname))
	os.Remove(potLockFile(pname))
	return 0
}

// potZfsDestroy is destroy.sh's _pot_zfs_destroy: stop the pot if it runs
// (with -F), then remove its folder.
func potZfsDestroy(name string, force bool) bool {
	if !safeName(name) || !isDir(jailDir(name)) {
		errorf("%s not found", name)
		return false
	}
	if isRunning(name) {
		if !force {
			errorf("pot %s is running", name)
			exit(1)
		}
		if rc := cmdStop([]string{name}); rc != 0 {
			exit(rc)
		}
	}
	// zfs destroy -r keeps a dataset whose snapshot is the origin of a
	// clone outside it (every pot cloned from this one): it names them
	// and fails.
	if clones := clonesOf(name); len(clones) > 0 {
		stderrf("cannot destroy '%s/jails/%s': filesystem has dependent clones\n", zfsRoot, name)
		stderrf("use '-R' to destroy the following datasets:\n")
		for _, c := range clones {
			stderrf("%s/jails/%s/m\n", zfsRoot, c)
		}
		errorf("zfs failed to destroy the dataset %s/jails/%s", zfsRoot, name)
		return false
	}
	potUmount(name)
	if !unmountAllUnder(jailDir(name)) {
		errorf("zfs failed to destroy the dataset %s/jails/%s", zfsRoot, name)
		return false
	}
	if err := os.RemoveAll(jailDir(name)); err != nil {
		errorf("zfs failed to destroy the dataset %s/jails/%s", zfsRoot, name)
		return false
	}
	if err := datasetsDestroyed(name); err != nil {
		stderrf("%v\n", err)
		errorf("zfs failed to destroy the dataset %s/jails/%s", zfsRoot, name)
		return false
	}
	return true
}

// clonesOf lists the pots cloned from name: those whose conf/.potsim_origin
// (ZFS's origin of their m dataset) names it.
func clonesOf(name string) []string {
	var out []string
	for _, p := range potList() {
		if p == name {
			continue
		}
		if b, err := os.ReadFile(originFile(p)); err == nil && strings.TrimSpace(string(b)) == name {
			out = append(out, p)
		}
	}
	return out
}

// --- prune

const pruneHelp = `pot prune [-hvq]
  -h print this help
  -v verbose
  -q quite - prune with no output
  -g grace_period - do not prune pots that just finished executing
  -n dry-run - do not destroy anything
`

func cmdPrune(args []string) int {
	quiet, grace, dry := false, false, false
	opts, _ := getopts(args, "hvqgn")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(pruneHelp)
			return 0
		case 'v':
			verbosity++
		case 'q':
			quiet = true
		case 'g':
			grace = true
		case 'n':
			dry = true
		default:
			printHelp(pruneHelp)
			return 1
		}
	}
	for _, p := range potList() {
		if isRunning(p) {
			continue
		}
		if getConfVar(p, "pot.attr.prunable") != "YES" || getConfVar(p, "pot.attr.to-be-pruned") != "YES" {
			continue
		}
		if grace {
			recent := func() bool {
				st, err := os.Stat(lastRunStatsFile(p))
				return err == nil && time.Since(st.ModTime()) < time.Minute
			}
			if recent() {
				continue
			}
			time.Sleep(2 * time.Second)
			if recent() || isRunning(p) {
				continue
			}
		}
		infof("Pruning %s", p)
		if dry {
			continue
		}
		if isRunning(p) {
			cmdStop([]string{p})
		}
		if runNested(func() int { return cmdDestroy([]string{"-p", p}) }) != 0 {
			qerrorf(quiet, "Error while pruning %s", p)
		} else {
			infof("Pruned %s", p)
		}
	}
	return 0
}

// runNested runs a command whose `exit` should end only that command.
func runNested(fn func() int) (code int) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(exitError); ok {
				code = e.code
				return
			}
			panic(r)
		}
	}()
	return fn()
}
