//go:build freebsd

package freebsd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// System is the running FreeBSD kernel.
func System() Host { return sysHost{} }

type sysHost struct{}

// sysctlBool reads a boolean or integer sysctl (kern.racct.enable is a
// one-byte bool since FreeBSD 12, feature flags are ints): any non-zero
// byte is true. A missing sysctl is (false, ENOENT).
func sysctlBool(name string) (bool, error) {
	b, err := unix.SysctlRaw(name)
	if err != nil {
		return false, err
	}
	for _, c := range b {
		if c != 0 {
			return true, nil
		}
	}
	return false, nil
}

func (sysHost) Racct() (RacctState, error) {
	on, err := sysctlBool("kern.racct.enable")
	switch {
	case errors.Is(err, unix.ENOENT):
		return RacctDisabled, errors.New("the kernel has no RACCT (kern.racct.enable does not exist)")
	case err != nil:
		return RacctDisabled, fmt.Errorf("sysctl kern.racct.enable: %w", err)
	case on:
		return RacctEnabled, nil
	}
	return RacctDisabled, nil
}

func (sysHost) ClockRateMHz() (int, error) {
	v, err := unix.SysctlUint32("hw.clockrate")
	if err != nil {
		return 0, fmt.Errorf("sysctl hw.clockrate: %w", err)
	}
	return int(v), nil
}

// rctlGetRacct is rctl_get_racct(2): the usage of the subject the filter
// names, "cputime=N,datasize=N,...". The output buffer grows on ERANGE up to
// the kernel's own maximum (kern.racct.rctl.maxbufsize, 16 MiB).
func rctlGetRacct(filter string) (string, error) {
	in := append([]byte(filter), 0)
	size := 4096
	for {
		out := make([]byte, size)
		_, _, e := unix.Syscall6(unix.SYS_RCTL_GET_RACCT,
			uintptr(unsafe.Pointer(&in[0])), uintptr(len(in)),
			uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), 0, 0)
		if e == unix.ERANGE && size < 16<<20 {
			size *= 4
			continue
		}
		if e != 0 {
			return "", e
		}
		if i := bytes.IndexByte(out, 0); i >= 0 {
			out = out[:i]
		}
		return string(out), nil
	}
}

func (sysHost) JailUsage(jail string) (Usage, error) {
	if jail == "" || strings.ContainsAny(jail, ":\x00") {
		return nil, fmt.Errorf("invalid jail name %q", jail)
	}
	s, err := rctlGetRacct(JailFilter(jail))
	if err != nil {
		return nil, fmt.Errorf("rctl_get_racct %s: %w", JailFilter(jail), err)
	}
	return ParseUsage(s)
}

func (sysHost) KernelMessages() (string, error) {
	b, err := unix.SysctlRaw("kern.msgbuf")
	if err != nil {
		return "", fmt.Errorf("sysctl kern.msgbuf: %w", err)
	}
	return string(bytes.TrimRight(b, "\x00")), nil
}

func (sysHost) Release() (string, error) {
	return unix.Sysctl("kern.osrelease")
}

func (sysHost) VNET() (bool, error) {
	on, err := sysctlBool("kern.features.vimage")
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return on, err
}

func (sysHost) PF(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, PfctlBin, "-s", "info")
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// No pf module: /dev/pf does not exist.
		if strings.Contains(stderr.String(), "No such file or directory") {
			return false, nil
		}
		return false, fmt.Errorf("pfctl -s info: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return ParsePfctlInfo(stdout.String())
}

func (sysHost) ZFS(ctx context.Context, root string) (ZFSReading, error) {
	return ReadZFS(ctx, root)
}
