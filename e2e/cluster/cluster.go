// Package cluster runs a one-machine Nomad cluster with the pot driver:
// Consul in dev mode, a Nomad dev agent (server and client) whose plugin_dir
// holds nomad-pot-driver, configured to call pot — potsim on Linux — an HTTP
// server of pot images, and optionally haproxy in front of the services.
// Everything listens on loopback and lives in one folder under
// os.TempDir(); Stop stops every process it started by its pid and removes
// the folder.
//
// The end-to-end tests (package e2e, build tag e2e) and the demo
// (e2e/demo, `make demo`) both use it.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bsdpot/nomad-pot-driver/hostvolume"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// RunEnv is set, to the run folder, in the environment of every process a
// cluster starts; their children inherit it, so what a killed run left
// running can be found.
const RunEnv = "E2E_CLUSTER_RUN"

// RealPot is where FreeBSD's package installs pot.
const RealPot = "/usr/local/bin/pot"

// Options configure a cluster.
type Options struct {
	// Who is written into the machine lock, for whoever waits for it.
	Who string
	// RepoRoot is this repository's root (RepoRoot()).
	RepoRoot string
	// AgentsDir holds the nomad and consul executables (AgentsDir()).
	AgentsDir string
	// Potsim: run potsim (built from cmd/potsim) in place of pot, with a
	// state root of its own in the run folder. Otherwise the driver calls
	// the real pot: PotBin, RealPot when empty.
	Potsim bool
	// PotBin is the real pot to call (not Potsim): pot's own scripts on
	// the FreeBSD emulation (make test-realpot) or RealPot when empty. It
	// is initialised already, as an operator's pot is.
	PotBin string
	// ImageDir, with a real pot, is a folder of images `pot export` made
	// (the e2e image, ImageName_ImageTag.xz and its .skein), served as
	// the test images. Potsim's image is written by the cluster.
	ImageDir string
	// PotCache, with a real pot made for the tests, is its image cache
	// (POT_CACHE): the test image is removed from it at Start, so each
	// cluster fetches it as a fresh host does (pot keeps what it fetched).
	PotCache string
	// Webserver, with a real pot, is e2e/webserver as the jails see it
	// (a path in the image); potsim's is built on the host.
	Webserver string
	// DefaultPorts: use Nomad's 4646, Consul's 8500 and 8600 and haproxy's
	// 8080/8404 when they are free (the demo); otherwise, and always when
	// false, free random loopback ports.
	DefaultPorts bool
	// HaproxyConfig is a haproxy.cfg to run haproxy with ("" for none). It
	// gets CONSUL_DNS, HAPROXY_BIND and HAPROXY_STATS in its environment.
	HaproxyConfig string
	// DriverConsul, when set, gives the pot plugin a consul block pointing
	// at the cluster's Consul, so tasks with a consul block are registered
	// by the driver itself.
	DriverConsul *DriverConsul
	// Recorder builds the recording stand-in of rctl and cpuset
	// (internal/recorder), points the plugin's rctl_bin and cpuset_bin at
	// it and has it log every call to Cluster.RecorderLog.
	Recorder bool
	// NomadPersistent runs Nomad as a non-dev agent, server and client
	// (bootstrap_expect = 1), keeping its state in its data dir, so that
	// StopNomad and StartNomad restart it with its allocations (a dev
	// agent keeps nothing and destroys its allocations when it stops).
	NomadPersistent bool
	// HostVolumes installs the driver as the client's host volume plugin
	// pot-fscomp and allows pot's fscomps as host paths; with potsim the
	// machine gets the emulation's ZFS, whose mounts need a mount
	// namespace of the caller's own (volumes.go).
	HostVolumes bool
	// HoldPot names a pot subcommand (e.g. "set-env") whose first call
	// by the plugin is held: the plugin calls a wrapper of pot that, that
	// once, creates Cluster.HeldFile and waits without running pot until
	// the plugin that called it is gone (a fault test kills it there).
	// Every other call runs pot.
	HoldPot string
	// SignImages signs the test image with a signify key pair made for
	// the cluster (Cluster.SigningPubKey, SigningSecKey) and gives the pot
	// plugin that key as its default_signature_pubkey, with
	// require_signed_images. With a real pot the image is served from a
	// copy of ImageDir, which stays as it is.
	SignImages bool
	// Clients makes a multi-node cluster: one Nomad server and this many
	// Nomad clients, each a node of its own (nodes.go). 0: one agent,
	// server and client. Potsim only.
	Clients int
	// Keep leaves the run folder in place at Stop (logs, pot roots).
	Keep bool
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// DriverConsul is the pot plugin's consul block (its address is the
// cluster's Consul). Empty durations leave the driver's defaults (10s, 30s);
// tests use short ones.
type DriverConsul struct {
	TTL               string
	AntiEntropyPeriod string
}

// Cluster is a running cluster.
type Cluster struct {
	// Dir is the run folder: agents' data, logs, potsim's root, binaries.
	Dir string
	// NomadAddr, ConsulAddr are the agents' HTTP addresses (http://...).
	NomadAddr, ConsulAddr string
	// ConsulDNS is Consul's DNS server, 127.0.0.1:PORT.
	ConsulDNS string
	// HaproxyAddr and HaproxyStats are haproxy's frontend and stats page
	// (host:port), empty without haproxy.
	HaproxyAddr, HaproxyStats string
	// PotBin is the pot the driver calls; PotsimRoot its state root when
	// it is potsim.
	PotBin, PotsimRoot string
	// HostDir is a folder for host files jobs mount or copy in: the pot
	// plugin's host_path_allow lists it (and nothing else).
	HostDir string
	// Webserver is the e2e/webserver executable as a task's command sees
	// it (potsim's on the host, or Options.Webserver).
	Webserver string
	// Images serves the test image (potsim, or Options.ImageDir).
	Images *ImageServer
	// SigningPubKey and SigningSecKey are the key pair the test image is
	// signed with (Options.SignImages).
	SigningPubKey, SigningSecKey string
	// RecorderLog is where the rctl and cpuset stand-ins log their calls
	// (Options.Recorder; read it with internal/recorder.Read).
	RecorderLog string
	// HeldFile exists once the plugin's call of Options.HoldPot is held.
	HeldFile string

	// Nodes are the Nomad clients of a multi-node cluster
	// (Options.Clients), in order; none otherwise.
	Nodes []*Node

	// host is the single node's pot host (its emulated ZFS with
	// Options.HostVolumes and potsim, its volume plugin: volumes.go).
	host potHost

	opts                   Options
	consul, nomad, haproxy *Proc
	mu                     sync.Mutex
	extra                  []*Proc // haproxies started by StartHaproxy (mu)
	consulArgv             []string
	nomadArgv, nomadEnv    []string
	lock                   *machineLock
	stopped                bool
	// clients is every Nomad client's config (per node: its own allow
	// and volume plugins); fbsdemuBin, pluginBin, nomadTmp what they run.
	clients                         clientSettings
	fbsdemuBin, pluginBin, nomadTmp string
}

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// Start builds the driver (and potsim and the web server), then starts
// Consul, the image server, Nomad and haproxy, each waited for until it
// answers. On error everything started so far is stopped again.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	c := &Cluster{opts: opts}
	if opts.Logf == nil {
		c.opts.Logf = func(string, ...any) {}
	}
	if opts.Clients > 0 && (!opts.Potsim || opts.NomadPersistent || opts.HoldPot != "" || opts.Recorder) {
		return nil, errors.New("a multi-node cluster runs potsim, without NomadPersistent, HoldPot or Recorder")
	}
	if !opts.Potsim {
		if opts.PotBin == "" {
			c.opts.PotBin = RealPot
		}
		if _, err := os.Stat(c.opts.PotBin); err != nil {
			return nil, fmt.Errorf("pot is not installed at %s: %w", c.opts.PotBin, err)
		}
	}
	for _, name := range []string{"nomad", "consul"} {
		if _, err := os.Stat(filepath.Join(opts.AgentsDir, name)); err != nil {
			return nil, fmt.Errorf("no %s in %s: %w", name, opts.AgentsDir, err)
		}
	}
	c.lock, err = acquireMachineLock(ctx, opts.Who, c.logf)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if serr := c.Stop(); serr != nil {
				c.logf("stopping after the failed start: %v", serr)
			}
		}
	}()
	reapStale(c.logf)
	c.Dir, err = os.MkdirTemp("", RunPrefix)
	if err != nil {
		return nil, err
	}
	// Symlinks in TMPDIR would hide potsim's mounts from mountsUnder.
	if real, err := filepath.EvalSymlinks(c.Dir); err == nil {
		c.Dir = real
	}

	c.HostDir = filepath.Join(c.Dir, "host")
	if err := os.MkdirAll(c.HostDir, 0o755); err != nil {
		return nil, err
	}

	c.logf("building the driver%s", map[bool]string{true: ", potsim and the web server", false: ""}[opts.Potsim])
	plugin := filepath.Join(c.Dir, "plugins", "pot") // the file name must be the plugin's label
	builds := map[string]string{plugin: "."}
	c.PotBin, c.Webserver = c.opts.PotBin, opts.Webserver
	if opts.Potsim {
		c.PotBin = filepath.Join(c.Dir, "bin", "potsim")
		c.Webserver = filepath.Join(c.Dir, "bin", "webserver")
		c.PotsimRoot = filepath.Join(c.Dir, "potsim")
		if opts.Clients > 0 {
			c.PotsimRoot = "" // each node has its own
		}
		builds[c.PotBin] = "./cmd/potsim"
		builds[c.Webserver] = "./e2e/webserver"
	}
	fbsdemuBin := ""
	if opts.HostVolumes && opts.Potsim {
		fbsdemuBin = filepath.Join(c.Dir, "bin", "fbsdemu")
		builds[fbsdemuBin] = "./cmd/fbsdemu"
	}
	var recorderBin string
	if opts.Recorder {
		recorderBin = filepath.Join(c.Dir, "bin", "recorder")
		builds[recorderBin] = "./internal/recorder/cmd/recorder"
	}
	if err := build(ctx, opts.RepoRoot, builds); err != nil {
		return nil, err
	}
	c.fbsdemuBin, c.pluginBin = fbsdemuBin, plugin
	c.host = potHost{dir: c.Dir, potsimRoot: c.PotsimRoot}
	allow := []string{c.HostDir}
	volumePlugins := ""
	if opts.Clients == 0 {
		if volumePlugins, allow, err = c.setUpPotHost(&c.host, allow); err != nil {
			return nil, err
		}
	}
	var limitTools map[string]string
	if opts.Recorder {
		// The stand-in tells the tools apart by the name it runs as.
		limitTools = map[string]string{}
		for _, tool := range []string{"rctl", "cpuset"} {
			link := filepath.Join(c.Dir, "bin", tool)
			if err := os.Symlink("recorder", link); err != nil {
				return nil, err
			}
			limitTools[tool] = link
		}
		c.RecorderLog = filepath.Join(c.Dir, "recorder.log")
	}

	pp := newPortPicker()
	pick := func(def int) int {
		if err != nil {
			return 0
		}
		var p int
		if !opts.DefaultPorts {
			def = 0
		}
		p, err = pp.pick(def)
		return p
	}
	consulHTTP, consulDNS := pick(8500), pick(8600)
	consulServer, consulLAN, consulWAN := pick(0), pick(0), pick(0)
	nomadHTTP, nomadRPC, nomadSerf := pick(4646), pick(0), pick(0)
	haproxyPort, statsPort := pick(8080), pick(8404)
	if err != nil {
		return nil, err
	}
	c.ConsulAddr = fmt.Sprintf("http://127.0.0.1:%d", consulHTTP)
	c.ConsulDNS = fmt.Sprintf("127.0.0.1:%d", consulDNS)
	c.NomadAddr = fmt.Sprintf("http://127.0.0.1:%d", nomadHTTP)

	// Consul
	consulCfg := filepath.Join(c.Dir, "consul.hcl")
	if err := os.WriteFile(consulCfg, []byte(fmt.Sprintf(`# written by e2e/cluster
ports {
  http     = %d
  dns      = %d
  server   = %d
  serf_lan = %d
  serf_wan = %d
  grpc     = -1
  grpc_tls = -1
}
`, consulHTTP, consulDNS, consulServer, consulLAN, consulWAN)), 0o644); err != nil {
		return nil, err
	}
	c.consulArgv = []string{filepath.Join(opts.AgentsDir, "consul"), "agent", "-dev", "-client", "127.0.0.1", "-bind", "127.0.0.1",
		"-config-file", consulCfg}
	c.logf("starting Consul (dev mode) on %s, DNS on %s", c.ConsulAddr, c.ConsulDNS)
	if err := c.startConsul(ctx); err != nil {
		return nil, err
	}

	if opts.PotCache != "" {
		cached, _ := filepath.Glob(filepath.Join(opts.PotCache, ImageName+"_"+ImageTag+".xz*"))
		for _, f := range cached {
			if err := os.Remove(f); err != nil {
				return nil, err
			}
		}
	}

	// Image server
	if opts.Potsim || opts.ImageDir != "" {
		switch dir := filepath.Join(c.Dir, "images"); {
		case opts.Potsim:
			c.Images, err = StartImageServer(dir)
		case opts.SignImages:
			if err = copyTestImage(opts.ImageDir, dir); err == nil {
				c.Images, err = ServeImages(dir)
			}
		default:
			c.Images, err = ServeImages(opts.ImageDir)
		}
		if err != nil {
			return nil, err
		}
		c.logf("serving pot images at %s", c.Images.URL)
		if opts.SignImages {
			if c.SigningPubKey, c.SigningSecKey, err = SigningKeys(filepath.Join(c.Dir, "keys"), "images"); err != nil {
				return nil, err
			}
			if err := SignImage(c.Images.Dir, ImageName, ImageTag, c.SigningSecKey); err != nil {
				return nil, err
			}
		}
	}

	// Nomad
	pluginPot := c.PotBin
	if opts.HoldPot != "" {
		if pluginPot, err = c.writeHoldingPot(opts.HoldPot); err != nil {
			return nil, err
		}
	}
	c.clients = clientSettings{potBin: pluginPot, allow: allow, driverConsul: opts.DriverConsul,
		limitTools: limitTools, signingKey: c.SigningPubKey, volumePlugins: volumePlugins}
	// Nomad's plugins (the pot driver, logmon) listen on sockets in
	// TMPDIR; one killed (TestPluginKilled, a SIGKILLed agent) leaves its
	// socket behind: in the run folder, which goes at Stop, not in /tmp.
	c.nomadTmp = filepath.Join(c.Dir, "tmp")
	if err := os.MkdirAll(c.nomadTmp, 0o755); err != nil {
		return nil, err
	}
	if opts.Clients > 0 {
		if err := c.startServer(ctx, nomadHTTP, nomadRPC, nomadSerf, consulHTTP); err != nil {
			return nil, err
		}
		for i := 1; i <= opts.Clients; i++ {
			if err := c.startNode(ctx, i, consulLAN, nomadRPC); err != nil {
				return nil, err
			}
		}
		if err := c.waitFor(ctx, c.nomad, 2*time.Minute, fmt.Sprintf("%d Nomad clients to be ready with a healthy pot driver", opts.Clients), c.nodesReady); err != nil {
			return nil, err
		}
	} else if err := c.startSingleNomad(ctx, nomadHTTP, nomadRPC, nomadSerf, consulHTTP); err != nil {
		return nil, err
	}

	// haproxy
	if opts.HaproxyConfig != "" {
		c.HaproxyAddr = fmt.Sprintf("127.0.0.1:%d", haproxyPort)
		c.HaproxyStats = fmt.Sprintf("127.0.0.1:%d", statsPort)
		c.logf("starting haproxy on %s (stats on %s), backends from Consul DNS", c.HaproxyAddr, c.HaproxyStats)
		c.haproxy, err = c.startHaproxy(ctx, "haproxy", opts.HaproxyConfig, c.HaproxyAddr, c.HaproxyStats)
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// startSingleNomad starts the one Nomad agent, server and client (a dev
// agent unless Options.NomadPersistent), and waits until its pot driver
// is healthy.
func (c *Cluster) startSingleNomad(ctx context.Context, nomadHTTP, nomadRPC, nomadSerf, consulHTTP int) error {
	nomadCfg := filepath.Join(c.Dir, "nomad.hcl")
	if err := os.WriteFile(nomadCfg, []byte(nomadConfig(nomadHTTP, nomadRPC, nomadSerf, fmt.Sprintf("127.0.0.1:%d", consulHTTP), c.clients)), 0o644); err != nil {
		return err
	}
	env := c.procEnv("TMPDIR=" + c.nomadTmp)
	if c.opts.Potsim {
		env = append(env, "POTSIM_ROOT="+c.PotsimRoot)
	}
	if c.RecorderLog != "" {
		// The plugin inherits Nomad's environment, the tools the plugin's.
		env = append(env, "NOMAD_POT_RECORDER_LOG="+c.RecorderLog)
	}
	c.logf("starting Nomad (dev agent) on %s with the pot driver calling %s", c.NomadAddr, c.PotBin)
	c.nomadArgv = []string{filepath.Join(c.opts.AgentsDir, "nomad"), "agent", "-dev", "-bind", "127.0.0.1",
		"-data-dir", filepath.Join(c.Dir, "nomad-data"),
		"-plugin-dir", filepath.Join(c.Dir, "plugins"),
		"-config", nomadCfg}
	if c.opts.NomadPersistent {
		serverCfg := filepath.Join(c.Dir, "nomad-server.hcl")
		if err := os.WriteFile(serverCfg, []byte(persistentNomadConfig), 0o644); err != nil {
			return err
		}
		argv := []string{c.nomadArgv[0], "agent"}
		for _, a := range c.nomadArgv[2:] {
			if a != "-dev" {
				argv = append(argv, a)
			}
		}
		c.nomadArgv = append(argv, "-config", serverCfg)
	}
	c.nomadEnv = env
	var err error
	c.nomad, err = startProc("nomad", filepath.Join(c.Dir, "nomad.log"), env, c.nomadArgv...)
	if err != nil {
		return err
	}
	return c.waitFor(ctx, c.nomad, 2*time.Minute, "the Nomad client to be ready with a healthy pot driver", c.nomadReady)
}

// setUpPotHost makes h ready for the driver: pot init (potsim), the
// emulated ZFS and the volume plugin (Options.HostVolumes). It returns
// the host's host_volume_plugin_dir ("" for none) and allow with what
// the host's jobs may mount besides (its fscomps).
func (c *Cluster) setUpPotHost(h *potHost, allow []string) (volumePlugins string, _ []string, err error) {
	if c.opts.Potsim {
		// As an operator does before anything else: pot refuses every
		// other subcommand before `pot init`.
		c.logf("pot init (potsim root %s)", h.potsimRoot)
		if out, err := run(h.hostEnv(), time.Minute, c.PotBin, "init"); err != nil {
			return "", nil, fmt.Errorf("pot init: %w\n%s", err, out.Stderr)
		}
		if c.fbsdemuBin != "" {
			c.logf("ZFS of the FreeBSD emulation: pool %s, pot's root %s/pot", emulatedPool, emulatedPool)
			if err := h.setUpZFS(c.fbsdemuBin, filepath.Join(c.Dir, "emu-bin")); err != nil {
				return "", nil, err
			}
		}
	}
	if !c.opts.HostVolumes {
		return "", allow, nil
	}
	volumePlugins, fscomps, err := h.setUpVolumePlugin(c.PotBin, c.pluginBin)
	if err != nil {
		return "", nil, err
	}
	return volumePlugins, append(append([]string{}, allow...), fscomps), nil
}

// clientSettings are what a Nomad client of the cluster is configured
// with: the pot plugin's settings and the client's host volume plugins.
type clientSettings struct {
	potBin        string
	allow         []string // host_path_allow
	driverConsul  *DriverConsul
	limitTools    map[string]string
	signingKey    string
	volumePlugins string // host_volume_plugin_dir, "" for none
}

// nomadConfig is the single agent's config: server and client.
func nomadConfig(http, rpc, serf int, consulAddr string, s clientSettings) string {
	return fmt.Sprintf(`# written by e2e/cluster
disable_update_check = true

ports {
  http = %d
  rpc  = %d
  serf = %d
}
%s
consul {
  address = %q
}
`, http, rpc, serf, clientBlocks(s, consulAddr, ""), consulAddr)
}

// clientBlocks are a Nomad client's client block (with clientLines) and
// pot plugin block; consulAddr is the Consul agent the driver registers
// with (Options.DriverConsul).
func clientBlocks(s clientSettings, consulAddr, clientLines string) string {
	var extra strings.Builder
	quoted := make([]string, len(s.allow))
	for i, a := range s.allow {
		quoted[i] = strconv.Quote(a)
	}
	if s.volumePlugins != "" {
		clientLines += fmt.Sprintf("  # The pot driver as host volume plugin %s.\n  host_volume_plugin_dir = %q\n", hostvolume.PluginName, s.volumePlugins)
	}
	if s.signingKey != "" {
		fmt.Fprintf(&extra, `
    # Every image verified with the cluster's key unless a job names its own.
    default_signature_pubkey = %q
    require_signed_images    = true
`, s.signingKey)
	}
	if s.limitTools != nil {
		fmt.Fprintf(&extra, `
    # The recording stand-ins of FreeBSD's rctl and cpuset.
    rctl_bin   = %q
    cpuset_bin = %q
`, s.limitTools["rctl"], s.limitTools["cpuset"])
	}
	if dc := s.driverConsul; dc != nil {
		fmt.Fprintf(&extra, `
    # Where the driver registers tasks that have a consul block.
    consul {
      address = %q
`, consulAddr)
		if dc.TTL != "" {
			fmt.Fprintf(&extra, "      ttl = %q\n", dc.TTL)
		}
		if dc.AntiEntropyPeriod != "" {
			fmt.Fprintf(&extra, "      anti_entropy_period = %q\n", dc.AntiEntropyPeriod)
		}
		extra.WriteString("    }\n")
	}
	return fmt.Sprintf(`
client {
  enabled = true
  options = {
    # Cloud fingerprinters stop the client where AWS_CA_BUNDLE is set.
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
    "driver.allowlist"     = "pot"
  }
%s}

# The file in plugin_dir is named "pot", as this block's label.
plugin "pot" {
  config {
    pot_bin = %q
    # Host folders a job may mount or copy from.
    host_path_allow = [%s]
%s  }
}
`, clientLines, s.potBin, strings.Join(quoted, ", "), extra.String())
}

// nomadReady: a node is ready and its pot driver healthy.
func (c *Cluster) nomadReady() (bool, error) {
	var nodes []struct {
		ID      string
		Status  string
		Drivers map[string]struct {
			Detected, Healthy bool
			HealthDescription string
		}
	}
	if err := getJSON(c.NomadAddr+"/v1/nodes", &nodes); err != nil {
		return false, nil
	}
	// The node list has no drivers in older versions; read the node.
	for _, n := range nodes {
		if n.Status != "ready" {
			continue
		}
		var node struct {
			Drivers map[string]struct {
				Detected, Healthy bool
				HealthDescription string
			}
		}
		if err := getJSON(c.NomadAddr+"/v1/node/"+n.ID, &node); err != nil {
			return false, nil
		}
		if d, ok := node.Drivers["pot"]; ok && d.Detected && d.Healthy {
			return true, nil
		}
	}
	return false, nil
}

// waitFor polls cond every 250 ms until it holds, p exits, ctx ends or
// limit passes.
func (c *Cluster) waitFor(ctx context.Context, p *Proc, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited while waiting for %s (%v); last lines of %s:\n%s", p.Name, what, p.waitErr, p.LogPath, p.Tail(40))
		}
		if time.Now().After(deadline) {
			tail := ""
			if p != nil {
				tail = fmt.Sprintf("; last lines of %s:\n%s", p.LogPath, p.Tail(40))
			}
			return fmt.Errorf("timed out after %s waiting for %s%s", limit, what, tail)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// procEnv is the environment of a process the cluster starts.
func (c *Cluster) procEnv(extra ...string) []string {
	return cleanEnv(append(append([]string{RunEnv + "=" + c.Dir}, c.host.env...), extra...)...)
}

// Procs are the processes the cluster started and still has.
func (c *Cluster) Procs() []*Proc {
	c.mu.Lock()
	extra := append([]*Proc(nil), c.extra...)
	c.mu.Unlock()
	var out []*Proc
	for _, p := range append([]*Proc{c.consul, c.nomad, c.haproxy}, extra...) {
		if p != nil {
			out = append(out, p)
		}
	}
	for _, n := range c.Nodes {
		out = append(out, n.procs()...)
	}
	return out
}

// Env is the environment for the nomad CLI (NOMAD_ADDR) and potsim
// (POTSIM_ROOT) of this cluster.
func (c *Cluster) Env() []string {
	env := cleanEnv(append([]string{"NOMAD_ADDR=" + c.NomadAddr, "CONSUL_HTTP_ADDR=" + c.ConsulAddr}, c.host.env...)...)
	if c.PotsimRoot != "" {
		env = append(env, "POTSIM_ROOT="+c.PotsimRoot)
	}
	return env
}

// Nomad runs the nomad CLI against the cluster.
func (c *Cluster) Nomad(timeout time.Duration, args ...string) (Output, error) {
	return run(c.Env(), timeout, append([]string{filepath.Join(c.opts.AgentsDir, "nomad")}, args...)...)
}

// NomadCommand is the nomad CLI for the cluster, to run with its output
// streamed (the demo's `nomad job run`).
func (c *Cluster) NomadCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.opts.AgentsDir, "nomad"), args...)
	cmd.Env = c.Env()
	return cmd
}

