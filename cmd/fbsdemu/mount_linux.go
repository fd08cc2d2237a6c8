package main

import (
	"errors"

	"golang.org/x/sys/unix"
)

func mountNull(src, dst string, ro bool) error {
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

func mountFS(fstype, src, dst string, ro bool) error {
	var flags uintptr
	if ro {
		flags |= unix.MS_RDONLY
	}
	return unix.Mount(src, dst, fstype, flags, "")
}

// unmount unmounts target; with force a busy mount is detached.
func unmount(target string, force bool) error {
	err := unix.Unmount(target, 0)
	if errors.Is(err, unix.EBUSY) && force {
		err = unix.Unmount(target, unix.MNT_DETACH)
	}
	return err
}
