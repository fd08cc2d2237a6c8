package consul

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/helper/testlog"

	"github.com/bsdpot/nomad-pot-driver/internal/testconsul"
)

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
	c := testconsul.New(t)
	c.Start()
	var st states
	r, err := New(Config{Address: c.Addr(), TTL: 2 * time.Second, AntiEntropy: time.Hour}, testlog.HCLogger(t), nil, st.notify)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	svc := testService("web_a")
	r.Add(svc)
	testconsul.Eventually(t, 5*time.Second, "registered and passing", func() bool { return c.CheckStatus(CheckID(svc.ID)) == api.HealthPassing })
	s, _, err := c.Client().Agent().Service(svc.ID, nil)
	if err != nil || s.Address != svc.Address || s.Port != svc.Port || s.Meta[MetaPot] != "web_a" || strings.Join(s.Tags, ",") != "a,b" {
		t.Fatalf("registration: %+v %v", s, err)
	}
	// Heartbeats keep it passing past several TTLs.
	time.Sleep(5 * time.Second)
	if got := c.CheckStatus(CheckID(svc.ID)); got != api.HealthPassing {
		t.Fatalf("after 2.5 TTLs the check is %q", got)
	}
	begin := time.Now()
	r.Dead(svc.ID)
	testconsul.Eventually(t, 2*time.Second, "critical once the jail died", func() bool { return c.CheckStatus(CheckID(svc.ID)) == api.HealthCritical })
	t.Logf("critical %s after the jail died", time.Since(begin))
	r.Remove(svc.ID)
	testconsul.Eventually(t, 2*time.Second, "deregistered", func() bool {
		_, _, err := c.Client().Agent().Service(svc.ID, nil)
		return err != nil && st.has(StateRemoved)
	})
	if !st.has(StateRegistered) || !st.has(StateCritical) || !st.has(StateRemoved) {
		t.Fatalf("notifications: %v", st.seen)
	}
}

func TestTTLLapsesWithoutTheDriver(t *testing.T) {
	c := testconsul.New(t)
	c.Start()
	r, err := New(Config{Address: c.Addr(), TTL: time.Second, AntiEntropy: time.Hour}, testlog.HCLogger(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go r.Run(ctx)
	svc := testService("web_b")
	r.Add(svc)
	testconsul.Eventually(t, 5*time.Second, "passing", func() bool { return c.CheckStatus(CheckID(svc.ID)) == api.HealthPassing })
	cancel() // the driver is gone
	testconsul.Eventually(t, 3*time.Second, "critical within the TTL", func() bool { return c.CheckStatus(CheckID(svc.ID)) == api.HealthCritical })
}

func TestConsulAwayAndBack(t *testing.T) {
	c := testconsul.New(t)
	var st states
	r, err := New(Config{Address: c.Addr(), TTL: 2 * time.Second, AntiEntropy: 2 * time.Second}, testlog.HCLogger(t), nil, st.notify)
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
	testconsul.Eventually(t, 5*time.Second, "reported pending", func() bool { return st.has(StatePending) })

	c.Start()
	testconsul.Eventually(t, 40*time.Second, "registered after Consul came", func() bool { return c.CheckStatus(CheckID(svc.ID)) == api.HealthPassing })

	// A dev Consul restarted has forgotten everything: restored.
	c.Stop()
	c.Start()
	testconsul.Eventually(t, 40*time.Second, "restored after Consul restarted", func() bool { return c.CheckStatus(CheckID(svc.ID)) == api.HealthPassing })
}

func TestAntiEntropyRemovesStaleKeepsOthers(t *testing.T) {
	c := testconsul.New(t)
	c.Start()
	agent := c.Client().Agent()
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
	r, err := New(Config{Address: c.Addr(), AntiEntropy: time.Second}, testlog.HCLogger(t), running, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	testconsul.Eventually(t, 5*time.Second, "stale registration removed", func() bool {
		_, _, err := agent.Service(ServiceID("gone_pot"), nil)
		return err != nil
	})
	for _, id := range []string{ServiceID("live_pot"), "someone-else"} {
		if _, _, err := agent.Service(id, nil); err != nil {
			t.Fatalf("%s was removed: %v", id, err)
		}
	}
}

// A registration that kept failing while Consul was away (its retry
// backoff grown) is made within one anti-entropy period of Consul's
// return, not after the backoff.
func TestBackWithinOneAntiEntropyPeriod(t *testing.T) {
	c := testconsul.New(t)
	const period = 2 * time.Second
	r, err := New(Config{Address: c.Addr(), TTL: 2 * time.Second, AntiEntropy: period}, testlog.HCLogger(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	svc := testService("web_d")
	r.Add(svc)
	// Tries at 0, 1, 3, 7 s; the next would be at 15 s.
	time.Sleep(8 * time.Second)
	c.Start()
	back := time.Now()
	testconsul.Eventually(t, period+2*time.Second, "registered within one anti-entropy period", func() bool { return c.CheckStatus(CheckID(svc.ID)) == api.HealthPassing })
	t.Logf("registered %s after Consul came back", time.Since(back))
}

// TestRemoveWithinRun: a removal is Run's to make: none is made before Run
// starts or after it returned (Remove used to start a goroutine of its own
// per call, which outlived the registrar).
func TestRemoveWithinRun(t *testing.T) {
	var mu sync.Mutex
	var deregistered []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if id, ok := strings.CutPrefix(req.URL.Path, "/v1/agent/service/deregister/"); ok {
			mu.Lock()
			deregistered = append(deregistered, id)
			mu.Unlock()
			return
		}
		// The anti-entropy sweep's list: nothing registered.
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	calls := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), deregistered...)
	}
	r, err := New(Config{Address: srv.URL, TTL: time.Hour, AntiEntropy: time.Hour}, testlog.HCLogger(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Remove("before-run")
	time.Sleep(300 * time.Millisecond)
	if got := calls(); len(got) != 0 {
		t.Fatalf("deregistered %v before Run", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { r.Run(ctx); close(stopped) }()
	r.Remove("during-run")
	testconsul.Eventually(t, 2*time.Second, "both removals made by Run", func() bool { return len(calls()) == 2 })
	cancel()
	<-stopped
	r.Remove("after-run")
	time.Sleep(300 * time.Millisecond)
	if got := calls(); len(got) != 2 {
		t.Fatalf("deregistered %v: one after Run returned", got)
	}
}
