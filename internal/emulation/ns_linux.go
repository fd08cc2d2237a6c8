//go:build linux

package emulation

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

const mountNSEnv = "EMULATION_MOUNT_NS"

// InMountNamespace runs the calling test again in a child process with a
// mount namespace of its own (Go makes its mounts private), so that the
// datasets the emulation's zfs mounts (bind mounts) are seen by that
// process and its children only. It says whether the caller is the child,
// which runs the test's body; the parent has then run it and logged its
// output. Needs root: skips otherwise.
func InMountNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(mountNSEnv) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (a mount namespace; the emulation's zfs bind-mounts datasets)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), mountNSEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a mount namespace: %v\n%s", t.Name(), err, out)
	}
	t.Logf("%s", out)
	return false
}
