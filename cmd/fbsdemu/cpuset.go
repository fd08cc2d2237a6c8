package main

// cpuset(1): -g and -l for jails (-j), processes (-p) and commands. A
// jail's set is remembered (jexec applies it) and applied to every process
// of the jail with sched_setaffinity.

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

func init() { register("cpuset", cmdCpuset) }

// parseCPUSet parses cpuset -l's list: "0-3,5" or "all".
func parseCPUSet(s string, online []int) ([]int, bool) {
	if s == "all" {
		return online, true
	}
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		l, err1 := strconv.Atoi(lo)
		h := l
		var err2 error
		if isRange {
			h, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || l < 0 || h < l || h > 1023 {
			return nil, false
		}
		for c := l; c <= h; c++ {
			seen[c] = true
		}
	}
	var out []int
	for c := range seen {
		out = append(out, c)
	}
	sort.Ints(out)
	return out, len(out) > 0
}

func formatMask(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ", ")
}

func cmdCpuset(args []string) int {
	var get bool
	var list, jail, pid string
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for k := 1; k < len(a); k++ {
			switch c := a[k]; c {
			case 'g':
				get = true
			case 'c', 'r':
			case 'l', 'j', 'p', 't', 's', 'x', 'd', 'n', 'C':
				if c == 'C' {
					continue
				}
				var v string
				if k+1 < len(a) {
					v = a[k+1:]
				} else if i+1 < len(args) {
					i++
					v = args[i]
				} else {
					return cpusetUsage()
				}
				k = len(a)
				switch c {
				case 'l':
					list = v
				case 'j':
					jail = v
				case 'p':
					pid = v
				default:
					warnx("cpuset", "-%c is not supported by the emulation", c)
					return 1
				}
			default:
				warnx("cpuset", "illegal option -- %c", c)
				return cpusetUsage()
			}
		}
	}
	cmd := args[i:]
	online := onlineCPUs()
	var cpus []int
	if list != "" {
		var ok bool
		if cpus, ok = parseCPUSet(list, online); !ok {
			warnx("cpuset", "Malformed cpu-list %s", list)
			return 1
		}
		for _, c := range cpus {
			if !containsInt(online, c) {
				warnx("cpuset", "setaffinity: Resource deadlock avoided")
				return 1
			}
		}
	}
	switch {
	case get:
		if list != "" || len(cmd) > 0 {
			return cpusetUsage()
		}
		which, id, mask := "pid", "-1", online
		if jail != "" {
			j, err := lookupJail(jail)
			if err != nil || j == nil {
				warnx("cpuset", "%s", notFoundMsg(jail))
				return 1
			}
			which, id = "jail", strconv.Itoa(j.JID)
			if len(j.CPUs) > 0 {
				mask = j.CPUs
			}
		} else {
			p := 0
			if pid != "" {
				n, err := strconv.Atoi(pid)
				if err != nil || !pidAlive(n) {
					warnx("cpuset", "getaffinity: No such process")
					return 1
				}
				p, id = n, pid
			}
			m, err := getAffinity(p)
			if err != nil {
				warnx("cpuset", "getaffinity: %s", errnoStr(err))
				return 1
			}
			mask = m
		}
		fmt.Printf("%s %s mask: %s\n", which, id, formatMask(mask))
		fmt.Printf("%s %s domain policy: first-touch mask: 0\n", which, id)
		return 0
	case list == "":
		return cpusetUsage()
	case jail != "":
		if len(cmd) > 0 || pid != "" {
			return cpusetUsage()
		}
		var pids []int
		err := withJails(func(db *jailDB) error {
			j := db.find(jail)
			if j == nil {
				return fmt.Errorf("%s", notFoundMsg(jail))
			}
			j.CPUs = cpus
			pids = cgroupPids(j.Cgroup)
			return nil
		})
		if err != nil {
			warnx("cpuset", "%v", err)
			return 1
		}
		for _, p := range pids {
			_ = setAffinity(p, cpus) // a process gone meanwhile is fine
		}
		return 0
	case pid != "":
		n, err := strconv.Atoi(pid)
		if err != nil {
			warnx("cpuset", "invalid pid %s", pid)
			return 1
		}
		if err := setAffinity(n, cpus); err != nil {
			warnx("cpuset", "setaffinity: %s", errnoStr(err))
			return 1
		}
		return 0
	case len(cmd) > 0:
		if err := setAffinity(os.Getpid(), cpus); err != nil {
			warnx("cpuset", "setaffinity: %s", errnoStr(err))
			return 1
		}
		return execvpCmd("cpuset", cmd)
	}
	return cpusetUsage()
}

func containsInt(l []int, v int) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func cpusetUsage() int {
	fmt.Fprintln(os.Stderr, "usage: cpuset [-l cpu-list] [-n policy:domain-list] [-s setid] cmd ...\n       cpuset [-l cpu-list] [-n policy:domain-list] [-s setid] -p pid\n       cpuset [-c] [-l cpu-list] [-n policy:domain-list] -j jailid\n       cpuset -g [-cir] [-d domain | -j jailid | -p pid | -t tid | -s setid]")
	return 1
}
