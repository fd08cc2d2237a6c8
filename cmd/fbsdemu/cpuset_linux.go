package main

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// onlineCPUs are the machine's CPUs (/sys/devices/system/cpu/online).
func onlineCPUs() []int {
	if data, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		if l, ok := parseCPUSet(string(trimNL(data)), nil); ok {
			return l
		}
	}
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		var out []int
		for c := 0; c < 1024; c++ {
			if set.IsSet(c) {
				out = append(out, c)
			}
		}
		return out
	}
	return []int{0}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

func getAffinity(pid int) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &set); err != nil {
		return nil, err
	}
	var out []int
	for c := 0; c < 1024; c++ {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// setAffinity sets the CPUs of every thread of the process.
func setAffinity(pid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return unix.SchedSetaffinity(pid, &set)
	}
	var first error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH && first == nil {
			first = err
		}
	}
	return first
}

// execvpCmd replaces this process with cmd (PATH search), as the tool.
func execvpCmd(tool string, cmd []string) int {
	p, err := exec.LookPath(cmd[0])
	if err != nil {
		warnx(tool, "%s: %s", cmd[0], errnoStr(err))
		return 1
	}
	err = syscall.Exec(p, cmd, os.Environ())
	warnx(tool, "%s: %s", cmd[0], errnoStr(err))
	return 1
}
