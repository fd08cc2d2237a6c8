//go:build !freebsd

package freebsd

import "context"

// System is the running kernel. This is not FreeBSD: there is no racct,
// msgbuf, ZFS for pot or pf to read, so every method says ErrUnsupported.
func System() Host { return otherHost{} }

type otherHost struct{}

func (otherHost) Racct() (RacctState, error)       { return RacctUnsupported, ErrUnsupported }
func (otherHost) ClockRateMHz() (int, error)       { return 0, ErrUnsupported }
func (otherHost) JailUsage(string) (Usage, error)  { return nil, ErrUnsupported }
func (otherHost) KernelMessages() (string, error)  { return "", ErrUnsupported }
func (otherHost) Release() (string, error)         { return "", ErrUnsupported }
func (otherHost) VNET() (bool, error)              { return false, ErrUnsupported }
func (otherHost) PF(context.Context) (bool, error) { return false, ErrUnsupported }
func (otherHost) ZFS(context.Context, string) (ZFSReading, error) {
	return ZFSReading{}, ErrUnsupported
}
