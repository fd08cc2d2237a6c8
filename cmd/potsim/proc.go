package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procInfo is what potsim reads of a process from /proc/PID/stat.
type procInfo struct {
	Pid, Ppid, Pgrp, Sid int
	Comm                 string
	State                byte
	Utime, Stime         uint64 // clock ticks
	Start                uint64 // clock ticks after boot
	RSSPages             int64
}

// parseStat parses the content of /proc/PID/stat. The command name sits
// in parentheses and may itself hold spaces and parentheses: it ends at
// the last ')'.
func parseStat(data string) (procInfo, error) {
	var p procInfo
	open := strings.IndexByte(data, '(')
	closeIdx := strings.LastIndexByte(data, ')')
	if open < 0 || closeIdx < open {
		return p, fmt.Errorf("malformed stat line")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(data[:open]))
	if err != nil {
		return p, fmt.Errorf("malformed pid: %v", err)
	}
	p.Pid = pid
	p.Comm = data[open+1 : closeIdx]
	f := strings.Fields(data[closeIdx+1:])
	// f[0] is field 3 of proc(5) (state), so field N is f[N-3].
	if len(f) < 22 {
		return p, fmt.Errorf("short stat line")
	}
	p.State = f[0][0]
	ints := []struct {
		dst *int
		idx int
	}{{&p.Ppid, 1}, {&p.Pgrp, 2}, {&p.Sid, 3}}
	for _, x := range ints {
		v, err := strconv.Atoi(f[x.idx])
		if err != nil {
			return p, fmt.Errorf("field %d: %v", x.idx+3, err)
		}
		*x.dst = v
	}
	u64 := []struct {
		dst *uint64
		idx int
	}{{&p.Utime, 11}, {&p.Stime, 12}, {&p.Start, 19}}
	for _, x := range u64 {
		v, err := strconv.ParseUint(f[x.idx], 10, 64)
		if err != nil {
			return p, fmt.Errorf("field %d: %v", x.idx+3, err)
		}
		*x.dst = v
	}
	rss, err := strconv.ParseInt(f[21], 10, 64)
	if err != nil {
		return p, fmt.Errorf("field 24: %v", err)
	}
	p.RSSPages = rss
	return p, nil
}

func readProc(pid int) (procInfo, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procInfo{}, err
	}
	return parseStat(string(data))
}

// alive reports whether the process is there and not a zombie.
func (p procInfo) alive() bool { return p.State != 'Z' && p.State != 'X' && p.State != 'x' }

// listProcs reads every process of /proc.
func listProcs() []procInfo {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	var out []procInfo
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		p, err := readProc(pid)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out
}

// memStatus reads VmRSS and VmSwap (bytes) from the text of /proc/PID/status.
func parseMemStatus(data string) (rss, swap int64) {
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &rss
		case strings.HasPrefix(line, "VmSwap:"):
			dst = &swap
		default:
			continue
		}
		f := strings.Fields(line[strings.IndexByte(line, ':')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		mult := int64(1)
		if len(f) > 1 {
			switch strings.ToLower(f[1]) {
			case "kb":
				mult = 1024
			case "mb":
				mult = 1024 * 1024
			case "gb":
				mult = 1024 * 1024 * 1024
			}
		}
		*dst = v * mult
	}
	return rss, swap
}

// bootTime is the boot time in seconds since the epoch (btime of /proc/stat).
func bootTime() int64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	return parseBootTime(string(data))
}

func parseBootTime(data string) int64 {
	for _, line := range strings.Split(data, "\n") {
		if strings.HasPrefix(line, "btime ") {
			v, err := strconv.ParseInt(strings.TrimSpace(line[len("btime "):]), 10, 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}

// uptimeSeconds reads the first number of /proc/uptime.
func uptimeSeconds() float64 {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// clockRateMHz is hw.clockrate: the CPU clock in MHz, from /proc/cpuinfo or
// cpufreq; 1000 when neither says.
func clockRateMHz() int64 {
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if v := parseCPUMHz(string(data)); v > 0 {
			return v
		}
	}
	if data, err := os.ReadFile("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil && v > 0 {
			return v / 1000
		}
	}
	return 1000
}

func parseCPUMHz(data string) int64 {
	for _, line := range strings.Split(data, "\n") {
		if !strings.HasPrefix(line, "cpu MHz") {
			continue
		}
		i := strings.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[i+1:]), 64)
		if err == nil && v > 0 {
			return int64(v)
		}
	}
	return 0
}
