package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

// A multi-node cluster (Options.Clients = N) is one Nomad server, on
// 127.0.0.1 with the cluster's Consul (a dev agent, the Consul server),
// and N Nomad clients, each a node of its own as far as Nomad, Consul and
// pot can tell:
//
//   - an address of its own, 127.70.0.I, on an interface of its own
//     (npotcI, one end of a veth pair; this kernel may have no dummy
//     interfaces), which is the client's network_interface: Nomad gives
//     its allocations' ports on that address, and services are
//     registered with it;
//   - its own Consul agent (client mode, joined to the server), as
//     Nomad wants one per node: a Nomad client deregisters the services
//     of its agent that it does not know of;
//   - its own data dir, pot root (potsim's, with a pot network of its
//     own, 127.(200+I).0.0/16, and its exported ports on the node's
//     address, as pot's rdr rules "to $POT_EXTIF_ADDR"), and with
//     Options.HostVolumes its own emulated ZFS pool and volume plugin.
//
// The pot plugin executable and its plugin_dir are shared (one build);
// each client runs its own plugin process.

// Node is one Nomad client of a multi-node cluster.
type Node struct {
	// Name is the Nomad node's and the Consul node's name: pot-client-I.
	Name string
	// Addr is the node's address, on its interface Iface.
	Addr, Iface string
	// NomadAddr and ConsulAddr are its agents' HTTP addresses (http://).
	NomadAddr, ConsulAddr string
	// PotsimRoot is its potsim's root ("" with a real pot).
	PotsimRoot string
	// Dir holds its state and logs (nomad.log, consul.log).
	Dir string

	potHost
	c                     *Cluster
	consul, nomad         *Proc
	consulArgv, nomadArgv []string
	consulEnv, nomadEnv   []string
}

// nodeIfacePrefix names the nodes' interfaces; what a killed run left is
// deleted by the next (deleteNodeInterfaces).
const nodeIfacePrefix = "npotc"

// startServer starts the Nomad server of a multi-node cluster and waits
// until it is leader.
func (c *Cluster) startServer(ctx context.Context, http, rpc, serf, consulHTTP int) error {
	cfg := filepath.Join(c.Dir, "nomad-server.hcl")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`# written by e2e/cluster: the server of a multi-node cluster
disable_update_check = true
bind_addr            = "127.0.0.1"

ports {
  http = %d
  rpc  = %d
  serf = %d
}

advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}

server {
  enabled          = true
  bootstrap_expect = 1
}

consul {
  address = "127.0.0.1:%d"
}
`, http, rpc, serf, consulHTTP)), 0o644); err != nil {
		return err
	}
	c.nomadArgv = []string{filepath.Join(c.opts.AgentsDir, "nomad"), "agent",
		"-data-dir", filepath.Join(c.Dir, "nomad-data"), "-config", cfg}
	c.nomadEnv = c.procEnv("TMPDIR=" + c.nomadTmp)
	c.logf("starting the Nomad server on %s", c.NomadAddr)
	var err error
	if c.nomad, err = startProc("nomad", filepath.Join(c.Dir, "nomad.log"), c.nomadEnv, c.nomadArgv...); err != nil {
		return err
	}
	return c.waitFor(ctx, c.nomad, time.Minute, "the Nomad server to elect itself leader", func() (bool, error) {
		var leader string
		if err := getJSON(c.NomadAddr+"/v1/status/leader", &leader); err != nil {
			return false, nil
		}
		return leader != "", nil
	})
}

