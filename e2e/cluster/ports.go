package cluster

import (
	"fmt"
	"net"
	"strconv"
)

// portPicker hands out loopback ports that are free for TCP and UDP, never
// the same twice.
type portPicker struct{ used map[int]bool }

func newPortPicker() *portPicker { return &portPicker{used: map[int]bool{}} }

// free reports whether port is free on 127.0.0.1 for TCP and UDP.
func portFree(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}

// pick returns preferred if it is free (0: no preference), else a random
// free port.
func (pp *portPicker) pick(preferred int) (int, error) {
	if preferred > 0 && !pp.used[preferred] && portFree(preferred) {
		pp.used[preferred] = true
		return preferred, nil
	}
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if pp.used[port] || !portFree(port) {
			continue
		}
		pp.used[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port found")
}
