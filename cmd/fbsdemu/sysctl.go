package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sysctl(8): the emulated kernel's variables, those of a FreeBSD 14.3 amd64
// host with racct and VNET, kept in the state file sysctl.json so that a
// test can change one (sysctl kern.racct.enable=0).
func init() { register("sysctl", cmdSysctl) }

func defaultSysctls() map[string]string {
	boot := time.Now()
	if up, err := os.ReadFile("/proc/uptime"); err == nil {
		if f, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64); err == nil {
			boot = time.Now().Add(-time.Duration(f * float64(time.Second)))
		}
	}
	host, _ := os.Hostname()
	return map[string]string{
		"kern.ostype":                        "FreeBSD",
		"kern.osrelease":                     "14.3-RELEASE",
		"kern.osreldate":                     "1403000",
		"kern.version":                       "FreeBSD 14.3-RELEASE GENERIC",
		"kern.hostname":                      host,
		"kern.boottime":                      fmt.Sprintf("{ sec = %d, usec = %d } %s", boot.Unix(), boot.Nanosecond()/1000, boot.Format("Mon Jan _2 15:04:05 2006")),
		"kern.racct.enable":                  "1",
		"kern.racct.pcpu_threshold":          "1",
		"kern.features.vimage":               "1",
		"kern.features.inet6":                "1",
		"kern.features.racct":                "1",
		"kern.features.rctl":                 "1",
		"kern.msgbufsize":                    "98304",
		"kern.msgbuf":                        "",
		"hw.machine":                         "amd64",
		"hw.machine_arch":                    "amd64",
		"hw.ncpu":                            strconv.Itoa(runtime.NumCPU()),
		"hw.clockrate":                       strconv.Itoa(cpuMHz()),
		"hw.physmem":                         strconv.FormatUint(physMem(), 10),
		"net.inet.ip.forwarding":             "0",
		"net.inet6.ip6.forwarding":           "0",
		"net.inet.ip.portrange.reservedhigh": "1023",
		"net.inet.ip.portrange.first":        "10000",
		"net.inet.ip.portrange.last":         "65535",
		"security.jail.jailed":               "0",
		"security.jail.enforce_statfs":       "2",
	}
}

// cpuMHz is the clock rate /proc/cpuinfo reports (1000 if it says none).
func cpuMHz() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 1000
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			if mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && mhz >= 1 {
				return int(mhz)
			}
		}
	}
	return 1000
}

func physMem() uint64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// sysctls reads the emulated kernel's variables (the defaults inside a
// jail, which does not see the state folder).
func sysctls() map[string]string {
	m := map[string]string{}
	if err := loadJSON("sysctl.json", &m); err != nil || len(m) == 0 {
		return defaultSysctls()
	}
	return m
}

// sysctlValue is one variable ("", false when the kernel has no such oid).
func sysctlValue(name string) (string, bool) {
	v, ok := sysctls()[name]
	return v, ok
}

func cmdSysctl(args []string) int {
	var noName, quiet, all bool
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-") && len(args[i]) > 1; i++ {
		for _, c := range args[i][1:] {
			switch c {
			case 'n':
				noName = true
			case 'q':
				quiet = true
			case 'a':
				all = true
			case 'e', 'h', 'i', 'N', 'o', 'x', 'd', 't', 'W', 'T':
				// accepted, no effect here
			default:
				warnx("sysctl", "illegal option -- %c", c)
				fmt.Fprintln(os.Stderr, "usage: sysctl [-bdehiNnoqTtWx] [ -B <bufsize> ] [-f filename] name[=value] ...")
				return 1
			}
		}
	}
	names := args[i:]
	var m map[string]string
	var set bool
	rc := 0
	err := withLock("sysctl", func() error {
		m = sysctls()
		if all && len(names) == 0 {
			for n := range m {
				names = append(names, n)
			}
			sort.Strings(names)
		}
		for _, n := range names {
			name, value, isSet := strings.Cut(n, "=")
			old, ok := m[name]
			if !ok {
				// An oid that is a prefix of others lists them all.
				var below []string
				for k := range m {
					if strings.HasPrefix(k, name+".") {
						below = append(below, k)
					}
				}
				if len(below) == 0 || isSet {
					if !quiet {
						warnx("sysctl", "unknown oid '%s'", name)
					}
					rc = 1
					continue
				}
				sort.Strings(below)
				for _, k := range below {
					printSysctl(k, m[k], noName)
				}
				continue
			}
			if isSet {
				m[name] = value
				set = true
				if noName {
					fmt.Println(value)
				} else {
					fmt.Printf("%s: %s -> %s\n", name, old, value)
				}
				continue
			}
			printSysctl(name, old, noName)
		}
		if set {
			return saveJSON("sysctl.json", m)
		}
		return nil
	})
	if err != nil {
		warnx("sysctl", "%v", err)
		return 1
	}
	return rc
}

func printSysctl(name, value string, noName bool) {
	if noName {
		fmt.Println(value)
	} else {
		fmt.Printf("%s: %s\n", name, value)
	}
}
