package main

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// bindMount is mount_nullfs for root: a bind mount, remounted read-only
// for ro.
func bindMount(src, dst string, ro bool) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	if ro {
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			_ = unix.Unmount(dst, unix.MNT_DETACH)
			return err
		}
	}
	return nil
}

func unmount(dst string) error {
	if err := unix.Unmount(dst, 0); err != nil {
		return unix.Unmount(dst, unix.MNT_DETACH)
	}
	return nil
}

// mountPoints lists the mount points of /proc/self/mountinfo.
func mountPoints() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	return parseMountInfo(string(data))
}

func isMountPoint(p string) bool {
	p = filepath.Clean(p)
	for _, mp := range mountPoints() {
		if mp == p {
			return true
		}
	}
	return false
}

// mountPointsUnder lists the mount points below dir, in mount order.
func mountPointsUnder(dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, mp := range mountPoints() {
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}
