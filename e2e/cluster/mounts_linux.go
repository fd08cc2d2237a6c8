package cluster

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount below dir (bind mounts potsim left,
// the tmpfs Nomad mounts on a task's secrets/). It returns the mount points
// that are still there.
func unmountUnder(dir string) []string {
	for _, mp := range mountsUnder(dir) {
		_ = syscall.Unmount(mp, syscall.MNT_DETACH)
	}
	return mountsUnder(dir)
}

// processesOf lists the pids (not our own) left from the run in dir: the
// executable is below dir (the plugin, potsim, the web server), or the
// environment names dir (RunEnv, which every process the cluster starts
// passes on to its children — Nomad's logmon, the jails — or potsim's
// root below dir).
func processesOf(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	markers := [][]byte{
		[]byte(RunEnv + "=" + dir + "\x00"),
		[]byte("POTSIM_ROOT=" + filepath.Join(dir, "potsim") + "\x00"),
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil {
			exe = strings.TrimSuffix(exe, " (deleted)")
			if strings.HasPrefix(exe, dir+"/") {
				pids = append(pids, pid)
				continue
			}
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		env = append(env, 0)
		for _, m := range markers {
			if bytes.Contains(env, m) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
