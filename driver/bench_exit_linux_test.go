package driver

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// watchExit reports when process pid (not necessarily our child) exits. The
// pidfd is open before it returns, so an exit right after is not missed.
func watchExit(pid int) (<-chan time.Time, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	ch := make(chan time.Time, 1)
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); !errors.Is(err, unix.EINTR) {
				break
			}
		}
		ch <- time.Now()
	}()
	return ch, nil
}
