//go:build linux

package main

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

const zfsTestNSEnv = "FBSDEMU_ZFS_TEST_NS"

// zfsInNS runs the calling test again in a child process with its own
// mount namespace (Go makes / private there), so that its bind mounts
// never reach the machine's; it says whether the caller is that child and
// should run the test body.
func zfsInNS(t *testing.T) bool {
	t.Helper()
	if os.Getenv(zfsTestNSEnv) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount namespaces and bind mounts)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), zfsTestNSEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a mount namespace: %v\n%s", t.Name(), err, out)
	}
	t.Logf("%s", out)
	return false
}
