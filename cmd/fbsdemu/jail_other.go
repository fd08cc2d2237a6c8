//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

var errNoJails = errors.New("jails are emulated on Linux only")

func cgroupPids(string) []int             { return nil }
func signalCgroup(string, syscall.Signal) {}
func killCgroup(string, time.Duration)    {}
func setupJail(*jailRec, []string) error  { return errNoJails }
func teardownJail(*jailRec)               {}
func enterJail(string, bool, string, bool, []string) int {
	warnx("jexec", "%v", errNoJails)
	return 1
}
