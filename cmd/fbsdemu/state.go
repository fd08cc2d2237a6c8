package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// stateEnv names the folder that holds the emulated machine's state (ZFS
// pools and datasets, jails, rctl rules, interfaces). `fbsdemu run` sets
// it; every tool refuses to run without it, so that nothing is ever written
// to the real machine's places by accident.
const stateEnv = "FBSDEMU_STATE"

// cgroupEnv names the cgroup v2 folder below which the jails' cgroups live
// (one tree per `fbsdemu run`); cgroup2Root is where this machine mounts
// cgroup v2.
const (
	cgroupEnv   = "FBSDEMU_CGROUP"
	cgroup2Root = "/sys/fs/cgroup/unified"
)

// stateDir is the state folder, or "" and a message when unset.
func stateDir() (string, error) {
	if d := os.Getenv(stateEnv); d != "" && !filepath.IsAbs(d) {
		return "", fmt.Errorf("%s=%q is not an absolute path", stateEnv, d)
	}
	d := os.Getenv(stateEnv)
	if d == "" {
		return "", errors.New(stateEnv + " is not set (run the command under `fbsdemu run`)")
	}
	if !filepath.IsAbs(d) {
		return "", fmt.Errorf("%s=%q is not an absolute path", stateEnv, d)
	}
	return d, nil
}

// statePath is a path inside the state folder, its parent created.
func statePath(elem ...string) (string, error) {
	d, err := stateDir()
	if err != nil {
		return "", err
	}
	// Inside a jail the host's state folder is not there: never make it.
	if _, err := os.Stat(d); err != nil {
		return "", fmt.Errorf("state folder: %w", err)
	}
	p := filepath.Join(append([]string{d}, elem...)...)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, nil
}

// withLock runs f holding an exclusive flock on the state file `name` (a
// lock file beside it): the emulated kernel's state is read, changed and
// written by many concurrent processes.
func withLock(name string, f func() error) error {
	return withFlock(name, unix.LOCK_EX, f)
}

// withSharedLock is withLock for readers: many at once, none while a
// writer holds the lock.
func withSharedLock(name string, f func() error) error {
	return withFlock(name, unix.LOCK_SH, f)
}

func withFlock(name string, how int, f func() error) error {
	p, err := statePath(name + ".lock")
	if err != nil {
		return err
	}
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("lock %s: %w", p, err)
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, how); err != nil {
		return fmt.Errorf("lock %s: %w", p, err)
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	return f()
}

// loadJSON reads the state file `name` into v; a missing file leaves v as
// it is.
func loadJSON(name string, v any) error {
	d, err := stateDir()
	if err != nil {
		return err
	}
	p := filepath.Join(d, name)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// saveJSON writes v to the state file `name` atomically (a reader never
// sees half a file).
func saveJSON(name string, v any) error {
	p, err := statePath(name)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
