//go:build !linux

package main

import "errors"

var errNotLinux = errors.New("not supported on this system")

func bindMount(src, dst string, ro bool) error { return errNotLinux }
func unmount(dst string) error                 { return errNotLinux }
func isMountPoint(p string) bool               { return false }
func mountPointsUnder(dir string) []string     { return nil }
