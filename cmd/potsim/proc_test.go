package main

import "testing"

func TestParseStat(t *testing.T) {
	line := "4242 (my (odd) prog) S 1 4240 4200 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 1 0 987654 10000000 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	p, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid != 4242 || p.Comm != "my (odd) prog" || p.State != 'S' || p.Ppid != 1 || p.Pgrp != 4240 ||
		p.Sid != 4200 || p.Utime != 150 || p.Stime != 25 || p.Start != 987654 || p.RSSPages != 321 {
		t.Errorf("parsed %+v", p)
	}
	if _, err := parseStat("12 (short) S 1 2"); err == nil {
		t.Error("short line accepted")
	}
	if _, err := parseStat("garbage"); err == nil {
		t.Error("garbage accepted")
	}
}

func TestParseMemStatus(t *testing.T) {
	rss, swap := parseMemStatus("Name:\tx\nVmRSS:\t    1732 kB\nRssAnon:\t 112 kB\nVmSwap:\t      8 kB\n")
	if rss != 1732*1024 || swap != 8*1024 {
		t.Errorf("rss=%d swap=%d", rss, swap)
	}
	if rss, swap := parseMemStatus("Name:\tkthread\n"); rss != 0 || swap != 0 {
		t.Errorf("kernel thread: %d %d", rss, swap)
	}
}

func TestSmallParsers(t *testing.T) {
	if v := parseBootTime("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"); v != 1700000000 {
		t.Errorf("btime = %d", v)
	}
	if v := parseCPUMHz("processor\t: 0\ncpu MHz\t\t: 2596.120\n"); v != 2596 {
		t.Errorf("MHz = %d", v)
	}
	mps := parseMountInfo("36 35 98:0 / /mnt/a\\040b rw - ext3 /dev/x rw\n37 35 98:0 / /proc rw - proc proc rw\n")
	if len(mps) != 2 || mps[0] != "/mnt/a b" || mps[1] != "/proc" {
		t.Errorf("mount points %q", mps)
	}
}

func TestBcCPUTime(t *testing.T) {
	cases := []struct {
		mhz, pcpu int64
		want      string
	}{
		{2596, 0, "0"}, {2596, 1, "25.960"}, {2597, 3, "77.910"}, {2600, 100, "2600.000"}, {50, 1, ".500"},
		{1000, 250, "2500.000"},
	}
	for _, c := range cases {
		if got := bcCPUTime(c.mhz, c.pcpu); got != c.want {
			t.Errorf("bcCPUTime(%d,%d) = %q, want %q", c.mhz, c.pcpu, got, c.want)
		}
	}
}

func TestJailMembers(t *testing.T) {
	procs := []procInfo{
		{Pid: 100, Ppid: 1, Pgrp: 100, State: 'S', Start: 5},    // potsim start
		{Pid: 200, Ppid: 100, Pgrp: 200, State: 'S', Start: 10}, // jail leader
		{Pid: 201, Ppid: 200, Pgrp: 200, State: 'S', Start: 11}, // child
		{Pid: 202, Ppid: 100, Pgrp: 202, State: 'S', Start: 12}, // setsid orphan, reparented
		{Pid: 203, Ppid: 100, Pgrp: 100, State: 'S', Start: 13}, // hook in start's group
		{Pid: 204, Ppid: 200, Pgrp: 200, State: 'Z', Start: 14}, // zombie
		{Pid: 300, Ppid: 1, Pgrp: 300, State: 'S', Start: 15},   // unrelated
		{Pid: 400, Ppid: 1, Pgrp: 400, State: 'S', Start: 99},   // recycled pgid of an exec group
		{Pid: 500, Ppid: 1, Pgrp: 500, State: 'S', Start: 50},   // exec group
	}
	st := &jailState{
		Groups:        []jailGroup{{200, 10}, {400, 40}, {500, 50}},
		StartPid:      100,
		StartPidStart: 5,
		StartPgrp:     100,
	}
	var got []int
	for _, p := range jailMembers(st, procs) {
		got = append(got, p.Pid)
	}
	want := []int{200, 201, 202, 500}
	if len(got) != len(want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("members %v, want %v", got, want)
		}
	}
}

func TestBreToRE(t *testing.T) {
	r := re(breToRE("/data/a+b(1) "))
	if !r.MatchString("/data/a+b(1) /mnt") {
		t.Error("literal + and () should match")
	}
	if r.MatchString("/data/aab1 /mnt") {
		t.Error("+ must not be a repetition in a basic expression")
	}
}
