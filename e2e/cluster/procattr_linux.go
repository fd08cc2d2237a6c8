package cluster

import "syscall"

// procAttr: a process group of its own, and SIGKILL if the program that
// started it dies without stopping it (a test binary killed by its
// timeout), so no agent outlives it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
