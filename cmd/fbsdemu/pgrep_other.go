//go:build !linux

package main

import "errors"

func listProcs() ([]procInfo, error) {
	return nil, errors.New("processes are read from Linux's /proc only")
}
