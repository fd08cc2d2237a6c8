// Package consul registers running pots in Consul, so that jails can be
// found by Consul DNS without a Nomad service block. It is the project's
// only Consul client (github.com/hashicorp/consul/api).
//
// Each registration carries a TTL check that the registrar keeps passing
// while the jail lives; when the jail dies the check turns critical at once
// (and, should the driver itself be gone, lapses within the TTL). Consul
// being unreachable never blocks a caller: registrations are retried with
// backoff in the background, and anti-entropy repairs what a crash or a
// restarted Consul left wrong.
package consul

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	hclog "github.com/hashicorp/go-hclog"
)

// Meta keys on every service the registrar makes; anti-entropy touches no
// other service.
const (
	MetaManagedBy = "managed-by"
	ManagedBy     = "nomad-pot-driver"
	MetaPot       = "pot"
	MetaTaskID    = "nomad-task-id"
	MetaAllocID   = "nomad-alloc-id"
)

// Config says how to reach Consul.
type Config struct {
	Address    string // host:port or a URL; empty: Consul's default (CONSUL_HTTP_ADDR or 127.0.0.1:8500)
	Token      string
	Datacenter string
	CAFile     string
	CertFile   string
	KeyFile    string
	// InsecureSkipVerify turns off TLS verification (tests only).
	InsecureSkipVerify bool

	// TTL of each registration's check (10 s when zero).
	TTL time.Duration
	// AntiEntropy is the period of the repair sweep (30 s when zero).
	AntiEntropy time.Duration
}

// Service is one pot's registration.
type Service struct {
	// ID is the service ID in Consul, unique per pot.
	ID      string
	Name    string
	Tags    []string
	Address string
	Port    int
	PotName string
	TaskID  string
	AllocID string
}

// CheckID is the ID of the TTL check of a service.
func CheckID(serviceID string) string { return serviceID + ":ttl" }

// ServiceID is the Consul service ID of a pot's registration.
func ServiceID(potName string) string { return "nomad-pot-" + potName }

// State is what the registrar reports of a registration.
type State string

const (
	StateRegistered State = "registered"
	StatePending    State = "pending"
	StateCritical   State = "critical"
	StateRemoved    State = "deregistered"
)

// Notify is told when a registration changes state (err says why it is
// pending).
type Notify func(svc Service, state State, err error)

// RunningPots returns the names of the pots that run now; anti-entropy
// removes registrations of pots not among them.
type RunningPots func(ctx context.Context) (map[string]bool, error)

type entry struct {
	svc        Service
	registered bool
	dead       bool // the jail died: critical, no more heartbeats
	deadSent   bool
	nextTry    time.Time
	backoff    time.Duration
	pendingErr string
}

// Registrar keeps the registrations of running pots right.
type Registrar struct {
	client  *api.Client
	logger  hclog.Logger
	ttl     time.Duration
	period  time.Duration
	running RunningPots
	notify  Notify
	wake    chan struct{}

	mu      sync.Mutex
	entries map[string]*entry
	// removals are registrations to remove, by ID (their entry, nil when
	// the registrar had none): Run's to do, so no call outlives it.
	removals map[string]*entry
}

// New returns a registrar; nothing is contacted until Run.
func New(cfg Config, logger hclog.Logger, running RunningPots, notify Notify) (*Registrar, error) {
	ac := api.DefaultConfig()
	if cfg.Address != "" {
		ac.Address = cfg.Address
		if strings.HasPrefix(cfg.Address, "https://") {
			ac.Scheme = "https"
		}
	}
	if cfg.Token != "" {
		ac.Token = cfg.Token
	}
	if cfg.Datacenter != "" {
		ac.Datacenter = cfg.Datacenter
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" || cfg.InsecureSkipVerify {
		ac.Scheme = "https"
		ac.TLSConfig = api.TLSConfig{CAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, InsecureSkipVerify: cfg.InsecureSkipVerify}
	}
	// A call must never hang the registrar's loop.
	hc, err := api.NewHttpClient(ac.Transport, ac.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("consul client: %w", err)
	}
	hc.Timeout = 10 * time.Second
	ac.HttpClient = hc
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("consul client: %w", err)
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if notify == nil {
		notify = func(Service, State, error) {}
	}
	r := &Registrar{
		client:   client,
		logger:   logger,
		ttl:      cfg.TTL,
		period:   cfg.AntiEntropy,
		running:  running,
		notify:   notify,
		wake:     make(chan struct{}, 1),
		entries:  map[string]*entry{},
		removals: map[string]*entry{},
	}
	if r.ttl <= 0 {
		r.ttl = 10 * time.Second
	}
	if r.period <= 0 {
		r.period = 30 * time.Second
	}
	return r, nil
}

func (r *Registrar) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Add asks for svc to be registered; it is, as soon as Consul answers.
func (r *Registrar) Add(svc Service) {
	r.mu.Lock()
	delete(r.removals, svc.ID)
	r.entries[svc.ID] = &entry{svc: svc}
	r.mu.Unlock()
	r.poke()
}

// Dead marks a registration's jail as dead: its check turns critical now.
func (r *Registrar) Dead(id string) {
	r.mu.Lock()
	if e, ok := r.entries[id]; ok {
		e.dead = true
	}
	r.mu.Unlock()
	r.poke()
}

// Remove forgets a service; Run deregisters it, so a Consul that does not
// answer never delays the caller, and nothing is called once Run has
// returned. If the deregistration fails, anti-entropy removes the
// registration once its pot is gone.
func (r *Registrar) Remove(id string) {
	r.mu.Lock()
	r.removals[id] = r.entries[id]
	delete(r.entries, id)
	r.mu.Unlock()
	r.poke()
}

