// Package procwait waits for the exit of a process that is not our child —
// a jail's `pot start` process reattached after the plugin restarted —
// without polling: pidfd on Linux, kqueue EVFILT_PROC on FreeBSD.
package procwait

import (
	"errors"
	"syscall"
)

// ErrNoProcess is returned when the pid does not exist (any more).
var ErrNoProcess = errors.New("no such process")

// Alive reports whether a process with this pid exists.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
