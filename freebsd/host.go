package freebsd

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrUnsupported is what the Host of a system other than FreeBSD answers.
var ErrUnsupported = errors.New("not supported on this system")

// RacctState is whether the kernel accounts resources (kern.racct.enable).
type RacctState int

const (
	// RacctUnsupported: not FreeBSD; there is no kernel to ask.
	RacctUnsupported RacctState = iota
	// RacctDisabled: FreeBSD with kern.racct.enable=0, or a kernel
	// without options RACCT. rctl refuses every rule.
	RacctDisabled
	// RacctEnabled: rctl rules apply and usage is accounted.
	RacctEnabled
)

func (s RacctState) String() string {
	switch s {
	case RacctDisabled:
		return "disabled"
	case RacctEnabled:
		return "enabled"
	}
	return "unsupported"
}

// RacctHowToEnable is what an operator does to enable racct.
const RacctHowToEnable = "enable it: add kern.racct.enable=1 to /boot/loader.conf and reboot"

// Host is the kernel state the driver reads. Detect returns the machine's:
// FreeBSD's tools where the kernel is FreeBSD (JailUsage a syscall), else
// methods that answer ErrUnsupported (and Racct RacctUnsupported). Tests
// substitute their own.
type Host interface {
	// Racct says whether kern.racct.enable is set.
	Racct() (RacctState, error)
	// ClockRateMHz is hw.clockrate: the MHz of one CPU, the unit Nomad's
	// cpu shares are counted in on FreeBSD.
	ClockRateMHz() (int, error)
	// JailUsage is the jail's racct usage (rctl_get_racct(2) for
	// jail:NAME), read without starting a process.
	JailUsage(jail string) (Usage, error)
	// KernelMessages is the kernel message buffer (sysctl kern.msgbuf).
	KernelMessages() (string, error)
	// Release is kern.osrelease, e.g. "14.3-RELEASE-p2".
	Release() (string, error)
	// VNET says whether the kernel has VIMAGE (kern.features.vimage).
	VNET() (bool, error)
	// PF says whether pf is enabled (pfctl -s info).
	PF(ctx context.Context) (bool, error)
	// ZFS reads pot's ZFS root dataset and its pool.
	ZFS(ctx context.Context, root string) (ZFSReading, error)
}

// ZFSReading is pot's ZFS root dataset and the pool it is on.
type ZFSReading struct {
	// Root is the dataset (pot config zfs_root), e.g. "zroot/pot".
	Root string
	// RootAvail is the space available to the dataset, in bytes.
	RootAvail uint64
	// Pool is the pool's name, the first component of Root.
	Pool string
	// PoolHealth is zpool's health: ONLINE, DEGRADED, FAULTED, ...
	PoolHealth string
	// PoolFree is the pool's free space, in bytes.
	PoolFree uint64
}

// ZFSError is a failed ZFS reading; Missing says the dataset or pool does
// not exist.
type ZFSError struct {
	What    string // "dataset zroot/pot" or "pool zroot"
	Missing bool
	Err     error
}

func (e *ZFSError) Error() string {
	if e.Missing {
		return fmt.Sprintf("%s does not exist", e.What)
	}
	return fmt.Sprintf("reading %s: %v", e.What, e.Err)
}

func (e *ZFSError) Unwrap() error { return e.Err }

// PoolName is the pool of a dataset: its first path component.
func PoolName(dataset string) string {
	p, _, _ := strings.Cut(dataset, "/")
	return p
}

// ZFSHealthy decides whether pot can work on its ZFS root: the reading (or
// its error) must show the dataset there and its pool ONLINE. The reason
// names what is wrong.
func ZFSHealthy(r ZFSReading, err error) (bool, string) {
	if err != nil {
		var ze *ZFSError
		if errors.As(err, &ze) && ze.Missing {
			return false, fmt.Sprintf("pot's ZFS root: %s (pot config zfs_root = %q)", ze.Error(), r.Root)
		}
		return false, fmt.Sprintf("pot's ZFS root %q: %v", r.Root, err)
	}
	if r.PoolHealth != "ONLINE" {
		health := r.PoolHealth
		if health == "" {
			health = "unknown"
		}
		return false, fmt.Sprintf("ZFS pool %s of pot's root %s is %s, not ONLINE", r.Pool, r.Root, health)
	}
	return true, ""
}

// ParsePfctlInfo reads pf's state from `pfctl -s info`, whose first line is
// "Status: Enabled for 0 days 01:02:03   Debug: Urgent" or "Status: Disabled ...".
func ParsePfctlInfo(out string) (bool, error) {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "Status:" {
			switch f[1] {
			case "Enabled":
				return true, nil
			case "Disabled":
				return false, nil
			}
			return false, fmt.Errorf("pfctl -s info: unexpected status %q", f[1])
		}
	}
	return false, errors.New("pfctl -s info: no Status line")
}
