package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// cmdWire is `fbsdemu wire [--] CMD [ARGS...]`: CMD runs in the wire's
// network namespace (the machine's mounts and processes stay visible). It
// keeps this process's pid, as nsenter's exec does.
func cmdWire(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: fbsdemu wire [--] COMMAND [ARGS...]")
		return 64
	}
	ns := os.Getenv(wireNetnsEnv)
	if ns == "" {
		warnx("fbsdemu", "wire: %s is not set (run the command under `fbsdemu run`)", wireNetnsEnv)
		return 1
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		warnx("fbsdemu", "wire: %v", err)
		return 127
	}
	// setns(2) changes this thread only: it must be the one that execs.
	runtime.LockOSThread()
	if err := enterNetns(ns); err != nil {
		warnx("fbsdemu", "wire: %s: %v", ns, err)
		return 1
	}
	err = syscall.Exec(path, args, os.Environ())
	warnx("fbsdemu", "wire: %s: %v", path, err)
	return 126
}

// enterNetns moves the calling thread into the network namespace of file.
func enterNetns(file string) error {
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Setns(fd, unix.CLONE_NEWNET)
}

// runInNetns runs a program in the network namespace of file, forked by a
// thread that enters the namespace for it (inNetns).
func runInNetns(file string, name string, args ...string) error {
	return inNetns(func() error { return enterNetns(file) }, func() error {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}

// buildWire makes the wire's namespace, kept by a bind mount on file, moves
// the interface wireIf into it with the gateway's address, and tells the
// machine's programs where it is.
func buildWire(file, ip string) error {
	if err := newNetns(file); err != nil {
		return fmt.Errorf("the wire's network namespace: %w", err)
	}
	if out, err := exec.Command(ip, "link", "set", "dev", wireIf, "netns", file).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set dev %s netns %s: %v: %s", wireIf, file, err, out)
	}
	for _, a := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", extIfGateway + "/24", "dev", wireIf},
		{"link", "set", wireIf, "up"},
	} {
		if err := runInNetns(file, ip, a...); err != nil {
			return errors.New("the wire: " + err.Error())
		}
	}
	os.Setenv(wireNetnsEnv, file)
	os.Setenv(extIfAddrEnv, extIfAddr)
	return nil
}