// deregister makes the removals asked for.
func (r *Registrar) deregister() {
	r.mu.Lock()
	removals := r.removals
	r.removals = map[string]*entry{}
	r.mu.Unlock()
	for id, e := range removals {
		if err := r.client.Agent().ServiceDeregister(id); err != nil {
			r.logger.Debug("deregistration failed; anti-entropy will retry", "service_id", id, "error", err)
			continue
		}
		if e != nil {
			r.notify(e.svc, StateRemoved, nil)
		}
	}
}

// Run keeps registrations right until ctx ends: it registers what is
// asked, keeps TTL checks passing, retries with backoff while Consul is
// away, and runs anti-entropy at once and every period.
func (r *Registrar) Run(ctx context.Context) {
	heartbeat := time.NewTicker(r.ttl / 3)
	defer heartbeat.Stop()
	sweep := time.NewTimer(0)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			if err := r.antiEntropy(ctx); err != nil {
				r.logger.Debug("anti-entropy sweep failed", "error", err)
			}
			sweep.Reset(r.period)
			r.tick(true)
		case <-heartbeat.C:
			r.tick(true)
		case <-r.wake:
			r.tick(false)
		}
	}
}

// tick removes what is to go, registers what is due and, on heartbeats,
// refreshes TTL checks.
func (r *Registrar) tick(heartbeat bool) {
	r.deregister()
	r.mu.Lock()
	var work []*entry
	for _, e := range r.entries {
		work = append(work, e)
	}
	r.mu.Unlock()
	now := time.Now()
	agent := r.client.Agent()
	for _, e := range work {
		r.mu.Lock()
		svc, registered, dead, deadSent, nextTry := e.svc, e.registered, e.dead, e.deadSent, e.nextTry
		r.mu.Unlock()
		switch {
		case dead && registered && !deadSent:
			err := agent.UpdateTTL(CheckID(svc.ID), "the jail has stopped", api.HealthCritical)
			r.mu.Lock()
			e.deadSent = err == nil
			r.mu.Unlock()
			if err == nil {
				r.notify(svc, StateCritical, nil)
			}
		case dead:
		case !registered:
			if now.Before(nextTry) {
				continue
			}
			err := r.register(svc)
			r.mu.Lock()
			if err != nil {
				if e.backoff == 0 {
					e.backoff = time.Second
				} else if e.backoff < 30*time.Second {
					e.backoff *= 2
				}
				e.nextTry = now.Add(e.backoff)
				first := e.pendingErr == ""
				e.pendingErr = err.Error()
				r.mu.Unlock()
				if first {
					r.notify(svc, StatePending, err)
				}
				continue
			}
			e.registered, e.backoff, e.pendingErr = true, 0, ""
			r.mu.Unlock()
			r.notify(svc, StateRegistered, nil)
		case heartbeat:
			if err := agent.UpdateTTL(CheckID(svc.ID), "the jail is running", api.HealthPassing); err != nil {
				// Consul lost it (restarted, or removed by hand): register again.
				r.mu.Lock()
				e.registered = false
				r.mu.Unlock()
				r.logger.Debug("TTL update failed; registering again", "service_id", svc.ID, "error", err)
				r.poke()
			}
		}
	}
}

func (r *Registrar) register(svc Service) error {
	tags := append([]string(nil), svc.Tags...)
	sort.Strings(tags)
	reg := &api.AgentServiceRegistration{
		ID:      svc.ID,
		Name:    svc.Name,
		Tags:    tags,
		Address: svc.Address,
		Port:    svc.Port,
		Meta: map[string]string{
			MetaManagedBy: ManagedBy,
			MetaPot:       svc.PotName,
			MetaTaskID:    svc.TaskID,
			MetaAllocID:   svc.AllocID,
		},
		Check: &api.AgentServiceCheck{
			CheckID: CheckID(svc.ID),
			Name:    "pot " + svc.PotName + " is running",
			TTL:     r.ttl.String(),
			// Born passing: the jail runs when we register it.
			Status: api.HealthPassing,
			// A backstop should the driver never come back.
			DeregisterCriticalServiceAfter: "10m",
		},
	}
	return r.client.Agent().ServiceRegister(reg)
}

// antiEntropy removes registrations this driver made for pots that no
// longer run, and forgets which of ours Consul has lost so tick restores
// them.
func (r *Registrar) antiEntropy(ctx context.Context) error {
	services, err := r.client.Agent().ServicesWithFilter(fmt.Sprintf("Meta[%q] == %q", MetaManagedBy, ManagedBy))
	if err != nil {
		return err
	}
	r.mu.Lock()
	for id, e := range r.entries {
		if _, ok := services[id]; !ok && e.registered && !e.dead {
			e.registered = false
		}
		// Consul answers again: what waits for a retry is registered by
		// the tick right after this sweep, not after a backoff that grew
		// (up to 32 s) while Consul was away.
		if !e.registered && !e.dead {
			e.nextTry, e.backoff = time.Time{}, 0
		}
	}
	r.mu.Unlock()
	var stale []string
	var running map[string]bool
	for id, s := range services {
		r.mu.Lock()
		_, ours := r.entries[id]
		r.mu.Unlock()
		if ours {
			continue
		}
		if running == nil {
			if r.running == nil {
				return nil
			}
			if running, err = r.running(ctx); err != nil {
				return fmt.Errorf("listing running pots: %w", err)
			}
		}
		if !running[s.Meta[MetaPot]] {
			stale = append(stale, id)
		}
	}
	for _, id := range stale {
		if err := r.client.Agent().ServiceDeregister(id); err != nil {
			return err
		}
		r.logger.Info("removed the Consul registration of a pot that no longer runs", "service_id", id)
	}
	return nil
}
