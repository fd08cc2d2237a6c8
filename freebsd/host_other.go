//go:build !freebsd

package freebsd

// jailUsage would be rctl_get_racct(2), which only FreeBSD has: the
// emulation's jails are accounted by pot get-rss instead.
func jailUsage(string) (Usage, error) { return nil, ErrUnsupported }
