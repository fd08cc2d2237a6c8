// Package testconsul runs a real `consul agent -dev` on loopback ports of
// its own for tests. The binary is the one e2e/agents/build.sh builds
// (make test builds it first); without it the calling test is skipped.
package testconsul

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Bin returns the consul binary: $NOMAD_POT_AGENTS_BIN/consul, else the one
// e2e/agents/build.sh has built; it skips t when there is none.
func Bin(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("NOMAD_POT_AGENTS_BIN"); dir != "" {
		return filepath.Join(dir, "consul")
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "e2e", "agents", "build.sh")
	out, err := exec.Command("bash", script, "--no-build").Output()
	if err != nil {
		t.Skip("no consul binary: run e2e/agents/build.sh (make test does)")
	}
	return filepath.Join(strings.TrimSpace(string(out)), "consul")
}

// Agent is a consul agent -dev.
type Agent struct {
	t     testing.TB
	bin   string
	ports []int
	cmd   *exec.Cmd
}

// New returns an agent that is not started yet; it is stopped when the
// test ends.
func New(t testing.TB) *Agent {
	a := &Agent{t: t, bin: Bin(t), ports: freePorts(t, 6)}
	t.Cleanup(a.Stop)
	return a
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// Addr is the agent's HTTP address.
func (a *Agent) Addr() string { return fmt.Sprintf("127.0.0.1:%d", a.ports[0]) }

// Start starts the agent and waits for it to have a leader.
func (a *Agent) Start() {
	a.t.Helper()
	p := a.ports
	a.cmd = exec.Command(a.bin, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", fmt.Sprint(p[0]), "-dns-port", fmt.Sprint(p[1]), "-server-port", fmt.Sprint(p[2]),
		"-serf-lan-port", fmt.Sprint(p[3]), "-serf-wan-port", fmt.Sprint(p[4]), "-grpc-port", fmt.Sprint(p[5]))
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	client := a.Client()
	Eventually(a.t, 30*time.Second, "consul has a leader", func() bool {
		leader, err := client.Status().Leader()
		return err == nil && leader != ""
	})
}

// Stop kills the agent (a dev agent forgets everything).
func (a *Agent) Stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Kill()
		_ = a.cmd.Wait()
		a.cmd = nil
	}
}

// Client is an API client of the agent.
func (a *Agent) Client() *api.Client {
	cl, err := api.NewClient(&api.Config{Address: a.Addr()})
	if err != nil {
		a.t.Fatal(err)
	}
	return cl
}

// CheckStatus is the status of a check, "" if there is none.
func (a *Agent) CheckStatus(checkID string) string {
	checks, err := a.Client().Agent().Checks()
	if err != nil {
		return ""
	}
	if ch, ok := checks[checkID]; ok {
		return ch.Status
	}
	return ""
}

// Eventually fails t unless cond becomes true within the limit.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
