package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

const getRssHelp = `pot get-rss [-h] -p pot
  -h print this help
  -v verbose
  -p pot : the working pot
  -J : output in JSON format
`

// usage is what `rctl -u jail:NAME` reports, computed from /proc over the
// processes of the jail.
type usage struct {
	Mem, VMem, Swap int64
	CPUTicks        uint64 // utime+stime, 1/100 s
	Pcpu            int64  // percent of one CPU
}

// rssSample is the previous reading, kept to compute pcpu between calls.
type rssSample struct {
	Ticks uint64  `json:"ticks"`
	Time  float64 `json:"time"` // seconds of uptime
	JID   int     `json:"jid"`
}

func rssSampleFile(name string) string { return filepath.Join(tmpDir(), "potsim_rss_"+name+".json") }

const clockTicks = 100 // USER_HZ

// jailUsage sums the usage of the jail's processes. pcpu is the CPU time
// used since the previous get-rss of this jail divided by the time between
// them, or over the life of the jail for the first call.
func jailUsage(name string, st *jailState) usage {
	var u usage
	members := jailMembers(st, listProcs())
	var earliest uint64
	for i, p := range members {
		u.CPUTicks += p.Utime + p.Stime
		if i == 0 || p.Start < earliest {
			earliest = p.Start
		}
		if data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid), "status")); err == nil {
			rss, swap := parseMemStatus(string(data))
			u.Mem += rss
			u.Swap += swap
		} else {
			u.Mem += p.RSSPages * int64(os.Getpagesize())
		}
		if data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.Pid), "statm")); err == nil {
			var size int64
			if _, err := fmt.Sscan(string(data), &size); err == nil {
				u.VMem += size * int64(os.Getpagesize())
			}
		}
	}
	now := uptimeSeconds()
	prev := rssSample{}
	havePrev := false
	if data, err := os.ReadFile(rssSampleFile(name)); err == nil {
		if json.Unmarshal(data, &prev) == nil && prev.JID == st.JID && now > prev.Time {
			havePrev = true
		}
	}
	if havePrev && u.CPUTicks >= prev.Ticks {
		u.Pcpu = int64(float64(u.CPUTicks-prev.Ticks) / (now - prev.Time))
	} else if len(members) > 0 {
		life := now - float64(earliest)/clockTicks
		if life > 0 {
			u.Pcpu = int64(float64(u.CPUTicks) / life)
		}
	}
	if data, err := json.Marshal(rssSample{Ticks: u.CPUTicks, Time: now, JID: st.JID}); err == nil {
		_ = writeFileAtomic(rssSampleFile(name), data, 0o644)
	}
	return u
}

// bcCPUTime is `printf "scale=3\n %s * %s / 100\n" CLOCK PCPU | bc`.
func bcCPUTime(clockMHz, pcpu int64) string {
	v := clockMHz * pcpu * 1000 / 100 // thousandths, truncated as bc does
	if v == 0 {
		return "0"
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	if v < 1000 {
		return fmt.Sprintf("%s.%03d", sign, v)
	}
	return fmt.Sprintf("%s%d.%03d", sign, v/1000, v%1000)
}

func cmdGetRss(args []string) int {
	pname := ""
	jsonOut := false
	opts, _ := getopts(args, "hvp:J")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(getRssHelp)
			exit(0)
		case 'v':
			verbosity++
		case 'p':
			pname = o.arg
		case 'J':
			jsonOut = true
		default:
			printHelp(getRssHelp)
			exit(1)
		}
	}
	mandatory(pname, "A pot name is mandatory", getRssHelp)
	if !isRunning(pname) {
		errorf("The pot %s is not running", pname)
		exit(1)
	}
	st, err := loadJail(pname)
	if err != nil {
		errorf("The pot %s is not running", pname)
		exit(1)
	}
	u := jailUsage(pname, st)
	cputime := bcCPUTime(clockRateMHz(), u.Pcpu)
	if jsonOut {
		fmt.Printf("{ \"ResourceUsage\": { \"MemoryStats\": { \"RSS\" : %d, \"Swap\" : %d }, \"CpuStats\": { \"TotalTicks\": %s, \"Percent\": %d } } } \n",
			u.Mem, u.Swap, cputime, u.Pcpu)
	} else {
		fmt.Printf("Resource usage by the pot %s\n", pname)
		fmt.Printf("\tcpu time (ticks spent) : %d\n", u.CPUTicks/clockTicks)
		fmt.Printf("\tcpu time (MHz)         : %s\n", cputime)
		fmt.Printf("\tpcpu (%%)               : %d\n", u.Pcpu)
		fmt.Printf("\tvirtual memory         : %d\n", u.VMem)
		fmt.Printf("\tphysical memory        : %d\n", u.Mem)
		fmt.Printf("\tswap memory            : %d\n", u.Swap)
	}
	exit(0)
	return 0
}
