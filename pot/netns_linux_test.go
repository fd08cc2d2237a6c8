package pot

import (
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// dialInNetns dials addr from the network namespace of the file netns (a
// client on another host: the wire of fbsdemu). A socket keeps the
// namespace it was made in, so only the dial runs on a thread moved there;
// the thread goes back afterwards, or, if it cannot, ends with its
// goroutine, still locked (Go then discards it).
func dialInNetns(netns, network, addr string, timeout time.Duration) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer unix.Close(orig)
		fd, err := unix.Open(netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- result{nil, err}
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			done <- result{nil, err}
			return
		}
		c, err := net.DialTimeout(network, addr, timeout)
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}
