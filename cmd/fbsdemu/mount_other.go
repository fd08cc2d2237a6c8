//go:build !linux

package main

import "errors"

var errNoMount = errors.New("not supported off Linux")

func mountNull(string, string, bool) error { return errNoMount }

func mountFS(string, string, string, bool) error { return errNoMount }

func unmount(string, bool) error { return errNoMount }
