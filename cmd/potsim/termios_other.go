//go:build !linux

package main

import "errors"

func isTerminal(fd uintptr) bool         { return false }
func makeRaw(fd uintptr) (func(), error) { return nil, errors.New("not supported") }
func ptyCanonical(fd uintptr) bool       { return true }
func ptyEOFChar(fd uintptr) byte         { return 4 }
