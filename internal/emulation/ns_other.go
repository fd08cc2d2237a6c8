//go:build !linux

package emulation

import "testing"

// InMountNamespace skips: the emulation runs on Linux only.
func InMountNamespace(t *testing.T) bool {
	t.Skip("the FreeBSD emulation runs on Linux")
	return false
}