// NomadBin is the nomad executable.
func (c *Cluster) NomadBin() string { return filepath.Join(c.opts.AgentsDir, "nomad") }

// Pot runs pot (potsim) as an operator would on the host.
// A multi-node cluster has no pot of its own: each node has (Node.Pot).
func (c *Cluster) Pot(args ...string) (Output, error) {
	if len(c.Nodes) > 0 {
		return Output{}, errors.New("a multi-node cluster runs pot on its nodes: Node.Pot")
	}
	return run(c.Env(), time.Minute, append([]string{c.PotBin}, args...)...)
}

// Pots lists every pot (pot ls -q), sorted.
func (c *Cluster) Pots() ([]string, error) {
	out, err := c.Pot("ls", "-q")
	if err != nil {
		return nil, err
	}
	names := strings.Fields(out.Stdout)
	sort.Strings(names)
	return names, nil
}

// NomadJSON decodes GET NomadAddr+path.
func (c *Cluster) NomadJSON(path string, v any) error { return getJSON(c.NomadAddr+path, v) }

// ConsulJSON decodes GET ConsulAddr+path.
func (c *Cluster) ConsulJSON(path string, v any) error { return getJSON(c.ConsulAddr+path, v) }

var httpClient = &http.Client{Timeout: 10 * time.Second}