// startNode makes node i (1-based): its interface, pot root, Consul
// agent joined to the cluster's (its serf LAN port consulLAN) and Nomad
// client of the server at serverRPC; it does not wait for the client.
func (c *Cluster) startNode(ctx context.Context, i, consulLAN, serverRPC int) error {
	n := &Node{
		Name:  fmt.Sprintf("pot-client-%d", i),
		Addr:  fmt.Sprintf("127.70.0.%d", i),
		Iface: fmt.Sprintf("%s%d", nodeIfacePrefix, i),
		c:     c,
	}
	n.Dir = filepath.Join(c.Dir, "nodes", n.Name)
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return err
	}
	c.Nodes = append(c.Nodes, n)
	if err := addNodeInterface(n.Iface, n.Addr); err != nil {
		return err
	}
	n.potHost = potHost{dir: n.Dir, env: []string{RunEnv + "=" + c.Dir}}
	if c.opts.Potsim {
		n.PotsimRoot = filepath.Join(n.Dir, "potsim")
		n.potsimRoot = n.PotsimRoot
		n.env = append(n.env, fmt.Sprintf("POTSIM_NETWORK=127.%d.0.0/16", 200+i), "POTSIM_EXTIF_ADDR="+n.Addr)
	}
	volumePlugins, allow, err := c.setUpPotHost(&n.potHost, []string{c.HostDir})
	if err != nil {
		return err
	}

	pp := newPortPicker()
	var ports [5]int
	for k := range ports {
		if ports[k], err = pp.pick(0); err != nil {
			return err
		}
	}
	consulHTTP, consulLANPort, consulServer, nomadHTTP, nomadRPC := ports[0], ports[1], ports[2], ports[3], ports[4]
	n.ConsulAddr = fmt.Sprintf("http://%s:%d", n.Addr, consulHTTP)
	n.NomadAddr = fmt.Sprintf("http://%s:%d", n.Addr, nomadHTTP)

	consulCfg := filepath.Join(n.Dir, "consul.hcl")
	if err := os.WriteFile(consulCfg, []byte(fmt.Sprintf(`# written by e2e/cluster: node %s's Consul agent
node_name            = %q
bind_addr            = %q
client_addr          = %q
retry_join           = ["127.0.0.1:%d"]
disable_host_node_id = true

ports {
  http     = %d
  dns      = -1
  server   = %d
  serf_lan = %d
  serf_wan = -1
  grpc     = -1
  grpc_tls = -1
}
`, n.Name, n.Name, n.Addr, n.Addr, consulLAN, consulHTTP, consulServer, consulLANPort)), 0o644); err != nil {
		return err
	}
	n.consulArgv = []string{filepath.Join(c.opts.AgentsDir, "consul"), "agent",
		"-data-dir", filepath.Join(n.Dir, "consul-data"), "-config-file", consulCfg}
	n.consulEnv = cleanEnv(n.env...)
	c.logf("starting node %s (%s on %s): Consul agent on %s", n.Name, n.Addr, n.Iface, n.ConsulAddr)
	if err := n.startConsul(ctx); err != nil {
		return err
	}

	s := c.clients
	s.allow, s.volumePlugins = allow, volumePlugins
	nomadCfg := filepath.Join(n.Dir, "nomad.hcl")
	consulAddr := fmt.Sprintf("%s:%d", n.Addr, consulHTTP)
	if err := os.WriteFile(nomadCfg, []byte(fmt.Sprintf(`# written by e2e/cluster: node %s's Nomad client
name                 = %q
bind_addr            = %q
disable_update_check = true

ports {
  http = %d
  rpc  = %d
}

advertise {
  http = %q
  rpc  = %q
}
%s
consul {
  address = %q
}
`, n.Name, n.Name, n.Addr, nomadHTTP, nomadRPC, n.Addr, n.Addr,
		clientBlocks(s, consulAddr, fmt.Sprintf("  servers           = [\"127.0.0.1:%d\"]\n  network_interface = %q\n", serverRPC, n.Iface)),
		consulAddr)), 0o644); err != nil {
		return err
	}
	n.nomadArgv = []string{filepath.Join(c.opts.AgentsDir, "nomad"), "agent",
		"-data-dir", filepath.Join(n.Dir, "nomad-data"),
		"-plugin-dir", filepath.Join(c.Dir, "plugins"),
		"-config", nomadCfg}
	n.nomadEnv = cleanEnv(append(append([]string{}, n.env...), "TMPDIR="+c.nomadTmp)...)
	if n.PotsimRoot != "" {
		n.nomadEnv = append(n.nomadEnv, "POTSIM_ROOT="+n.PotsimRoot)
	}
	c.logf("node %s: Nomad client on %s", n.Name, n.NomadAddr)
	n.nomad, err = startProc("nomad "+n.Name, filepath.Join(n.Dir, "nomad.log"), n.nomadEnv, n.nomadArgv...)
	return err
}

