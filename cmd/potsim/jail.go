package main

import (
	"encoding/json"
	"os"
	"sort"
	"syscall"
	"time"
)

// A potsim "jail" is made of process groups: the one of the pot's start
// script (its leader is the pot's main process), plus one per `pot exec`.
// potsim start also makes itself a child subreaper, so processes of the
// jail that leave their group (setsid, setpgid) stay its descendants and
// are found too. jailState is kept in tmp/potsim_jail_NAME.json from the
// start of the jail until it is stopped.
type jailState struct {
	Name string `json:"name"`
	// JID is what `pot info -E` prints as _POT_JID: the pgid of the jail.
	JID    int         `json:"jid"`
	Groups []jailGroup `json:"groups"`
	// StartPid is the pid of `potsim start`; StartPidStart its start time,
	// so a recycled pid is recognized; StartPgrp its own process group.
	StartPid      int    `json:"start_pid"`
	StartPidStart uint64 `json:"start_pid_start"`
	StartPgrp     int    `json:"start_pgrp"`
	MainPid       int    `json:"main_pid"`
	// Persist: a persistent pot stays "running" while its status is
	// started, as a persist jail stays without processes.
	Persist bool   `json:"persist"`
	IP      string `json:"ip,omitempty"`
	// Ports are the port forwardings potsim start runs (pot's pf rdr).
	Ports []forwardedPort `json:"ports,omitempty"`
}

type jailGroup struct {
	Pgid int `json:"pgid"`
	// LeaderStart is the start time of the group leader, to tell a
	// recycled pid from the leader.
	LeaderStart uint64 `json:"leader_start"`
}

type forwardedPort struct {
	Proto    string `json:"proto"`
	PotPort  int    `json:"pot_port"`
	HostPort int    `json:"host_port"`
	IP       string `json:"ip"`
}

func jailLockFile(name string) string { return jailStateFile(name) + ".lock" }

func loadJail(name string) (*jailState, error) {
	data, err := os.ReadFile(jailStateFile(name))
	if err != nil {
		return nil, err
	}
	var st jailState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func saveJail(st *jailState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(jailStateFile(st.Name), append(data, '\n'), 0o644)
}

// updateJail changes the jail state under its lock.
func updateJail(name string, fn func(st *jailState)) error {
	var err error
	withLock(jailLockFile(name), func() {
		var st *jailState
		st, err = loadJail(name)
		if err != nil {
			return
		}
		fn(st)
		err = saveJail(st)
	})
	return err
}

func removeJail(name string) {
	withLock(jailLockFile(name), func() {
		os.Remove(jailStateFile(name))
	})
	os.Remove(jailLockFile(name))
}

// jailMembers returns the live processes of the jail, from procs.
func jailMembers(st *jailState, procs []procInfo) []procInfo {
	if st == nil {
		return nil
	}
	byPid := make(map[int]procInfo, len(procs))
	for _, p := range procs {
		byPid[p.Pid] = p
	}
	groups := validGroups(st, byPid)
	startAlive := false
	if p, ok := byPid[st.StartPid]; ok && st.StartPid > 0 && p.Start == st.StartPidStart && p.alive() {
		startAlive = true
	}
	var out []procInfo
	for _, p := range procs {
		if !p.alive() {
			continue
		}
		if groups[p.Pgrp] {
			out = append(out, p)
			continue
		}
		if startAlive && p.Pid != st.StartPid && p.Pgrp != st.StartPgrp && descendantOf(p, st.StartPid, byPid) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out
}

// validGroups are the jail's process groups whose pgid was not recycled.
func validGroups(st *jailState, byPid map[int]procInfo) map[int]bool {
	groups := map[int]bool{}
	for _, g := range st.Groups {
		if g.Pgid <= 1 {
			continue
		}
		if leader, ok := byPid[g.Pgid]; ok && leader.Start != g.LeaderStart {
			continue // the pgid is a recycled pid now: the group is gone
		}
		groups[g.Pgid] = true
	}
	return groups
}

func descendantOf(p procInfo, ancestor int, byPid map[int]procInfo) bool {
	seen := 0
	for p.Ppid > 1 && seen < 4096 {
		if p.Ppid == ancestor {
			return true
		}
		q, ok := byPid[p.Ppid]
		if !ok {
			return false
		}
		p = q
		seen++
	}
	return false
}

// isRunning is _is_pot_running (`jls -j NAME`): the jail has processes, or
// it is a persistent pot in status started.
func isRunning(name string) bool {
	if !safeName(name) {
		return false
	}
	st, err := loadJail(name)
	if err != nil {
		return false
	}
	if st.Persist {
		if s, _ := getStatus(name); s == "started" {
			return true
		}
	}
	return len(jailMembers(st, listProcs())) > 0
}

// signalJail sends sig to every process of the jail and to its groups; it
// returns how many processes there were.
func signalJail(st *jailState, sig syscall.Signal) int {
	procs := listProcs()
	members := jailMembers(st, procs)
	byPid := make(map[int]procInfo, len(procs))
	for _, p := range procs {
		byPid[p.Pid] = p
	}
	for pgid := range validGroups(st, byPid) {
		if len(members) > 0 {
			_ = syscall.Kill(-pgid, sig)
		}
	}
	for _, p := range members {
		_ = syscall.Kill(p.Pid, sig)
	}
	return len(members)
}

// killJail ends the processes of a jail like `jail -r`: SIGTERM to all,
// up to timeout for them to exit, then SIGKILL; a timeout of 0 kills at
// once. It returns once no process is left (or after a last grace period).
func killJail(st *jailState, timeout time.Duration) {
	if timeout > 0 {
		if signalJail(st, syscall.SIGTERM) == 0 {
			return
		}
		// SIGTERM wakes stopped processes only once they are continued.
		signalJail(st, syscall.SIGCONT)
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			if len(jailMembers(st, listProcs())) == 0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if signalJail(st, syscall.SIGKILL) == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startProcessAlive reports whether the potsim start process of the jail is
// still there.
func startProcessAlive(st *jailState) bool {
	if st == nil || st.StartPid <= 0 {
		return false
	}
	p, err := readProc(st.StartPid)
	return err == nil && p.Start == st.StartPidStart && p.alive()
}
