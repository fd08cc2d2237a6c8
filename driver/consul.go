package driver

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/consul"
	"github.com/bsdpot/nomad-pot-driver/hclspec"
)

// startRegistrar (re)creates the Consul registrar from the plugin config;
// called with d.mu held.
func (d *Driver) startRegistrar(cfg *hclspec.PluginConfig) error {
	if d.stopRegistrar != nil {
		d.stopRegistrar()
		d.stopRegistrar, d.registrar = nil, nil
	}
	if cfg.Consul == nil {
		return nil
	}
	ttl, period, err := cfg.Consul.Durations()
	if err != nil {
		return err
	}
	c := cfg.Consul
	client := d.pot
	running := func(ctx context.Context) (map[string]bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		names, err := client.ListRunning(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[string]bool, len(names))
		for _, n := range names {
			out[n] = true
		}
		return out, nil
	}
	r, err := consul.New(consul.Config{
		Address: c.Address, Token: c.Token, Datacenter: c.Datacenter,
		CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile,
		TTL: ttl, AntiEntropy: period,
	}, d.logger.Named("consul"), running, d.consulEvent)
	if err != nil {
		return err
	}
	// A new config (SetConfig again) makes a new registrar: it takes over
	// the registrations of the tasks still running (an exited task's is
	// removed by anti-entropy: its pot no longer runs).
	for _, h := range d.tasks.all() {
		if h.consul != nil && !h.exited() {
			r.Add(*h.consul)
		}
	}
	ctx, cancel := context.WithCancel(d.ctx)
	go r.Run(ctx)
	d.registrar, d.stopRegistrar = r, cancel
	return nil
}

func (d *Driver) consulRegistrar() *consul.Registrar {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.registrar
}

// consulEvent tells the task what became of its registration.
func (d *Driver) consulEvent(svc consul.Service, state consul.State, err error) {
	h, ok := d.tasks.get(svc.TaskID)
	if !ok {
		return
	}
	msg := ""
	switch state {
	case consul.StatePending:
		msg = fmt.Sprintf("Consul registration of %s pending: %v (retrying)", svc.Name, err)
	case consul.StateRegistered:
		msg = fmt.Sprintf("Registered in Consul as %s at %s:%d", svc.Name, svc.Address, svc.Port)
	default:
		return
	}
	d.emit(h.cfg, msg)
}

// consulService is the registration a task's consul block asks for: the
// jail's own address and port when it has one, else the host's port.
func consulService(cfg *drivers.TaskConfig, potName string, cs *hclspec.ConsulSettings, network *drivers.DriverNetwork) (*consul.Service, error) {
	svc := &consul.Service{
		ID: consul.ServiceID(potName), Name: cs.Name, Tags: cs.Tags,
		PotName: potName, TaskID: cfg.ID, AllocID: cfg.AllocID,
	}
	if network != nil {
		svc.Address = network.IP
	}
	if cs.PortLabel == "" {
		return svc, nil
	}
	if network != nil {
		if p, ok := network.PortMap[cs.PortLabel]; ok {
			svc.Port = p
			return svc, nil
		}
	}
	if cfg.Resources != nil && cfg.Resources.Ports != nil {
		if ap, ok := cfg.Resources.Ports.Get(cs.PortLabel); ok {
			svc.Port = ap.Value
			if svc.Address == "" {
				svc.Address = ap.HostIP
			}
			return svc, nil
		}
	}
	return nil, fmt.Errorf("invalid task config: consul.port %q is not a port of the group's network block", cs.PortLabel)
}

// registerInConsul hands a task's registration to the registrar; it is
// made as soon as Consul answers.
func (d *Driver) registerInConsul(h *taskHandle) {
	if h.consul == nil {
		return
	}
	if r := d.consulRegistrar(); r != nil {
		r.Add(*h.consul)
	}
}

// taskExited turns the task's Consul check critical the moment its jail is
// gone.
func (d *Driver) taskExited(h *taskHandle) {
	if h.consul == nil {
		return
	}
	if r := d.consulRegistrar(); r != nil {
		r.Dead(h.consul.ID)
	}
}

// deregisterFromConsul removes a task's registration (stop, destroy).
func (d *Driver) deregisterFromConsul(h *taskHandle) {
	if h.consul == nil {
		return
	}
	if r := d.consulRegistrar(); r != nil {
		r.Remove(h.consul.ID)
	}
}