// startConsul starts the node's Consul agent and waits until it has
// joined (it knows the leader).
func (n *Node) startConsul(ctx context.Context) error {
	p, err := startProc("consul "+n.Name, filepath.Join(n.Dir, "consul.log"), n.consulEnv, n.consulArgv...)
	if err != nil {
		return err
	}
	n.consul = p
	return n.c.waitFor(ctx, p, time.Minute, "node "+n.Name+"'s Consul agent to join", func() (bool, error) {
		var leader string
		if err := getJSON(n.ConsulAddr+"/v1/status/leader", &leader); err != nil {
			return false, nil
		}
		return leader != "", nil
	})
}

// nodesReady: every node of the cluster is ready with a healthy pot
// driver, as the server sees it.
func (c *Cluster) nodesReady() (bool, error) {
	for _, n := range c.Nodes {
		if n.nomad != nil && n.nomad.Exited() {
			return false, fmt.Errorf("node %s's Nomad client exited (%v); last lines of %s:\n%s", n.Name, n.nomad.waitErr, n.nomad.LogPath, n.nomad.Tail(40))
		}
		ok, err := n.ready()
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// NodeInfo is what the server knows of a node.
type NodeInfo struct {
	ID, Name, Status, SchedulingEligibility, HTTPAddr string
	Drivers                                           map[string]struct{ Detected, Healthy bool }
}

// Info is the server's view of the node (an error if it has none).
func (n *Node) Info() (NodeInfo, error) {
	var nodes []NodeInfo
	if err := n.c.NomadJSON("/v1/nodes", &nodes); err != nil {
		return NodeInfo{}, err
	}
	for _, ni := range nodes {
		if ni.Name == n.Name {
			var full NodeInfo
			err := n.c.NomadJSON("/v1/node/"+ni.ID, &full)
			return full, err
		}
	}
	return NodeInfo{}, fmt.Errorf("the server knows no node %s", n.Name)
}

// ID is the node's Nomad node ID.
func (n *Node) ID() (string, error) {
	ni, err := n.Info()
	return ni.ID, err
}

func (n *Node) ready() (bool, error) {
	ni, err := n.Info()
	if err != nil {
		return false, nil
	}
	d, ok := ni.Drivers["pot"]
	return ni.Status == "ready" && ok && d.Detected && d.Healthy, nil
}

// Pot runs pot on the node, as its operator would.
func (n *Node) Pot(args ...string) (Output, error) {
	return run(n.hostEnv(), time.Minute, append([]string{n.c.PotBin}, args...)...)
}

// TaskPots are the task pots on the node (pot ls -q, image pots left
// out), sorted.
func (n *Node) TaskPots() ([]string, error) {
	out, err := n.Pot("ls", "-q")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, name := range strings.Fields(out.Stdout) {
		if IsTaskPot(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// ZFS runs zfs on the node (the emulation's with potsim).
func (n *Node) ZFS(args ...string) (Output, error) { return n.zfs(args...) }

// VolumeCommand runs `nomad-pot-driver volume ARGS...` on the node
// (Options.HostVolumes).
func (n *Node) VolumeCommand(args ...string) (Output, error) { return n.volumeCommand(args...) }

// VolumeCmd is `nomad-pot-driver volume ARGS...` on the node, to run
// with pipes of the caller's (a send on one node into a receive on
// another).
func (n *Node) VolumeCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(n.driverBin, append([]string{"volume"}, args...)...)
	cmd.Env = cleanEnv(n.volumeEnv(n.volumePotDir)...)
	return cmd
}

// Crash is the node lost: its Nomad client, the pot plugin it ran and
// its Consul agent are killed with SIGKILL. Its jails keep running, as
// jails do when their host's agents die; Restart brings the agents back.
func (n *Node) Crash() error {
	if n.nomad == nil || n.nomad.Exited() {
		return fmt.Errorf("node %s's Nomad client is not running", n.Name)
	}
	plugins := n.PluginPids()
	n.c.logf("crashing node %s: SIGKILL to its Nomad client (pid %d), pot plugin %v and Consul agent (pid %d)", n.Name, n.nomad.Pid(), plugins, n.consul.Pid())
	for _, pid := range plugins {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	var errs []error
	for _, p := range []*Proc{n.nomad, n.consul} {
		if err := p.Stop(syscall.SIGKILL, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Restart starts the node's Consul agent and Nomad client again, with
// their data dirs and config (logs appended to), and waits until the
// node is ready with a healthy pot driver.
func (n *Node) Restart(ctx context.Context) error {
	if n.consul == nil || n.consul.Exited() {
		if err := n.startConsul(ctx); err != nil {
			return err
		}
	}
	if n.nomad != nil && !n.nomad.Exited() {
		return fmt.Errorf("node %s's Nomad client still runs", n.Name)
	}
	n.c.logf("starting node %s's Nomad client again", n.Name)
	p, err := startProc("nomad "+n.Name, filepath.Join(n.Dir, "nomad.log"), n.nomadEnv, n.nomadArgv...)
	if err != nil {
		return err
	}
	n.nomad = p
	return n.c.waitFor(ctx, p, 2*time.Minute, "node "+n.Name+" to be ready", n.ready)
}

// PluginPids are the pot plugin processes the node's Nomad client runs.
func (n *Node) PluginPids() []int {
	if n.nomad == nil {
		return nil
	}
	var out []int
	for _, pid := range n.c.PluginPids() {
		if parentPid(pid) == n.nomad.Pid() {
			out = append(out, pid)
		}
	}
	return out
}

// parentPid is pid's parent, from /proc (0 if unknown).
func parentPid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces, the last ')' ends it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// procs are the node's running agents.
func (n *Node) procs() []*Proc {
	var out []*Proc
	for _, p := range []*Proc{n.consul, n.nomad} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// stopNodes stops every node's Nomad client (SIGINT; a client leaves its
// allocations running: the jobs are stopped first), then destroys the
// pots left on each, then stops their Consul agents.
func (c *Cluster) stopNodes() []error {
	var errs []error
	for _, n := range c.Nodes {
		if n.nomad != nil {
			c.logf("stopping node %s's Nomad client (pid %d)", n.Name, n.nomad.Pid())
			if err := n.nomad.Stop(syscall.SIGINT, 30*time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, n := range c.Nodes {
		if n.PotsimRoot == "" {
			continue
		}
		client := &pot.Client{Bin: c.PotBin, Env: n.hostEnv(), CallTimeout: time.Minute}
		out, err := n.Pot("ls", "-q")
		if err != nil {
			continue
		}
		errs = append(errs, destroyPots(strings.Fields(out.Stdout), func(name string) error {
			if IsTaskPot(name) {
				c.logf("destroying pot %s on %s, left behind", name, n.Name)
			}
			return client.Destroy(context.Background(), name, true)
		})...)
	}
	for _, n := range c.Nodes {
		if n.consul != nil {
			if err := n.consul.Stop(syscall.SIGINT, 15*time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// addNodeInterface makes a node's interface: a veth pair (name, its peer
// nameP), both up, with addr on name.
func addNodeInterface(name, addr string) error {
	for _, argv := range [][]string{
		{"ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"},
		{"ip", "addr", "add", addr + "/32", "dev", name},
		{"ip", "link", "set", name + "p", "up"},
		{"ip", "link", "set", name, "up"},
	} {
		if out, err := run(cleanEnv(), 30*time.Second, argv...); err != nil {
			return fmt.Errorf("making node interface %s (%s): %v\n%s", name, addr, err, out.Stderr)
		}
	}
	// Nomad fingerprints every address of the interface: IPv4 only.
	_ = os.WriteFile(filepath.Join("/proc/sys/net/ipv6/conf", name, "disable_ipv6"), []byte("1\n"), 0o644)
	return nil
}

// deleteNodeInterfaces deletes every node interface on the machine: this
// run's, or a killed run's (the machine lock is held).
func deleteNodeInterfaces() []error {
	links, _ := filepath.Glob("/sys/class/net/" + nodeIfacePrefix + "*")
	var errs []error
	for _, l := range links {
		name := filepath.Base(l)
		if strings.HasSuffix(name, "p") {
			continue // the peer goes with its pair
		}
		if out, err := run(cleanEnv(), 30*time.Second, "ip", "link", "del", name); err != nil {
			errs = append(errs, fmt.Errorf("deleting node interface %s: %v\n%s", name, err, out.Stderr))
		}
	}
	return errs
}
