package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// pot keeps the life cycle of a pot in /tmp/pot_status_NAME
// ("pot.status=STATUS,INTERFACES") and changes it under a lock with
// `pot set-status`, which accepts only these transitions:
//
//	starting  from nothing or stopped
//	started   from starting
//	doa       from starting
//	stopping  from started, doa or stopped
//	stopped   from stopping
//
// A transition to the current status returns 2 (someone else is doing it),
// a refused one returns 1. A status file older than the last boot is
// ignored.

func getStatus(name string) (status, ifaces string) {
	path := statusFile(name)
	st, err := os.Stat(path)
	if err != nil {
		return "", ""
	}
	if bt := bootTime(); bt > 0 && bt > st.ModTime().Unix() {
		debugf("Ignoring outdated status file %s of pot %s", path, name)
		return "", ""
	}
	lines := grepLines(path, `^pot\.status=`)
	if len(lines) == 0 {
		return "", ""
	}
	l := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '"' {
			return -1
		}
		return r
	}, lines[len(lines)-1])
	v := cutField(l, "=", 2)
	status = cutField(v, ",", 1)
	if strings.Contains(v, ",") {
		ifaces = cutField(v, ",", 2)
	}
	return status, ifaces
}

// setPotStatus is _set_pot_status (lockf + pot set-status): it returns 0 when
// the status changed, 1 when the transition is not allowed, 2 when the pot
// already has that status.
func setPotStatus(name, newStatus string) int {
	rc, _ := setPotStatusIfaces(name, newStatus, "")
	return rc
}

// setPotStatusIfaces is setPotStatus with set-status's -i: the interfaces
// kept with started or doa. On a change to stopping it also returns the
// interfaces kept so far, which set-status prints (a caller of pot's that
// does not capture them prints them: an empty line for a pot without any).
func setPotStatusIfaces(name, newStatus, ifaces string) (rc int, kept string) {
	rc = 1
	withLock(potLockFile(name), func() {
		rc, kept = setStatusLocked(name, newStatus, ifaces)
	})
	return rc, kept
}

// potStatuses are set-status's valid statuses (_POT_INTERNAL_STATUS).
var potStatuses = []string{"starting", "doa", "started", "stopping", "stopped"}

func setStatusLocked(name, newStatus, ifaces string) (int, string) {
	if !isPot(name, false) {
		errorf("%s is not a pot", name)
		return 1, ""
	}
	cur, curIfaces := getStatus(name)
	if cur == newStatus {
		return 2, ""
	}
	kept := ""
	switch newStatus {
	case "starting":
		if cur != "" && cur != "stopped" {
			return 1, ""
		}
		ifaces = ""
	case "started", "doa":
		if cur != "starting" {
			return 1, ""
		}
	case "stopping":
		if cur != "started" && cur != "doa" && cur != "stopped" {
			return 1, ""
		}
		ifaces = curIfaces
		kept = curIfaces
	case "stopped":
		if cur != "stopping" {
			return 1, ""
		}
		ifaces = ""
	}
	if err := os.WriteFile(statusFile(name), []byte("pot.status="+newStatus+","+ifaces+"\n"), 0o644); err != nil {
		errorf("cannot write the status of %s: %v", name, err)
		return 1, ""
	}
	return 0, kept
}

const setStatusHelp = `Internal command, DO NOT USE IF YOU DON'T KNOW WHAT YOU ARE DOING!
This command is meant to be invoked using lockf
pot set-status [-hv] [-p pname] [-s status]
  -h print this help
  -v verbose
  -i interface(s) : network interface (epaira)
  -p pname : pot name
  -s status : the status [starting doa started stopping stopped]
`

// cmdSetStatus is set-status.sh: 0 the status changed, 2 the pot already
// has it, 1 the transition is not allowed (or no such pot). A change to
// stopping prints the interfaces kept with the status (a line, empty when
// there are none). pot's own callers run it under lockf; potsim always
// takes the pot's lock.
func cmdSetStatus(args []string) int {
	var pname, newStatus, ifaces string
	opts, _ := getopts(args, "hvp:i:s:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(setStatusHelp)
			return 0
		case 'v':
			verbosity++
		case 'p':
			pname = o.arg
		case 'i':
			ifaces = o.arg
		case 's':
			if slices.Contains(potStatuses, o.arg) {
				newStatus = o.arg
			} else {
				// pot goes on with no status: the same as the
				// current one when there is none (2), else a
				// status file with an empty status.
				errorf("%s is not a valid status", o.arg)
			}
		default:
			printHelp(setStatusHelp)
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(setStatusHelp)
		return 1
	}
	rc, kept := setPotStatusIfaces(pname, newStatus, ifaces)
	if rc == 0 && newStatus == "stopping" {
		fmt.Println(kept)
	}
	return rc
}
