package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// The emulated machine: `fbsdemu run -- CMD` runs CMD (and everything it
// starts) on a FreeBSD-like host of its own, made inside private Linux
// namespaces so that nothing reaches the real machine:
//
//   - a mount namespace where /tmp, /opt, /var/cache, /var/log,
//     /usr/local/etc are folders of the run (pot's default POT_FS_ROOT
//     /opt/pot, POT_CACHE /var/cache/pot, POT_TMP /tmp), /bin/sh is bash
//     (FreeBSD's sh runs pot's scripts; Debian's dash refuses their
//     hyphenated function names) and /etc/group has pot's group `pot`;
//   - a network namespace with lo and an external interface em0 (pot's
//     default POT_EXTIF), address 198.18.0.2/24 (a benchmarking range, never
//     routed out of the namespace), IPv4 forwarding on, pf's nat and rdr
//     rules applied as nftables;
//   - "the wire": em0's veth peer in a network namespace of its own, the
//     LAN and the machine's gateway 198.18.0.1 (`fbsdemu wire -- CMD`,
//     FBSDEMU_WIRE_NETNS), where a client reaches exported ports as on a
//     real network;
//   - a ZFS pool zroot, the sysctls of a FreeBSD 14.3 amd64 host with racct
//     enabled, and PATH starting with the emulated tools.
//
// When CMD ends every jail's processes are killed, the namespaces vanish and
// the run's folder is removed (unless -keep).
func init() {
	commands["run"] = cmdRun
	commands["install"] = cmdInstall
	commands["__inside"] = cmdInside
}

// runEnv are the variables `run` hands to the inside: the run's folder.
const runDirEnv = "FBSDEMU_RUN_DIR"

func cmdRun(args []string) int {
	fs := flag.NewFlagSet("fbsdemu run", flag.ContinueOnError)
	dir := fs.String("dir", "", "the run's folder (default: a new one under $TMPDIR, removed at the end)")
	keep := fs.Bool("keep", false, "keep the run's folder")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		usage()
		return 64
	}
	if os.Geteuid() != 0 {
		warnx("fbsdemu", "run: needs root (mount and network namespaces, bind mounts, chroot)")
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		warnx("fbsdemu", "run: %v", err)
		return 1
	}
	remove := false
	if *dir == "" {
		// Not under /tmp: the machine's /tmp is a folder of the run.
		d, err := os.MkdirTemp("/var/tmp", "fbsdemu-")
		if err != nil {
			warnx("fbsdemu", "run: %v", err)
			return 1
		}
		*dir, remove = d, !*keep
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		warnx("fbsdemu", "run: %v", err)
		return 1
	}
	c := exec.Command(self, append([]string{"__inside", "--"}, cmd...)...)
	c.Args[0] = "fbsdemu"
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	c.Env = append(os.Environ(), runDirEnv+"="+abs)
	// Go makes / private (MS_REC|MS_PRIVATE) in a new mount namespace.
	c.SysProcAttr = machineProcAttr()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	if err := c.Start(); err != nil {
		warnx("fbsdemu", "run: %v", err)
		return 1
	}
	go func() {
		for s := range sigs {
			_ = c.Process.Signal(s)
		}
	}()
	code := exitCode(c.Wait())
	signal.Stop(sigs)
	if remove {
		if err := removeRunDir(abs); err != nil {
			warnx("fbsdemu", "run: removing %s: %v", abs, err)
		}
	}
	return code
}

// exitCode is a finished command's status as a shell reports it.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "fbsdemu:", err)
	return 127
}

// cmdInside runs in the new namespaces: it builds the machine, runs the
// command, and tears the jails down.
func cmdInside(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	dir := os.Getenv(runDirEnv)
	if dir == "" || len(args) == 0 {
		warnx("fbsdemu", "__inside is fbsdemu run's")
		return 64
	}
	if err := buildMachine(dir); err != nil {
		warnx("fbsdemu", "run: %v", err)
		teardownMachine()
		return 1
	}
	code := runAsInit(args)
	teardownMachine()
	return code
}

// cmdInstall makes DIR/TOOL a symbolic link to this program for every tool.
func cmdInstall(args []string) int {
	if len(args) != 1 {
		usage()
		return 64
	}
	if err := installTools(args[0]); err != nil {
		warnx("fbsdemu", "install: %v", err)
		return 1
	}
	return 0
}

func installTools(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, n := range toolNames() {
		p := filepath.Join(dir, n)
		_ = os.Remove(p)
		if err := os.Symlink(self, p); err != nil {
			return err
		}
	}
	return nil
}

// removeRunDir removes the run's folder; the namespace is gone by now, so
// nothing is mounted below it any more.
func removeRunDir(dir string) error {
	return os.RemoveAll(dir)
}

// createPool makes the pool the machine boots with (set by the zfs code).
var createPool func(name, mountpoint string) error

// hostPath finds a real (Linux) program, skipping the emulated tools on PATH.
func hostPath(name string) string {
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			if t, err := filepath.EvalSymlinks(p); err == nil && strings.Contains(filepath.Base(t), "fbsdemu") {
				continue
			}
			return p
		}
	}
	return ""
}
