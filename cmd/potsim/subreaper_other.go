//go:build !linux

package main

func setSubreaper() error { return nil }
