//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

func pidAlive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) != syscall.ESRCH }

func processStart(int) time.Time { return time.Now() }

func measureUsage(string, []int, string, time.Time) (map[string]int64, error) {
	return nil, errors.New("resource usage is measured on Linux only")
}
