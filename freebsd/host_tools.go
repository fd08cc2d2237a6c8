package freebsd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Where FreeBSD keeps sysctl(8) and pfctl(8): used when PATH has no such
// program.
const (
	DefaultSysctlBin = "/sbin/sysctl"
	DefaultPfctlBin  = "/sbin/pfctl"
)

// hostCallTimeout bounds each sysctl and pfctl call of the Host.
const hostCallTimeout = 10 * time.Second

// Detect returns the Host of this machine, chosen by what it has, not by
// the OS the driver was built for: a FreeBSD kernel when sysctl(8) says
// kern.ostype is FreeBSD (a FreeBSD host, or the FreeBSD emulation of the
// tests), else a Host whose every method says ErrUnsupported (Linux under
// potsim; Linux's own sysctl knows no kern.ostype). The same code then reads
// FreeBSD and the emulation: sysctl(8), pfctl(8) and zfs(8) through go-zfs;
// only JailUsage is a syscall (rctl_get_racct(2)), on FreeBSD builds.
//
// An error says sysctl could not be asked (it did not answer in time): the
// Host returned then is the unsupported one, to be detected again later.
func Detect(ctx context.Context, t Tools) (Host, error) {
	h := &toolHost{tools: t}
	ostype, err := h.sysctl(ctx, "kern.ostype")
	var te *ToolError
	if errors.As(err, &te) && te.ExitCode < 0 && !errors.Is(err, exec.ErrNotFound) && !errors.Is(err, os.ErrNotExist) {
		return otherHost{}, err
	}
	if err != nil || ostype != "FreeBSD" {
		return otherHost{}, nil
	}
	return h, nil
}

// toolHost reads the kernel through FreeBSD's tools.
type toolHost struct{ tools Tools }

// FindTool is the program name found on PATH, else def (its path on
// FreeBSD): FreeBSD's own tools on FreeBSD, the emulation's in its tests.
func FindTool(name, def string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return def
}

// bounded is the host's tools with each call bounded by hostCallTimeout.
func (h *toolHost) bounded() Tools {
	t := h.tools
	if t.Timeout <= 0 || t.Timeout > hostCallTimeout {
		t.Timeout = hostCallTimeout
	}
	return t
}

// errNoOID: sysctl knows no such variable ("unknown oid", exit 1).
var errNoOID = errors.New("no such sysctl variable")

// sysctl reads one variable (`sysctl -n NAME`).
func (h *toolHost) sysctl(ctx context.Context, name string) (string, error) {
	t := h.bounded()
	out, err := t.run(ctx, FindTool("sysctl", DefaultSysctlBin), "-n", name)
	if err != nil {
		var te *ToolError
		if errors.As(err, &te) && strings.Contains(te.Stderr, "unknown oid") {
			return "", fmt.Errorf("sysctl %s: %w", name, errNoOID)
		}
		return "", fmt.Errorf("sysctl %s: %w", name, err)
	}
	return strings.TrimRight(string(out), "\n"), nil
}

func (h *toolHost) sysctlFlag(name string) (bool, error) {
	v, err := h.sysctl(context.Background(), name)
	if err != nil {
		return false, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return false, fmt.Errorf("sysctl %s: %q is not a number", name, v)
	}
	return n != 0, nil
}

func (h *toolHost) Racct() (RacctState, error) {
	on, err := h.sysctlFlag("kern.racct.enable")
	switch {
	case errors.Is(err, errNoOID):
		return RacctDisabled, errors.New("the kernel has no RACCT (kern.racct.enable does not exist)")
	case err != nil:
		return RacctDisabled, err
	case on:
		return RacctEnabled, nil
	}
	return RacctDisabled, nil
}

func (h *toolHost) ClockRateMHz() (int, error) {
	v, err := h.sysctl(context.Background(), "hw.clockrate")
	if err != nil {
		return 0, err
	}
	mhz, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || mhz <= 0 {
		return 0, fmt.Errorf("sysctl hw.clockrate: %q is not a clock rate", v)
	}
	return mhz, nil
}

func (h *toolHost) JailUsage(jail string) (Usage, error) {
	if jail == "" || strings.ContainsAny(jail, ":\x00") {
		return nil, fmt.Errorf("invalid jail name %q", jail)
	}
	return jailUsage(jail)
}

func (h *toolHost) KernelMessages() (string, error) {
	return h.sysctl(context.Background(), "kern.msgbuf")
}

func (h *toolHost) Release() (string, error) {
	return h.sysctl(context.Background(), "kern.osrelease")
}

func (h *toolHost) VNET() (bool, error) {
	on, err := h.sysctlFlag("kern.features.vimage")
	if errors.Is(err, errNoOID) {
		return false, nil // a kernel without VIMAGE has no such feature
	}
	return on, err
}

func (h *toolHost) PF(ctx context.Context) (bool, error) {
	t := h.bounded()
	out, err := t.run(ctx, FindTool("pfctl", DefaultPfctlBin), "-s", "info")
	if err != nil {
		var te *ToolError
		// No pf module: /dev/pf does not exist.
		if errors.As(err, &te) && strings.Contains(te.Stderr, "No such file or directory") {
			return false, nil
		}
		return false, err
	}
	return ParsePfctlInfo(string(out))
}

func (h *toolHost) ZFS(ctx context.Context, root string) (ZFSReading, error) {
	return ReadZFS(ctx, root)
}

// otherHost is a machine without a FreeBSD kernel: there is no racct,
// msgbuf, ZFS for pot or pf to read, so every method says ErrUnsupported.
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
