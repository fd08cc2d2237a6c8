//go:build !linux

package main

import (
	"errors"
	"syscall"
)

func buildMachine(string) error { return errors.New("fbsdemu run needs Linux") }

func runAsInit([]string) int { return 1 }

func teardownMachine() {}

func machineProcAttr() *syscall.SysProcAttr { return nil }
