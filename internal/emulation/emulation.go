// Package emulation gives tests FreeBSD's tools on Linux: cmd/fbsdemu's
// sysctl, pfctl, zfs, zpool, rctl and cpuset, over a state folder of the
// test's own, without the rest of the emulated machine (no namespaces):
// its ZFS pool is made with mountpoint none, so nothing is ever mounted,
// and pfctl applies nothing outside `fbsdemu run`. A test puts the tools
// first on PATH (Setenv) and the code under test runs them as it runs
// FreeBSD's. Tests only.
package emulation

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Tools are the programs a Machine has.
var Tools = []string{"sysctl", "pfctl", "zfs", "zpool", "rctl", "cpuset"}

// StateEnv is fbsdemu's state folder variable.
const StateEnv = "FBSDEMU_STATE"

// Machine is a folder of tool links and a state folder.
type Machine struct {
	tb    testing.TB
	Bin   string // the folder of tool links, to put first on PATH
	State string // FBSDEMU_STATE
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// build compiles cmd/fbsdemu once per test process.
func build() (string, error) {
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "fbsdemu-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "fbsdemu")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/fbsdemu")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building fbsdemu: %v\n%s", err, out)
		}
	})
	return buildBin, buildErr
}

// New makes a Machine with the tools (all of Tools when none are named).
func New(tb testing.TB, tools ...string) *Machine {
	tb.Helper()
	m := &Machine{tb: tb, Bin: tb.TempDir(), State: tb.TempDir()}
	m.Add(tools...)
	return m
}

// Add gives the machine more of fbsdemu's tools (all of Tools when none
// are named); those it has are kept.
func (m *Machine) Add(tools ...string) {
	m.tb.Helper()
	bin, err := build()
	if err != nil {
		m.tb.Fatal(err)
	}
	if len(tools) == 0 {
		tools = Tools
	}
	for _, t := range tools {
		link := filepath.Join(m.Bin, t)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(bin, link); err != nil {
			m.tb.Fatal(err)
		}
	}
}

// Setenv puts the tools first on PATH and the state folder in the
// environment, for the rest of the test (not a parallel one).
func (m *Machine) Setenv(t testing.TB) {
	t.Setenv("PATH", m.Bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(StateEnv, m.State)
}

// Run runs one of the machine's tools and returns its output; a failure
// fails the test.
func (m *Machine) Run(tool string, args ...string) string {
	m.tb.Helper()
	out, err := m.Try(tool, args...)
	if err != nil {
		m.tb.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return out
}

// Try runs a tool and returns its output and error.
func (m *Machine) Try(tool string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(m.Bin, tool), args...)
	cmd.Env = append(os.Environ(), StateEnv+"="+m.State)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Pool makes ZFS pool name (mountpoint none: nothing is mounted) and the
// datasets named, each with -p.
func (m *Machine) Pool(name string, datasets ...string) {
	m.tb.Helper()
	m.Run("zpool", "create", "-m", "none", name, "/dev/emulated")
	for _, d := range datasets {
		m.Run("zfs", "create", "-p", d)
	}
}
