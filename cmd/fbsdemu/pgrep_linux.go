package main

import (
	"os"
	"strconv"
	"strings"
)

// listProcs reads every process of /proc.
func listProcs() ([]procInfo, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func readProc(pid int) (procInfo, bool) {
	p := procInfo{pid: pid}
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return p, false
	}
	s := string(stat)
	lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if lp < 0 || rp < lp {
		return p, false
	}
	p.comm = s[lp+1 : rp]
	f := strings.Fields(s[rp+1:])
	// f[0] is field 3 (state).
	if len(f) < 20 {
		return p, false
	}
	if f[0] == "Z" {
		return p, false // zombies are gone for pgrep
	}
	num := func(i int) int { n, _ := strconv.Atoi(f[i]); return n }
	p.ppid, p.pgrp, p.sid, p.tty = num(1), num(2), num(3), num(4)
	flags, _ := strconv.ParseUint(f[6], 10, 64)
	p.kernel = flags&0x00200000 != 0 // PF_KTHREAD
	p.start, _ = strconv.ParseUint(f[19], 10, 64)
	if st, err := os.ReadFile(dir + "/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			vs := strings.Fields(v)
			if len(vs) < 2 {
				continue
			}
			switch k {
			case "Uid":
				p.ruid, _ = strconv.Atoi(vs[0])
				p.euid, _ = strconv.Atoi(vs[1])
			case "Gid":
				p.rgid, _ = strconv.Atoi(vs[0])
				p.egid, _ = strconv.Atoi(vs[1])
			}
		}
	}
	if cl, err := os.ReadFile(dir + "/cmdline"); err == nil && len(cl) > 0 {
		p.args = strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
	}
	return p, true
}
