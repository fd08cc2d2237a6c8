package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// machineFolders are the places of the real machine that the emulated one
// has of its own: run-folder name → mount point.
var machineFolders = [][2]string{
	{"opt", "/opt"},
	{"var-cache", "/var/cache"},
	{"var-log", "/var/log"},
	{"usr-local-etc", "/usr/local/etc"},
	{"usr-local-share", "/usr/local/share"}, // freebsd/MANIFESTS of the emulated releases
	{"tmp", "/tmp"},                         // last: the run's folder may be below the real /tmp
}

// machineProcAttr puts the inside of a run into namespaces of its own; a
// new pid namespace lets the kernel kill whatever the command leaves
// behind. (Go makes / private, MS_REC|MS_PRIVATE, in a new mount namespace.)
func machineProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		Cloneflags:   syscall.CLONE_NEWPID,
		Pdeathsig:    syscall.SIGKILL,
	}
}

// buildMachine makes the emulated FreeBSD host inside the new namespaces.
func buildMachine(dir string) error {
	state := filepath.Join(dir, "state")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{state, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// This process is pid 1 of a new pid namespace: its /proc must be that
	// namespace's.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := bindShell(); err != nil {
		return err
	}
	if err := bindGroupFile(dir); err != nil {
		return err
	}
	for _, f := range machineFolders {
		src := filepath.Join(dir, f[0])
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		if f[1] == "/tmp" {
			if err := os.Chmod(src, 0o1777); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(f[1], 0o755); err != nil {
			return err
		}
		if err := unix.Mount(src, f[1], "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", src, f[1], err)
		}
	}
	if err := buildDev(dir); err != nil {
		return err
	}
	if err := overlayLocalBin(dir); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte("fbsdemu")); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	if err := buildNetwork(dir); err != nil {
		return err
	}
	os.Setenv(stateEnv, state)
	if err := recordMachineNetns(); err != nil {
		return err
	}
	// The jails' cgroups, one tree per run (the run's folder name is unique).
	os.Setenv(cgroupEnv, filepath.Join(cgroup2Root, filepath.Base(dir)))
	os.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	if err := installTools(bin); err != nil {
		return err
	}
	if err := saveJSON("sysctl.json", defaultSysctls()); err != nil {
		return err
	}
	if createPool != nil {
		if err := createPool("zroot", "none"); err != nil {
			return fmt.Errorf("zpool zroot: %w", err)
		}
	}
	return nil
}

// buildDev gives the machine a /dev of its own: the host's devices (nodes
// made anew, pts and shm bound), and /dev/pf, whose existence pot takes
// for pf being loaded (`[ -c /dev/pf ]`); nothing opens it here.
func buildDev(dir string) error {
	dev := filepath.Join(dir, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID, "mode=755"); err != nil {
		return fmt.Errorf("tmpfs on %s: %w", dev, err)
	}
	entries, err := os.ReadDir("/dev")
	if err != nil {
		return err
	}
	for _, e := range entries {
		src, dst := filepath.Join("/dev", e.Name()), filepath.Join(dev, e.Name())
		fi, err := os.Lstat(src)
		if err != nil {
			continue
		}
		switch m := fi.Mode(); {
		case m&os.ModeSymlink != 0:
			if t, err := os.Readlink(src); err == nil {
				_ = os.Symlink(t, dst)
			}
		case m.IsDir():
			if err := os.Mkdir(dst, m.Perm()); err == nil {
				_ = unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, "")
			}
		case m&os.ModeDevice != 0:
			var st unix.Stat_t
			if unix.Lstat(src, &st) == nil {
				_ = unix.Mknod(dst, st.Mode, int(st.Rdev))
				_ = os.Chmod(dst, m.Perm())
			}
		}
	}
	if err := unix.Mknod(filepath.Join(dev, "pf"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		return fmt.Errorf("mknod /dev/pf: %w", err)
	}
	if err := unix.Mount(dev, "/dev", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s on /dev: %w", dev, err)
	}
	return nil
}

