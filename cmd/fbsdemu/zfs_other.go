//go:build !linux

package main

import "errors"

var errZfsNoMount = errors.New("mounting datasets is only emulated on Linux")

func zfsSysMount(src, target string) error { return errZfsNoMount }

func zfsSysUnmount(target string, force bool) error { return errZfsNoMount }

func zfsReadMounts() []zfsMount { return nil }

func zfsMknod(path string, mode uint32, dev uint64) error { return errZfsNoMount }
