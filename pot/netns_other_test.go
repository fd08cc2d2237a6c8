//go:build !linux

package pot

import (
	"errors"
	"net"
	"time"
)

// dialInNetns needs Linux's network namespaces (the wire exists only in a
// machine of fbsdemu).
func dialInNetns(netns, network, addr string, timeout time.Duration) (net.Conn, error) {
	return nil, errors.New("dialing from another network namespace needs Linux")
}
