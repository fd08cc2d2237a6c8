package main

import (
	"os"
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
	rc := 1
	withLock(potLockFile(name), func() {
		rc = setStatusLocked(name, newStatus)
	})
	return rc
}

func setStatusLocked(name, newStatus string) int {
	if !isPot(name, false) {
		errorf("%s is not a pot", name)
		return 1
	}
	cur, curIfaces := getStatus(name)
	if cur == newStatus {
		return 2
	}
	ifaces := ""
	switch newStatus {
	case "starting":
		if cur != "" && cur != "stopped" {
			return 1
		}
	case "started", "doa":
		if cur != "starting" {
			return 1
		}
	case "stopping":
		if cur != "started" && cur != "doa" && cur != "stopped" {
			return 1
		}
		ifaces = curIfaces
	case "stopped":
		if cur != "stopping" {
			return 1
		}
	}
	if err := os.WriteFile(statusFile(name), []byte("pot.status="+newStatus+","+ifaces+"\n"), 0o644); err != nil {
		errorf("cannot write the status of %s: %v", name, err)
		return 1
	}
	return 0
}
