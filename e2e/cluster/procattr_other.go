//go:build !linux

package cluster

import "syscall"

// procAttr: a process group of its own.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
