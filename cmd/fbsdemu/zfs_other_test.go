//go:build !linux

package main

import "testing"

func zfsInNS(t *testing.T) bool {
	t.Skip("the ZFS emulation mounts only on Linux")
	return false
}
