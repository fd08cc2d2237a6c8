package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func pidAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) != syscall.ESRCH
}

// clkTck is USER_HZ, the unit of /proc/PID/stat's times.
const clkTck = 100

// bootTime is when the machine booted (for processes' start times).
func bootTime() time.Time {
	data, err := os.ReadFile("/proc/stat")
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "btime "); ok {
				if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
					return time.Unix(n, 0)
				}
			}
		}
	}
	return time.Now()
}

func processStart(pid int) time.Time {
	p, ok := readProc(pid)
	if !ok {
		return time.Now()
	}
	return bootTime().Add(time.Duration(p.start) * time.Second / clkTck)
}

// measureUsage is racct's usage of a set of processes, from /proc (and the
// cgroup's cpu.stat for CPU time, which counts the processes gone too).
func measureUsage(key string, pids []int, cgroup string, start time.Time) (map[string]int64, error) {
	u := map[string]int64{}
	var ticks int64
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid)
		st, err := os.ReadFile(dir + "/status")
		if err != nil {
			continue // gone meanwhile
		}
		u["maxproc"]++
		for _, line := range strings.Split(string(st), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			fs := strings.Fields(v)
			if len(fs) == 0 {
				continue
			}
			n, _ := strconv.ParseInt(fs[0], 10, 64)
			kb := n * 1024
			switch k {
			case "VmRSS":
				u["memoryuse"] += kb
			case "VmSize":
				u["vmemoryuse"] += kb
			case "VmSwap":
				u["swapuse"] += kb
			case "VmLck":
				u["memorylocked"] += kb
			case "VmData":
				u["datasize"] += kb
			case "VmStk":
				u["stacksize"] += kb
			case "Threads":
				u["nthr"] += n
			}
		}
		if fds, err := os.ReadDir(dir + "/fd"); err == nil {
			u["openfiles"] += int64(len(fds))
			for _, fd := range fds {
				if t, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && strings.HasPrefix(t, "/dev/pts/") {
					u["pseudoterminals"]++
				}
			}
		}
		if stat, err := os.ReadFile(dir + "/stat"); err == nil {
			s := string(stat)
			if i := strings.LastIndexByte(s, ')'); i > 0 {
				f := strings.Fields(s[i+1:])
				if len(f) > 12 {
					ut, _ := strconv.ParseInt(f[11], 10, 64)
					stt, _ := strconv.ParseInt(f[12], 10, 64)
					ticks += ut + stt
				}
			}
		}
	}
	usec := ticks * 1_000_000 / clkTck
	if cgroup != "" {
		if data, err := os.ReadFile(filepath.Join(cgroup, "cpu.stat")); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
					if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > usec {
						usec = n
					}
				}
			}
		}
	}
	u["cputime"] = usec / 1_000_000
	u["wallclock"] = int64(time.Since(start).Seconds())
	u["pcpu"] = pcpuOf(key, usec, start)
	return u, nil
}
