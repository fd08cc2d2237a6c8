package main

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupBase is the cgroup v2 folder holding the jails' cgroups: the run's
// ($FBSDEMU_CGROUP), else one per state folder.
func cgroupBase() (string, error) {
	if d := os.Getenv(cgroupEnv); d != "" {
		return d, nil
	}
	sd, err := stateDir()
	if err != nil {
		return "", err
	}
	h := fnv.New32a()
	h.Write([]byte(sd))
	return filepath.Join(cgroup2Root, "fbsdemu", fmt.Sprintf("%08x", h.Sum32())), nil
}

// cgroupPids are the processes of a cgroup (nil when it does not exist).
func cgroupPids(dir string) []int {
	if dir == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil && n > 0 {
			pids = append(pids, n)
		}
	}
	return pids
}

func signalCgroup(dir string, sig syscall.Signal) {
	for _, p := range cgroupPids(dir) {
		_ = syscall.Kill(p, sig)
	}
}

// killCgroup kills every process of the cgroup and waits (up to wait)
// until it is empty.
func killCgroup(dir string, wait time.Duration) {
	if dir == "" {
		return
	}
	deadline := time.Now().Add(wait)
	for len(cgroupPids(dir)) > 0 {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644); err != nil {
			signalCgroup(dir, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setupJail makes the jail's cgroup, /dev, network namespace and
// addresses (called under the jails' lock).
func setupJail(j *jailRec, vnetIfaces []string) error {
	if fi, err := os.Stat(j.Path); err != nil || !fi.IsDir() {
		if err == nil {
			err = unix.ENOTDIR
		}
		return fmt.Errorf("path %s: %s", j.Path, errnoStr(err))
	}
	base, err := cgroupBase()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return fmt.Errorf("cgroup: %v", err)
	}
	j.Cgroup = filepath.Join(base, strconv.Itoa(j.JID))
	if err := os.Mkdir(j.Cgroup, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cgroup: %v", err)
	}
	if v, ok := j.Params["mount.devfs"]; ok && truthy(v) {
		dev := filepath.Join(j.Path, "dev")
		if err := os.MkdirAll(dev, 0o755); err != nil {
			return fmt.Errorf("mount.devfs: %v", err)
		}
		if err := unix.Mount("/dev", dev, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mount.devfs: %s", errnoStr(err))
		}
		j.Devfs = dev
	}
	if j.Vnet {
		p, err := statePath("jails", "netns", strconv.Itoa(j.JID))
		if err != nil {
			return err
		}
		if err := newNetns(p); err != nil {
			return fmt.Errorf("vnet: %v", err)
		}
		j.Netns = p
		for _, ifc := range vnetIfaces {
			if err := ipCmd("link", "set", "dev", ifc, "netns", p); err != nil {
				return fmt.Errorf("vnet.interface %s: %v", ifc, err)
			}
			j.Ifaces = append(j.Ifaces, ifc)
		}
	}
	for _, list := range [][]string{j.IP4, j.IP6} {
		for _, a := range list {
			ifc, addr, ok := strings.Cut(a, "|")
			if !ok {
				continue
			}
			if !strings.Contains(addr, "/") {
				if strings.Contains(addr, ":") {
					addr += "/128"
				} else {
					addr += "/32"
				}
			}
			if err := ipCmd("addr", "add", addr, "dev", ifc); err != nil && !strings.Contains(err.Error(), "exists") {
				return fmt.Errorf("%s: %v", a, err)
			}
			j.Aliases = append(j.Aliases, ifc+" "+addr)
		}
	}
	return nil
}

// teardownJail undoes setupJail, killing what is left in the jail.
func teardownJail(j *jailRec) {
	for _, a := range j.Aliases {
		ifc, addr, _ := strings.Cut(a, " ")
		_ = ipCmd("addr", "del", addr, "dev", ifc)
	}
	j.Aliases = nil
	if j.Devfs != "" {
		_ = unix.Unmount(j.Devfs, unix.MNT_DETACH)
		j.Devfs = ""
	}
	killCgroup(j.Cgroup, 5*time.Second)
	if j.Netns != "" {
		// As on FreeBSD, the interfaces given to the jail come back.
		if ns := hostPath("nsenter"); ns != "" {
			for _, ifc := range j.Ifaces {
				_ = exec.Command(ns, "--net="+j.Netns, "ip", "link", "set", "dev", ifc, "netns", strconv.Itoa(os.Getpid())).Run()
			}
		}
		_ = unix.Unmount(j.Netns, unix.MNT_DETACH)
		_ = os.Remove(j.Netns)
		j.Netns = ""
	}
	if j.Cgroup != "" {
		for i := 0; i < 200; i++ {
			if err := os.Remove(j.Cgroup); err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// newNetns makes a network namespace kept alive by a bind mount on file.
func newNetns(file string) error {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	err = inNetns(func() error { return unix.Unshare(unix.CLONE_NEWNET) }, func() error {
		return unix.Mount("/proc/thread-self/ns/net", file, "", unix.MS_BIND, "")
	})
	if err != nil {
		_ = os.Remove(file)
		return err
	}
	return nil
}

// inNetns runs f on a thread of its own that enter has moved into another
// network namespace, then moves the thread back. A thread that cannot go
// back ends with its goroutine, still locked: Go throws it away.
func inNetns(enter, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := enter(); err != nil {
			errc <- err
			return
		}
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// enterJail is jexec: it enters the jail in this very process (the
// command keeps jexec's pid) and execs argv.
func enterJail(key string, clean bool, user string, userInJail bool, argv []string) int {
	runtime.LockOSThread()
	var j *jailRec
	err := readJails(func(db *jailDB) error {
		r := db.find(key)
		if r == nil {
			return errors.New(notFoundMsg(key))
		}
		// Joining under the lock: no writer can reap the jail meanwhile.
		if err := os.WriteFile(filepath.Join(r.Cgroup, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("jail_attach(%d): %s", r.JID, errnoStr(err))
		}
		c := *r
		j = &c
		return nil
	})
	if err != nil {
		warnx("jexec", "%v", err)
		return 1
	}
	var pw *passwdEntry
	if user != "" && !userInJail {
		if pw, err = lookupPasswd("/etc/passwd", user); err != nil {
			warnx("jexec", "%v", err)
			return 1
		}
	}
	if j.Netns != "" {
		fd, err := unix.Open(j.Netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
		}
		if err != nil {
			warnx("jexec", "jail_attach(%d): %s", j.JID, errnoStr(err))
			return 1
		}
	}
	if err := unix.Chroot(j.Path); err != nil {
		warnx("jexec", "jail_attach(%d): %s", j.JID, errnoStr(err))
		return 1
	}
	_ = unix.Chdir("/")
	if pw == nil && (userInJail || clean || len(argv) == 0) {
		u := user
		if u == "" {
			u = strconv.Itoa(os.Getuid())
		}
		if pw, err = lookupPasswd("/etc/passwd", u); err != nil {
			warnx("jexec", "%v", err)
			return 1
		}
	}
	env := os.Environ()
	if clean {
		env = loginEnv(pw)
		if err := unix.Chdir(pw.home); err != nil {
			_ = unix.Chdir("/")
		}
		unix.Umask(0o022)
	}
	if len(j.CPUs) > 0 {
		var set unix.CPUSet
		for _, c := range j.CPUs {
			set.Set(c)
		}
		_ = unix.SchedSetaffinity(0, &set)
	}
	if pw != nil && user != "" {
		if err := syscall.Setgroups([]int{pw.gid}); err == nil {
			err = syscall.Setgid(pw.gid)
		}
		if err == nil {
			err = syscall.Setuid(pw.uid)
		}
		if err != nil {
			warnx("jexec", "setusercontext: %s", errnoStr(err))
			return 1
		}
	}
	if len(argv) == 0 {
		shell := "/bin/sh"
		if pw != nil && pw.shel != "" {
			shell = pw.shel
		}
		argv = []string{shell, "-i"}
	}
	return execvp(argv, env)
}

// execvp is FreeBSD's execvp with the environment env: PATH search, and a
// file that is no executable format runs with /bin/sh.
func execvp(argv []string, env []string) int {
	name := argv[0]
	var cands []string
	if strings.Contains(name, "/") {
		cands = []string{name}
	} else {
		path := "/usr/bin:/bin"
		for _, e := range env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				path = v
			}
		}
		for _, d := range strings.Split(path, ":") {
			if d == "" {
				d = "."
			}
			cands = append(cands, filepath.Join(d, name))
		}
	}
	var lastErr error = unix.ENOENT
	for _, p := range cands {
		err := syscall.Exec(p, argv, env)
		if err == unix.ENOEXEC {
			err = syscall.Exec("/bin/sh", append([]string{"sh", p}, argv[1:]...), env)
		}
		if err == unix.ENOENT || err == unix.ENOTDIR {
			continue
		}
		lastErr = err
		if err != unix.EACCES {
			break
		}
	}
	warnx("jexec", "execvp: %s: %s", name, errnoStr(lastErr))
	return 1
}
