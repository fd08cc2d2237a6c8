package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// startConsul starts Consul (dev mode) with the cluster's config and waits
// until it has elected itself leader.
func (c *Cluster) startConsul(ctx context.Context) error {
	p, err := startProc("consul", filepath.Join(c.Dir, "consul.log"), c.procEnv(), c.consulArgv...)
	if err != nil {
		return err
	}
	c.consul = p
	return c.waitFor(ctx, c.consul, time.Minute, "Consul to elect itself leader", func() (bool, error) {
		var leader string
		if err := getJSON(c.ConsulAddr+"/v1/status/leader", &leader); err != nil {
			return false, nil
		}
		return leader != "", nil
	})
}

// StopConsul stops Consul (SIGINT, as an operator's restart would) and
// waits until it has exited and its HTTP port no longer answers. Nomad,
// the driver and the jobs keep running.
func (c *Cluster) StopConsul() error {
	if c.consul == nil || c.consul.Exited() {
		return errors.New("consul is not running")
	}
	c.logf("stopping Consul (pid %d)", c.consul.Pid())
	if err := c.consul.Stop(syscall.SIGINT, 15*time.Second); err != nil {
		return err
	}
	if conn, err := net.DialTimeout("tcp", c.ConsulAddr[len("http://"):], time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("something still answers on %s after Consul exited", c.ConsulAddr)
	}
	return nil
}

// RestartConsul starts Consul again, on the same ports and with the same
// config, after StopConsul, and waits until it is leader. A dev-mode Consul
// keeps nothing across the restart: its catalog is empty until Nomad and
// the driver register their services again.
func (c *Cluster) RestartConsul(ctx context.Context) error {
	if c.consul != nil && !c.consul.Exited() {
		return errors.New("consul is still running")
	}
	c.logf("starting Consul again on %s, DNS on %s", c.ConsulAddr, c.ConsulDNS)
	return c.startConsul(ctx)
}

// ConsulRunning reports whether the cluster's Consul process runs.
func (c *Cluster) ConsulRunning() bool { return c.consul != nil && !c.consul.Exited() }

// startHaproxy runs haproxy with cfg, which reads CONSUL_DNS, HAPROXY_BIND
// and HAPROXY_STATS from its environment, and waits until it listens.
func (c *Cluster) startHaproxy(ctx context.Context, name, cfg, bind, stats string) (*Proc, error) {
	p, err := startProc(name, filepath.Join(c.Dir, name+".log"),
		c.procEnv("CONSUL_DNS="+c.ConsulDNS, "HAPROXY_BIND="+bind, "HAPROXY_STATS="+stats),
		"haproxy", "-db", "-f", cfg)
	if err != nil {
		return nil, err
	}
	if err := c.waitFor(ctx, p, 30*time.Second, name+" to listen", func() (bool, error) {
		conn, err := net.DialTimeout("tcp", bind, time.Second)
		if err != nil {
			return false, nil
		}
		conn.Close()
		return true, nil
	}); err != nil {
		_ = p.Stop(syscall.SIGTERM, 5*time.Second)
		return nil, err
	}
	return p, nil
}

// Haproxy is a haproxy a test started besides the cluster's own.
type Haproxy struct {
	// Addr is its frontend, Stats its stats page (host:port).
	Addr, Stats string
	*Proc
}

// StartHaproxy runs one more haproxy with cfg (a haproxy.cfg that reads
// CONSUL_DNS, HAPROXY_BIND and HAPROXY_STATS like example-jobs/haproxy.cfg)
// on free loopback ports; its log is NAME.log in the run folder. Stop
// stops it with the cluster's own.
func (c *Cluster) StartHaproxy(ctx context.Context, name, cfg string) (*Haproxy, error) {
	pp := newPortPicker()
	bind, err := pp.pick(0)
	if err != nil {
		return nil, err
	}
	stats, err := pp.pick(0)
	if err != nil {
		return nil, err
	}
	h := &Haproxy{Addr: fmt.Sprintf("127.0.0.1:%d", bind), Stats: fmt.Sprintf("127.0.0.1:%d", stats)}
	c.logf("starting %s on %s (stats on %s) with %s", name, h.Addr, h.Stats, cfg)
	p, err := c.startHaproxy(ctx, name, cfg, h.Addr, h.Stats)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.extra = append(c.extra, p)
	c.mu.Unlock()
	h.Proc = p
	return h, nil
}

// persistentNomadConfig makes Nomad (Options.NomadPersistent) a server and
// client that keeps its state in its data dir, as a production agent does.
const persistentNomadConfig = `# written by e2e/cluster (NomadPersistent)
server {
  enabled          = true
  bootstrap_expect = 1
}

client {
  network_interface = "lo"
}

# Nomad refuses to default to a loopback advertise address outside dev mode.
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
`

// StopNomad stops the Nomad agent with sig (SIGINT as an operator's
// restart, SIGKILL as a crash) and waits until it has exited. The tasks,
// and after SIGKILL possibly the pot plugin, keep running. Only useful
// with Options.NomadPersistent: a dev agent destroys its allocations.
func (c *Cluster) StopNomad(sig syscall.Signal) error {
	if c.nomad == nil || c.nomad.Exited() {
		return errors.New("nomad is not running")
	}
	c.logf("stopping Nomad (pid %d) with %s", c.nomad.Pid(), sig)
	return c.nomad.Stop(sig, 30*time.Second)
}

// StartNomad starts Nomad again after StopNomad, with the same command
// line, config, data dir and environment (its log appended to), and waits
// until the node is ready with a healthy pot driver.
func (c *Cluster) StartNomad(ctx context.Context) error {
	if c.nomad != nil && !c.nomad.Exited() {
		return errors.New("nomad is still running")
	}
	c.logf("starting Nomad again on %s", c.NomadAddr)
	p, err := startProc("nomad", filepath.Join(c.Dir, "nomad.log"), c.nomadEnv, c.nomadArgv...)
	if err != nil {
		return err
	}
	c.nomad = p
	return c.waitFor(ctx, c.nomad, 2*time.Minute, "the Nomad client to be ready with a healthy pot driver", c.nomadReady)
}

// NomadPid is the pid of the running Nomad agent (0 if none).
func (c *Cluster) NomadPid() int {
	if c.nomad == nil || c.nomad.Exited() {
		return 0
	}
	return c.nomad.Pid()
}

// PluginPids are the pids of the running pot plugin processes (the
// executable plugins/pot of the run folder), read from /proc.
func (c *Cluster) PluginPids() []int {
	var out []int
	for _, pid := range processesOf(c.Dir) {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == filepath.Join(c.Dir, "plugins", "pot") {
			out = append(out, pid)
		}
	}
	return out
}

// NomadLogLines are the lines of Nomad's log (its own and its plugins')
// that contain every one of want.
func (c *Cluster) NomadLogLines(want ...string) string {
	b, err := os.ReadFile(filepath.Join(c.Dir, "nomad.log"))
	if err != nil {
		return err.Error()
	}
	var out strings.Builder
next:
	for _, line := range strings.Split(string(b), "\n") {
		for _, w := range want {
			if !strings.Contains(line, w) {
				continue next
			}
		}
		out.WriteString(line + "\n")
	}
	return out.String()
}