func getJSON(url string, v any) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// StopJobs stops every job and waits up to limit for their allocations to
// stop on the client (so the driver stops and destroys their pots), then
// purges them. (A purge right away would drop the allocations from the
// servers' view while the client still runs them.)
func (c *Cluster) StopJobs(limit time.Duration) error {
	if c.nomad == nil || c.nomad.Exited() {
		return nil
	}
	var jobs []struct{ ID, Namespace string }
	if err := c.NomadJSON("/v1/jobs?namespace=*", &jobs); err != nil {
		return err
	}
	deregister := func(id, ns string, purge bool) error {
		req, _ := http.NewRequest(http.MethodDelete, c.NomadAddr+"/v1/job/"+id+"?purge="+strconv.FormatBool(purge)+"&namespace="+ns, nil)
		resp, err := httpClient.Do(req)
		if err != nil {
			return fmt.Errorf("stopping job %s: %w", id, err)
		}
		resp.Body.Close()
		return nil
	}
	for _, j := range jobs {
		if err := deregister(j.ID, j.Namespace, false); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(limit)
	for {
		var allocs []struct{ ID, ClientStatus string }
		if err := c.NomadJSON("/v1/allocations?namespace=*", &allocs); err != nil {
			return err
		}
		var live []string
		for _, a := range allocs {
			if a.ClientStatus == "running" || a.ClientStatus == "pending" {
				live = append(live, a.ID[:8])
			}
		}
		if len(live) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("allocations still running %s after stopping their jobs: %v", limit, live)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, j := range jobs {
		if err := deregister(j.ID, j.Namespace, true); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops the jobs, then Nomad, every pot left, haproxy, Consul and the
// image server — each process by its pid — unmounts what is left below the
// run folder and removes it. It is safe to call twice.
func (c *Cluster) Stop() error {
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	if err := c.StopJobs(time.Minute); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.stopNodes()...)
	if c.nomad != nil {
		c.logf("stopping Nomad (pid %d)", c.nomad.Pid())
		if err := c.nomad.Stop(syscall.SIGINT, 30*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Dir != "" {
		// The plugin normally exits with Nomad. What else of the run
		// is left but the cluster's own agents — a pot command of a
		// plugin killed mid-call — goes too, before the pots are
		// listed: a pot prepare left running would make its pot after.
		own := map[int]bool{}
		for _, p := range c.Procs() {
			own[p.Pid()] = true
		}
		var killed []int
		for _, pid := range processesOf(c.Dir) {
			if own[pid] {
				continue
			}
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == filepath.Join(c.Dir, "plugins", "pot") {
				errs = append(errs, fmt.Errorf("the pot plugin (pid %d) outlived Nomad; killed", pid))
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed = append(killed, pid)
		}
		if len(killed) > 0 {
			c.logf("killed what the run left running: pids %v", killed)
			time.Sleep(500 * time.Millisecond)
		}
	}
	if c.PotsimRoot != "" || c.opts.ImageDir != "" {
		// Potsim's, or a real pot's made for the tests (the emulation).
		// Through the pot client: a pot whose start was killed stays
		// `starting`, which only it knows how to clear.
		client := &pot.Client{Bin: c.PotBin, Env: c.Env(), CallTimeout: time.Minute}
		if names, err := c.Pots(); err == nil {
			errs = append(errs, destroyPots(names, func(n string) error {
				if IsTaskPot(n) {
					c.logf("destroying pot %s, left behind", n)
				}
				return client.Destroy(context.Background(), n, true)
			})...)
		}
	}
	c.mu.Lock()
	haproxies := append([]*Proc{c.haproxy}, c.extra...)
	c.mu.Unlock()
	for _, h := range haproxies {
		if h == nil {
			continue
		}
		c.logf("stopping %s (pid %d)", h.Name, h.Pid())
		if err := h.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if c.consul != nil {
		c.logf("stopping Consul (pid %d)", c.consul.Pid())
		if err := c.consul.Stop(syscall.SIGINT, 15*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	_ = c.Images.Close()
	for _, n := range c.Nodes {
		if err := n.tearDownZFS(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.host.tearDownZFS(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, deleteNodeInterfaces()...)
	if c.Dir != "" {
		if err := cleanRunDir(c.Dir, c.opts.Keep); err != nil {
			errs = append(errs, err)
		}
		if c.opts.Keep {
			c.logf("kept %s", c.Dir)
		}
	}
	c.lock.release()
	return errors.Join(errs...)
}

// taskPot matches the name the driver gives a task's pot:
// JOB_TASK_ALLOCID_XXXXXXXX; its group is the allocation ID.
var taskPot = regexp.MustCompile(`_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_[0-9A-Za-z]+$`)

// IsTaskPot tells a task's pot from an image pot (IMAGE_TAG, the cache
// pot prepare imports and keeps).
func IsTaskPot(name string) bool { return taskPot.MatchString(name) }

// TaskPotAlloc is the allocation ID in a task pot's name ("" for another
// pot).
func TaskPotAlloc(name string) string {
	if m := taskPot.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return ""
}

// destroyPots destroys every pot of names: task pots (clones) first, then
// image pots, which pot cannot destroy while a pot cloned from them exists;
// a pot whose destroy failed is tried once more after the others (it may
// have been the origin of one of them). The errors of that second try.
func destroyPots(names []string, destroy func(string) error) []error {
	var order, failed []string
	for _, n := range names {
		if IsTaskPot(n) {
			order = append(order, n)
		}
	}
	for _, n := range names {
		if !IsTaskPot(n) {
			order = append(order, n)
		}
	}
	for _, n := range order {
		if destroy(n) != nil {
			failed = append(failed, n)
		}
	}
	var errs []error
	for _, n := range failed {
		if err := destroy(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// cleanRunDir kills what is left running from the run folder (jail
// processes, a plugin), unmounts what is mounted below it and removes it
// (unless keep). A folder with a mount left is not removed: removing it
// would reach into the mounted host folder.
func cleanRunDir(dir string, keep bool) error {
	for _, pid := range processesOf(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if left := unmountUnder(dir); len(left) > 0 {
		return fmt.Errorf("still mounted below %s, not removed: %v", dir, left)
	}
	if keep {
		return nil
	}
	return os.RemoveAll(dir)
}

// reapStale cleans up after runs that died without stopping: while we hold
// the machine lock no other run is alive, so every run folder is stale.
// Their pots are destroyed with their own potsim, their processes killed,
// their mounts detached.
func reapStale(logf func(string, ...any)) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), RunPrefix+"*"))
	for _, dir := range dirs {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
		potsim := filepath.Join(dir, "bin", "potsim")
		nodeRoots, _ := filepath.Glob(filepath.Join(dir, "nodes", "*", "potsim"))
		for _, root := range append([]string{filepath.Join(dir, "potsim")}, nodeRoots...) {
			if _, err := os.Stat(root); err != nil {
				continue
			}
			if _, err := os.Stat(potsim); err == nil {
				env := cleanEnv("POTSIM_ROOT=" + root)
				if out, err := run(env, time.Minute, potsim, "ls", "-q"); err == nil {
					_ = destroyPots(strings.Fields(out.Stdout), func(n string) error {
						_, err := run(env, time.Minute, potsim, "destroy", "-F", "-p", n)
						return err
					})
				}
			}
		}
		if err := cleanRunDir(dir, false); err != nil {
			logf("cleaning up the earlier run %s: %v", dir, err)
		} else {
			logf("cleaned up after an earlier run that did not stop: %s", dir)
		}
	}
	for _, err := range deleteNodeInterfaces() {
		logf("%v", err)
	}
}

// Describe is a few lines naming the pot in use and where everything is.
func (c *Cluster) Describe() string {
	var b strings.Builder
	if c.PotsimRoot != "" {
		fmt.Fprintf(&b, "pot:     potsim (Linux stand-in for pot) %s, POTSIM_ROOT=%s\n", c.PotBin, c.PotsimRoot)
	} else {
		fmt.Fprintf(&b, "pot:     %s (%s)\n", c.PotBin, runtime.GOOS)
	}
	fmt.Fprintf(&b, "Nomad:   %s   (export NOMAD_ADDR=%s)\n", c.NomadAddr, c.NomadAddr)
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "node:    %s at %s (%s): Nomad client %s, Consul agent %s, POTSIM_ROOT=%s\n", n.Name, n.Addr, n.Iface, n.NomadAddr, n.ConsulAddr, n.PotsimRoot)
	}
	fmt.Fprintf(&b, "Consul:  %s/ui/   DNS %s\n", c.ConsulAddr, c.ConsulDNS)
	if c.HaproxyAddr != "" {
		fmt.Fprintf(&b, "haproxy: http://%s/   stats http://%s/stats\n", c.HaproxyAddr, c.HaproxyStats)
	}
	fmt.Fprintf(&b, "logs:    %s/{nomad,consul,haproxy}.log\n", c.Dir)
	if len(c.Nodes) > 0 {
		fmt.Fprintf(&b, "         %s/nodes/NODE/{nomad,consul}.log\n", c.Dir)
	}
	return b.String()
}

// DNSPort is the port of Consul's DNS server.
func (c *Cluster) DNSPort() string {
	_, p, _ := net.SplitHostPort(c.ConsulDNS)
	return p
}

// writeHoldingPot writes the plugin's pot for Options.HoldPot: a test
// fixture (a script, run by the plugin in place of pot), holding the first
// call of sub until its caller, the plugin, is gone.
func (c *Cluster) writeHoldingPot(sub string) (string, error) {
	c.HeldFile = filepath.Join(c.Dir, "pot-held")
	once := filepath.Join(c.Dir, "pot-hold-once")
	script := fmt.Sprintf(`#!/bin/sh
if [ "$1" = %s ] && mkdir %s 2>/dev/null; then
	echo "$@" >%s
	while kill -0 $PPID 2>/dev/null; do sleep 0.1; done
	exit 1
fi
exec %s "$@"
`, pot.ShellQuoteWord(sub), pot.ShellQuoteWord(once), pot.ShellQuoteWord(c.HeldFile), pot.ShellQuoteWord(c.PotBin))
	path := filepath.Join(c.Dir, "bin", "pot-holding")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", err
	}
	return path, nil
}
