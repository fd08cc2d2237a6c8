package driver

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// watchExit reports when process pid (not necessarily our child) exits. The
// kqueue event is registered before it returns, so an exit right after is
// not missed.
func watchExit(pid int) (<-chan time.Time, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, fmt.Errorf("kqueue: %w", err)
	}
	change := unix.Kevent_t{Ident: uint64(pid), Filter: unix.EVFILT_PROC, Flags: unix.EV_ADD | unix.EV_ONESHOT, Fflags: unix.NOTE_EXIT}
	if _, err := unix.Kevent(kq, []unix.Kevent_t{change}, nil, nil); err != nil {
		unix.Close(kq)
		return nil, fmt.Errorf("kevent %d: %w", pid, err)
	}
	ch := make(chan time.Time, 1)
	go func() {
		defer unix.Close(kq)
		events := make([]unix.Kevent_t, 1)
		for {
			if _, err := unix.Kevent(kq, nil, events, nil); !errors.Is(err, unix.EINTR) {
				break
			}
		}
		ch <- time.Now()
	}()
	return ch, nil
}
