package driver

import "syscall"

// ttySysProcAttr makes the pty the controlling terminal of a new session,
// so ^C and window changes reach the command.
func ttySysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
}
