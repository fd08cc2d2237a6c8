//go:build !linux

package main

func cmdWire([]string) int {
	warnx("fbsdemu", "wire: needs Linux (a machine of fbsdemu run)")
	return 1
}
