package consul

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/helper/testlog"
)

// consulBin finds the consul binary the e2e agents build made (make test
// builds it first); without one these tests are skipped.
func consulBin(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("NOMAD_POT_AGENTS_BIN"); dir != "" {
		return filepath.Join(dir, "consul")
	}
	out, err := exec.Command("bash", "../e2e/agents/build.sh", "--no-build").Output()
	if err != nil {
		t.Skip("no consul binary: run e2e/agents/build.sh (make test does)")
	}
	return filepath.Join(strings.TrimSpace(string(out)), "consul")
}

func freePorts(t *testing.T, n int) []int {
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

// devConsul is a consul agent -dev on loopback ports of its own.
type devConsul struct {
	t     *testing.T
	bin   string
	ports []int
	cmd   *exec.Cmd
}

func newDevConsul(t *testing.T) *devConsul {
	c := &devConsul{t: t, bin: consulBin(t), ports: freePorts(t, 6)}
	t.Cleanup(c.stop)
	return c
}

func (c *devConsul) addr() string { return fmt.Sprintf("127.0.0.1:%d", c.ports[0]) }

func (c *devConsul) start() {
	c.t.Helper()
	p := c.ports
	c.cmd = exec.Command(c.bin, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-http-port", fmt.Sprint(p[0]), "-dns-port", fmt.Sprint(p[1]), "-server-port", fmt.Sprint(p[2]),
		"-serf-lan-port", fmt.Sprint(p[3]), "-serf-wan-port", fmt.Sprint(p[4]), "-grpc-port", fmt.Sprint(p[5]))
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	client := c.client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if leader, err := client.Status().Leader(); err == nil && leader != "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatal("consul did not elect a leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *devConsul) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
		c.cmd = nil
	}
}

func (c *devConsul) client() *api.Client {
	cl, err := api.NewClient(&api.Config{Address: c.addr()})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// checkStatus is the status of a service's TTL check, "" if absent.
func (c *devConsul) checkStatus(id string) string {
	checks, err := c.client().Agent().Checks()
	if err != nil {
		return ""
	}
	if ch, ok := checks[CheckID(id)]; ok {
		return ch.Status
	}
	return ""
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

type states struct {
	mu   sync.Mutex
	seen []State
}

func (s *states) notify(_ Service, st State, _ error) {
	s.mu.Lock()
	s.seen = append(s.seen, st)
	s.mu.Unlock()
}

func (s *states) has(st State) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.seen {
		if x == st {
			return true
		}
	}
	return false
}

func testService(pot string) Service {
	return Service{ID: ServiceID(pot), Name: "web", Tags: []string{"b", "a"}, Address: "127.192.0.9", Port: 8080, PotName: pot, TaskID: "alloc/web/1", AllocID: "alloc"}
}

func TestRegisterHeartbeatDeadRemove(t *testing.T) {
	c := newDevConsul(t)
	c.start()
	var st states
	r, err := New(Config{Address: c.addr(), TTL: 2 * time.Second, AntiEntropy: time.Hour}, testlog.HCLogger(t), nil, st.notify)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	svc := testService("web_a")
	r.Add(svc)
	eventually(t, 5*time.Second, "registered and passing", func() bool { return c.checkStatus(svc.ID) == api.HealthPassing })
	s, _, err := c.client().Agent().Service(svc.ID, nil)
	if err != nil || s.Address != svc.Address || s.Port != svc.Port || s.Meta[MetaPot] != "web_a" || strings.Join(s.Tags, ",") != "a,b" {
		t.Fatalf("registration: %+v %v", s, err)
	}
	// Heartbeats keep it passing past several TTLs.
	time.Sleep(5 * time.Second)
	if got := c.checkStatus(svc.ID); got != api.HealthPassing {
		t.Fatalf("after 2.5 TTLs the check is %q", got)
	}
	begin := time.Now()
	r.Dead(svc.ID)
	eventually(t, 2*time.Second, "critical once the jail died", func() bool { return c.checkStatus(svc.ID) == api.HealthCritical })
	t.Logf("critical %s after the jail died", time.Since(begin))
	r.Remove(svc.ID)
	if _, _, err := c.client().Agent().Service(svc.ID, nil); err == nil {
		t.Fatal("service still registered after Remove")
	}
	if !st.has(StateRegistered) || !st.has(StateCritical) || !st.has(StateRemoved) {
		t.Fatalf("notifications: %v", st.seen)
	}
}

func TestTTLLapsesWithoutTheDriver(t *testing.T) {
	c := newDevConsul(t)
	c.start()
	r, err := New(Config{Address: c.addr(), TTL: time.Second, AntiEntropy: time.Hour}, testlog.HCLogger(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go r.Run(ctx)
	svc := testService("web_b")
	r.Add(svc)
	eventually(t, 5*time.Second, "passing", func() bool { return c.checkStatus(svc.ID) == api.HealthPassing })
	cancel() // the driver is gone
	eventually(t, 3*time.Second, "critical within the TTL", func() bool { return c.checkStatus(svc.ID) == api.HealthCritical })
}

func TestConsulAwayAndBack(t *testing.T) {
	c := newDevConsul(t)
	var st states
	r, err := New(Config{Address: c.addr(), TTL: 2 * time.Second, AntiEntropy: 2 * time.Second}, testlog.HCLogger(t), nil, st.notify)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	// Consul is not there: Add returns at once, the registration waits.
	svc := testService("web_c")
	begin := time.Now()
	r.Add(svc)
	if time.Since(begin) > 100*time.Millisecond {
		t.Fatal("Add blocked on an unreachable Consul")
	}
	eventually(t, 5*time.Second, "reported pending", func() bool { return st.has(StatePending) })

	c.start()
	eventually(t, 40*time.Second, "registered after Consul came", func() bool { return c.checkStatus(svc.ID) == api.HealthPassing })

	// A dev Consul restarted has forgotten everything: restored.
	c.stop()
	c.start()
	eventually(t, 40*time.Second, "restored after Consul restarted", func() bool { return c.checkStatus(svc.ID) == api.HealthPassing })
}

func TestAntiEntropyRemovesStaleKeepsOthers(t *testing.T) {
	c := newDevConsul(t)
	c.start()
	agent := c.client().Agent()
	reg := func(id, pot string, managed bool) {
		meta := map[string]string{MetaPot: pot}
		if managed {
			meta[MetaManagedBy] = ManagedBy
		}
		if err := agent.ServiceRegister(&api.AgentServiceRegistration{ID: id, Name: "web", Meta: meta}); err != nil {
			t.Fatal(err)
		}
	}
	reg(ServiceID("gone_pot"), "gone_pot", true) // ours, pot gone: removed
	reg(ServiceID("live_pot"), "live_pot", true) // ours, pot runs (not yet recovered): kept
	reg("someone-else", "gone_pot", false)       // not ours: never touched
	running := func(context.Context) (map[string]bool, error) { return map[string]bool{"live_pot": true}, nil }
	r, err := New(Config{Address: c.addr(), AntiEntropy: time.Second}, testlog.HCLogger(t), running, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	eventually(t, 5*time.Second, "stale registration removed", func() bool {
		_, _, err := agent.Service(ServiceID("gone_pot"), nil)
		return err != nil
	})
	for _, id := range []string{ServiceID("live_pot"), "someone-else"} {
		if _, _, err := agent.Service(id, nil); err != nil {
			t.Fatalf("%s was removed: %v", id, err)
		}
	}
}
