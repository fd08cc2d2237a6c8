package procwait

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Wait blocks until the process exits, on a kqueue EVFILT_PROC/NOTE_EXIT
// event (one blocked thread per waiting process).
func Wait(pid int) error {
	kq, err := unix.Kqueue()
	if err != nil {
		return fmt.Errorf("kqueue: %w", err)
	}
	defer unix.Close(kq)
	change := unix.Kevent_t{
		Ident:  uint64(pid),
		Filter: unix.EVFILT_PROC,
		Flags:  unix.EV_ADD | unix.EV_ONESHOT,
		Fflags: unix.NOTE_EXIT,
	}
	events := make([]unix.Kevent_t, 1)
	for {
		n, err := unix.Kevent(kq, []unix.Kevent_t{change}, events, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ESRCH) {
			return ErrNoProcess
		}
		if err != nil {
			return fmt.Errorf("kevent %d: %w", pid, err)
		}
		if n > 0 && events[0].Flags&unix.EV_ERROR != 0 {
			if unix.Errno(events[0].Data) == unix.ESRCH {
				return ErrNoProcess
			}
			return fmt.Errorf("kevent %d: %w", pid, unix.Errno(events[0].Data))
		}
		if n > 0 {
			return nil
		}
	}
}
