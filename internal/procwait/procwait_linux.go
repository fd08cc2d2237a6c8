package procwait

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Wait blocks until the process exits. The pidfd is handed to Go's network
// poller, so a waiting goroutine holds no OS thread.
func Wait(pid int) error {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return ErrNoProcess
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	// A pidfd becomes readable when the process exits; returning false
	// from the callback parks us in the poller until then.
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, e := unix.Poll(fds, 0)
		if e != nil && e != unix.EINTR {
			perr = e
			return true
		}
		return n > 0
	})
	if err != nil {
		return err
	}
	return perr
}
