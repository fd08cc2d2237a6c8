package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The framework configuration potsim answers `pot config` with, in place of
// pot.conf/pot.default.conf: the pot network is 127.192.0.0/16 so that every
// pot address is a loopback address on Linux. POTSIM_NETWORK (a /16 inside
// 127.0.0.0/8, e.g. 127.200.0.0/16) gives one potsim root a pot network of
// its own, as two pot hosts have, so that concurrent test runs with
// different roots never hand out the same address.
//
// POTSIM_EXTIF_ADDR is pot.conf's POT_EXTIF_ADDR: the host address exported
// ports are redirected from (pot's rdr rule "to $POT_EXTIF_ADDR"); without
// it potsim listens on every address, as a host with one interface. Each
// client of a multi-node test cluster has an address of its own.
var (
	potExtifAddr = os.Getenv("POTSIM_EXTIF_ADDR")
	potNetwork   = "127.192.0.0/16"
	potGateway   = "127.192.0.1"
	potDNSIP     = "127.192.0.1"
)

func init() {
	if v := os.Getenv("POTSIM_NETWORK"); v != "" {
		ip, n, err := net.ParseCIDR(v)
		ip4 := ip.To4()
		if ones, bits := n.Mask.Size(); err != nil || ip4 == nil || ip4[0] != 127 || ones != 16 || bits != 32 {
			fmt.Fprintf(os.Stderr, "potsim: POTSIM_NETWORK %q is not a /16 inside 127.0.0.0/8\n", v)
			os.Exit(1)
		}
		base := n.IP.To4()
		potNetwork = n.String()
		potGateway = fmt.Sprintf("%d.%d.0.1", base[0], base[1])
		potDNSIP = potGateway
	}
}

const (
	zfsRoot       = "zroot/pot"
	potNetmask    = "255.255.0.0"
	potDNSName    = "dns"
	networkStack  = "ipv4"
	hostnameMaxLn = 64
	defaultRoot   = "/var/lib/potsim"
)

// root is POT_FS_ROOT: $POTSIM_ROOT, default /var/lib/potsim.
var root string

// setupRoot finds the state root, POT_FS_ROOT. As pot's pot-cmd, every
// subcommand but init and version refuses to run before `pot init`: pot
// checks that POT_FS_ROOT is a folder it can read. potsim counts a root as
// initialised when its jails/ folder (pot's jails dataset) exists too, so
// that an empty folder (a test's temporary directory) needs `pot init` as
// well. The folders under tmp/, cache/ and bridges/ are made again when
// missing, as pot makes POT_TMP.
func setupRoot(cmd string) error {
	r := os.Getenv("POTSIM_ROOT")
	if r == "" {
		r = defaultRoot
	}
	abs, err := filepath.Abs(r)
	if err != nil {
		return fmt.Errorf("POTSIM_ROOT %q: %v", r, err)
	}
	root = filepath.Clean(abs)
	if cmd == "init" || cmd == "version" {
		return nil
	}
	if !initialised() {
		return fmt.Errorf("%s does not exist, please run 'pot init'", root)
	}
	if !isReadable(root) {
		return fmt.Errorf("Current user has no read access to %s", root)
	}
	for _, d := range []string{tmpDir(), cacheDir(), bridgesDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cannot create %s: %v", d, err)
		}
	}
	return nil
}

// initialised reports whether `pot init` made the root: the root and its
// jails/ folder exist.
func initialised() bool { return isDir(root) && isDir(jailsDir()) }

// initRoot is what `pot init` makes: the root and every folder potsim uses
// below it. A second init finds them and changes nothing.
func initRoot() error {
	for _, d := range []string{root, jailsDir(), tmpDir(), cacheDir(), bridgesDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func jailsDir() string            { return filepath.Join(root, "jails") }
func tmpDir() string              { return filepath.Join(root, "tmp") }
func cacheDir() string            { return filepath.Join(root, "cache") }
func bridgesDir() string          { return filepath.Join(root, "bridges") }
func jailDir(name string) string  { return filepath.Join(jailsDir(), name) }
func confDir(name string) string  { return filepath.Join(jailDir(name), "conf") }
func confFile(name string) string { return filepath.Join(confDir(name), "pot.conf") }
func fscompFile(name string) string {
	return filepath.Join(confDir(name), "fscomp.conf")
}
func mDir(name string) string { return filepath.Join(jailDir(name), "m") }

// originFile records the pot a clone was made from (ZFS's origin of
// NAME/m, which pot.conf does not keep).
func originFile(name string) string { return filepath.Join(confDir(name), ".potsim_origin") }
func lastRunStatsFile(name string) string {
	return filepath.Join(confDir(name), ".last_run_stats")
}

// mainPidFile is pot's /tmp/pot_main_pid_NAME, relocated under the root.
func mainPidFile(name string) string { return filepath.Join(tmpDir(), "pot_main_pid_"+name) }

// statusFile is pot's /tmp/pot_status_NAME.
func statusFile(name string) string { return filepath.Join(tmpDir(), "pot_status_"+name) }

// potLockFile is pot's /tmp/pot-lock-NAME, taken around status changes.
func potLockFile(name string) string { return filepath.Join(tmpDir(), "pot-lock-"+name) }

// globalLockFile is pot's /tmp/pot-lock-file: create, import, clone,
// prepare and copy-in run one at a time.
func globalLockFile() string { return filepath.Join(tmpDir(), "pot-lock-file") }

// portsMarkerFile exists while potsim start forwards the pot's exported
// ports (pot's pf rdr rules, which pot stop flushes itself).
func portsMarkerFile(name string) string { return filepath.Join(tmpDir(), "potsim_ports_"+name) }

// jailStateFile holds what potsim knows of a running "jail" (process groups,
// the pid of potsim start, forwarded ports).
func jailStateFile(name string) string { return filepath.Join(tmpDir(), "potsim_jail_"+name+".json") }

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func isReadable(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// safeName refuses names that would leave the jails folder. pot itself
// would happily build such paths; potsim refuses them as "not found".
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// withLock runs fn holding an exclusive flock on path (pot uses lockf).
func withLock(path string, fn func()) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err == nil {
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
			if err != syscall.EINTR {
				break
			}
		}
		defer func() {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}()
	}
	fn()
}

// lockGlobal takes pot's global lock for the rest of the process, as
// `lockf -k /tmp/pot-lock-file pot CMD` does.
func lockGlobal() {
	if globalLock != nil {
		return // nested pot-cmd: the lock is already held
	}
	f, err := os.OpenFile(globalLockFile(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return
	}
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX) == syscall.EINTR {
	}
	// Kept open (and locked) until the process exits. The descriptor is
	// close-on-exec, so the jail's processes do not inherit the lock.
	globalLock = f
}

var globalLock *os.File

// unlockGlobal releases the global lock early (prepare -s starts the pot
// in the foreground and must not hold it while the pot runs).
func unlockGlobal() {
	if globalLock != nil {
		_ = syscall.Flock(int(globalLock.Fd()), syscall.LOCK_UN)
		globalLock.Close()
		globalLock = nil
	}
}

// writeFileAtomic replaces path with data (like sed -i: a new file moved in).
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	_ = os.Chmod(name, perm)
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}