// overlayLocalBin adds the machine's /usr/local/bin programs (ports pot
// looks for there: ncat of nmap, for localhost-tunnel) over the host's, with
// an overlay whose upper layer is a folder of the run.
func overlayLocalBin(dir string) error {
	upper, work := filepath.Join(dir, "usr-local-bin"), filepath.Join(dir, "usr-local-bin.work")
	for _, d := range []string{upper, work, "/usr/local/bin"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, t := range localBinTools {
		if err := os.Symlink(self, filepath.Join(upper, t)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	opts := "lowerdir=/usr/local/bin,upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", "/usr/local/bin", "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlay on /usr/local/bin: %w", err)
	}
	return nil
}

// localBinTools are the emulated tools FreeBSD keeps in /usr/local/bin.
var localBinTools = []string{"ncat"}

// bindShell makes /bin/sh this program, whose tool `sh` runs bash: pot's
// scripts are written for FreeBSD's sh, which (like bash, unlike Debian's
// dash, and unlike bash in POSIX mode, as it is when called sh) takes
// hyphenated function names.
func bindShell() error {
	if hostPath("bash") == "" {
		return fmt.Errorf("bash not found: pot's scripts need it as /bin/sh")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := unix.Mount(self, "/bin/sh", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on /bin/sh: %w", self, err)
	}
	return nil
}

// bindGroupFile gives the machine pot's group (pot init chowns its root to
// root:pot; the FreeBSD package creates the group).
func bindGroupFile(dir string) error {
	data, err := os.ReadFile("/etc/group")
	if err != nil {
		return err
	}
	s := string(data)
	if !strings.Contains("\n"+s, "\npot:") {
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		s += "pot:x:6363:\n"
	}
	p := filepath.Join(dir, "group")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		return err
	}
	if err := unix.Mount(p, "/etc/group", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on /etc/group: %w", p, err)
	}
	return nil
}

// buildNetwork brings up lo and pot's default external interface em0 in
// the machine's own network namespace: one end of a veth pair (this kernel
// has no dummy interfaces), the other end, em0peer, on the wire (a network
// namespace of its own with the gateway's address, wire_linux.go). The
// machine forwards IPv4, so that what pf's rdr rules redirect from the wire
// reaches the jails on pot's bridges (a network namespace's own setting:
// the real machine's is untouched).
func buildNetwork(dir string) error {
	ip := hostPath("ip")
	if ip == "" {
		return fmt.Errorf("ip (iproute2) not found")
	}
	run := func(a ...string) error {
		if out, err := exec.Command(ip, a...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(a, " "), err, out)
		}
		return nil
	}
	if err := run("link", "set", "lo", "up"); err != nil {
		return err
	}
	if err := run("link", "add", extIf, "type", "veth", "peer", "name", wireIf); err != nil {
		return err
	}
	if err := buildWire(filepath.Join(dir, "wire.netns"), ip); err != nil {
		return err
	}
	for _, a := range [][]string{
		{"addr", "add", extIfAddr + "/24", "dev", extIf},
		{"link", "set", extIf, "up"},
		{"route", "add", "default", "via", extIfGateway, "dev", extIf},
	} {
		if err := run(a...); err != nil {
			return err
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("IPv4 forwarding: %w", err)
	}
	return nil
}

const (
	extIf        = "em0"
	wireIf       = extIf + "peer" // em0's other end, on the wire
	extIfAddr    = "198.18.0.2"
	extIfGateway = "198.18.0.1" // the wire's address
)

// recordMachineNetns names the machine's network namespace in its state:
// pfctl applies rules there only.
func recordMachineNetns() error {
	ns, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	p, err := statePath(machineNetnsFile)
	if err != nil {
		return err
	}
	return os.WriteFile(p, []byte(ns+"\n"), 0o644)
}

// runAsInit runs the command as the only child of this process, which is
// pid 1 of the machine: it reaps every orphan, passes signals on, and when
// the command ends kills what is left.
func runAsInit(args []string) int {
	path, err := exec.LookPath(args[0])
	if err != nil {
		warnx("fbsdemu", "run: %v", err)
		return 127
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	p, err := os.StartProcess(path, args, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		warnx("fbsdemu", "run: %v", err)
		return 127
	}
	go func() {
		for s := range sigs {
			_ = p.Signal(s)
		}
	}()
	code := 0
reap:
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			break
		}
		if pid == p.Pid {
			switch {
			case ws.Exited():
				code = ws.ExitStatus()
			case ws.Signaled():
				code = 128 + int(ws.Signal())
			}
			break reap
		}
	}
	// Whatever the command left running goes now.
	_ = unix.Kill(-1, unix.SIGKILL)
	for {
		if _, err := unix.Wait4(-1, nil, 0, nil); err == unix.ECHILD {
			break
		}
	}
	return code
}

// teardownMachine removes what the namespaces do not take with them: the
// jails' cgroups.
func teardownMachine() {
	root := os.Getenv(cgroupEnv)
	if root == "" {
		return
	}
	removeCgroupTree(root)
}

// removeCgroupTree kills every process of a cgroup v2 tree and removes it,
// children first.
func removeCgroupTree(root string) {
	_ = os.WriteFile(filepath.Join(root, "cgroup.kill"), []byte("1"), 0o644)
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroupTree(filepath.Join(root, e.Name()))
		}
	}
	for i := 0; i < 100; i++ {
		if err := os.Remove(root); err == nil || os.IsNotExist(err) {
			return
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 10_000_000}, nil)
	}
}
