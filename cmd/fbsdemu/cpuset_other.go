//go:build !linux

package main

import "errors"

var errNoAffinity = errors.New("CPU affinity is emulated on Linux only")

func onlineCPUs() []int              { return []int{0} }
func getAffinity(int) ([]int, error) { return nil, errNoAffinity }
func setAffinity(int, []int) error   { return errNoAffinity }
func execvpCmd(tool string, _ []string) int {
	warnx(tool, "%v", errNoAffinity)
	return 1
}
