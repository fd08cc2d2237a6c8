package driver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/nomad/client/lib/fifo"
	"github.com/hashicorp/nomad/nomad/structs"
	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/consul"
	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// StartTask prepares a pot for the task and starts it. Any failure removes
// what was made and returns a recoverable error carrying pot's message, so
// the job's restart policy applies; a bad config is not recoverable.
func (d *Driver) StartTask(cfg *drivers.TaskConfig) (*drivers.TaskHandle, *drivers.DriverNetwork, error) {
	if _, ok := d.tasks.get(cfg.ID); ok {
		return nil, nil, fmt.Errorf("task %s is already started", cfg.ID)
	}
	var raw hclspec.TaskConfig
	if err := cfg.DecodeDriverConfig(&raw); err != nil {
		return nil, nil, fmt.Errorf("decoding the task config: %w", err)
	}
	settings, err := raw.Validate()
	if err != nil {
		return nil, nil, fmt.Errorf("invalid task config: %w", err)
	}
	plan, err := d.plan(cfg, settings)
	if err != nil {
		return nil, nil, err
	}

	handle, network, err := d.startPot(cfg, plan)
	if err != nil {
		return nil, nil, structs.NewRecoverableError(err, true)
	}
	return handle, network, nil
}

// startPlan is everything StartTask will ask of pot, decided up front so a
// bad value fails before anything is made.
type startPlan struct {
	// spec is the pot to create: the job's settings and Nomad's facts
	// (task folders, ports, volumes, environment).
	spec       pot.Spec
	potName    string
	image      string   // the image cache pot, IMAGE_TAG
	envSkipped []string // names pot cannot export, left out
	// ignoredPorts are port_map labels that have no effect: network_mode
	// inherit (host) shares the host's network.
	ignoredPorts []string
	portMap      map[string]int // label -> port inside the jail
	consul       *hclspec.ConsulSettings
	// autoAdvertise is DriverNetwork.AutoAdvertise.
	autoAdvertise bool
	// resolvConf, when set, is written to a file of the task's and given
	// to the jail as its resolv.conf.
	resolvConf []byte
	// limits are the rctl rules and cores for the jail (limits.go).
	limits *limitsPlan
	// volumes are the datasets of the pot fscomps among Nomad's volume
	// mounts: each gets a snapshot before the start (volumes.go).
	volumes      []string
	volumeMounts []pot.MountOptions
	// keyID names prepare.PubKey, the key the image is verified with
	// (signature.go); "" without one.
	keyID string
}

func (d *Driver) plan(cfg *drivers.TaskConfig, s *hclspec.TaskSettings) (*startPlan, error) {
	name, alloc := potNameParts(cfg)
	p := &startPlan{
		spec:          s.PotSpec(),
		potName:       pot.PotName(name, alloc),
		image:         pot.ImageName(s.Image, s.Tag),
		portMap:       map[string]int{},
		autoAdvertise: s.Network.AutoAdvertise,
	}
	p.spec.Name, p.spec.Alloc = name, alloc
	if err := p.planResolver(cfg, s); err != nil {
		return nil, err
	}
	if s.Consul != nil {
		if d.consulRegistrar() == nil {
			return nil, fmt.Errorf("invalid task config: the consul block needs a consul block in the pot plugin's config on this client")
		}
		p.consul = s.Consul
	}
	if err := p.planPorts(cfg, s); err != nil {
		return nil, err
	}
	if err := d.planHostPaths(cfg, s, p); err != nil {
		return nil, err
	}
	p.planEnv(cfg)
	if len(p.volumeMounts) > 0 {
		ctx, cancel := context.WithTimeout(d.ctx, d.potClient().CallLimit())
		volumes, err := d.fscompVolumes(ctx, p.volumeMounts)
		cancel()
		p.volumes = volumes
		if err != nil {
			return nil, err
		}
	}
	if err := p.spec.Validate(); err != nil {
		// What the job's keys allow but pot does not: a value of the
		// task's environment pot cannot carry, a volume's mount point.
		return nil, fmt.Errorf("invalid task config: %w", err)
	}
	lp, err := d.planLimits(cfg, s, p.potName)
	if err != nil {
		return nil, err
	}
	p.limits = lp
	return p, nil
}

// planResolver makes the group's network { dns {} } the jail's
// resolv.conf (written at start).
func (p *startPlan) planResolver(cfg *drivers.TaskConfig, s *hclspec.TaskSettings) error {
	dns := cfg.DNS
	if dns == nil || (len(dns.Servers) == 0 && len(dns.Searches) == 0 && len(dns.Options) == 0) {
		return nil
	}
	if s.Network.DNS.Mode != "" {
		return fmt.Errorf("invalid task config: dns %q and the group network's dns block both set the jail's resolver", s.Network.DNS)
	}
	for _, v := range append(append(append([]string(nil), dns.Servers...), dns.Searches...), dns.Options...) {
		if err := pot.CheckValue(v); err != nil || strings.ContainsAny(v, " \t") {
			return fmt.Errorf("invalid group network dns value %q", v)
		}
	}
	p.resolvConf = resolvConf(dns)
	return nil
}

// planPorts exports the job's port_map (label -> port in the jail) and the
// group network's `to` from the host port Nomad allocated.
func (p *startPlan) planPorts(cfg *drivers.TaskConfig, s *hclspec.TaskSettings) error {
	ports, err := exportedPorts(cfg, s)
	if err != nil {
		return err
	}
	switch {
	case len(ports) == 0, s.NetworkMode == hclspec.NetworkPublicBridge, s.NetworkMode == hclspec.NetworkPrivateBridge:
	case s.NetworkMode == hclspec.NetworkInherit:
		// The bsdpot driver's example.hcl: network_mode "host" with a
		// port_map, which that driver ignores. The jail shares the
		// host's network, so the program listens on the host's ports
		// itself: nothing to export, and an event says so.
		p.ignoredPorts = slices.Sorted(maps.Keys(ports))
		ports = nil
	default:
		return fmt.Errorf("invalid task config: port_map needs network_mode public-bridge or private-bridge, not %s (pot exports ports from bridges only)", s.NetworkMode)
	}
	for label, port := range ports {
		p.spec.Ports = append(p.spec.Ports, port)
		p.portMap[label] = int(port.PotPort)
	}
	sort.Slice(p.spec.Ports, func(i, j int) bool { return p.spec.Ports[i].PotPort < p.spec.Ports[j].PotPort })
	return nil
}

// planHostPaths mounts the task's folders at the paths Nomad's env names
// for an image-isolated task, and lets host paths the job names (mounts,
// copies, a dns file, a signature key) and Nomad's host volumes in only
// under the plugin's host_path_allow, symbolic links resolved: pot is
// handed the resolved path.
func (d *Driver) planHostPaths(cfg *drivers.TaskConfig, s *hclspec.TaskSettings, p *startPlan) error {
	if cfg.AllocDir != "" {
		taskDir := cfg.TaskDir()
		for _, m := range []struct{ host, jail string }{
			{taskDir.SharedAllocDir, "/alloc"},
			{taskDir.LocalDir, "/local"},
			{taskDir.SecretsDir, "/secrets"},
		} {
			p.spec.Mounts = append(p.spec.Mounts, pot.MountOptions{HostDir: m.host, JailPath: m.jail})
		}
	}
	pc := d.pluginConfig()
	var pathErrs []error
	allowed := func(key, value, hostPath string) string {
		resolved, err := pc.CheckHostPath(key, value, hostPath)
		if err != nil {
			pathErrs = append(pathErrs, err)
		}
		return resolved
	}
	mountable := func(key, value, hostPath string) string {
		resolved := allowed(key, value, hostPath)
		if strings.IndexFunc(resolved, unicode.IsSpace) >= 0 {
			// A link may lead to a folder whose name pot's
			// space-separated fscomp.conf cannot hold.
			pathErrs = append(pathErrs, fmt.Errorf("%s %q: host path %s resolves to %q, which contains whitespace (pot stores mounts space-separated)", key, value, hostPath, resolved))
		}
		return resolved
	}
	if p.spec.DNS.Mode == pot.DNSCustom {
		p.spec.DNS.File = allowed("dns", s.Network.DNS.String(), p.spec.DNS.File)
	}
	for _, m := range s.Mounts {
		host := mountable(m.Key, m.HostPath+":"+m.JailPath, m.HostPath)
		p.spec.Mounts = append(p.spec.Mounts, pot.MountOptions{HostDir: host, JailPath: m.JailPath, ReadOnly: m.ReadOnly})
	}
	if err := p.planVolumes(cfg, mountable); err != nil {
		return err
	}
	for _, c := range s.Copies {
		src := allowed(c.Key, c.Src+":"+c.Dest, c.Src)
		p.spec.Copies = append(p.spec.Copies, pot.CopyOptions{Source: src, Destination: c.Dest, CreateParents: true})
	}
	if err := d.planSignature(s, p, allowed); err != nil {
		return err
	}
	if len(pathErrs) > 0 {
		return fmt.Errorf("invalid task config: %w", errors.Join(pathErrs...))
	}
	return nil
}

// planVolumes mounts Nomad's own mounts (host volumes) where pot can, and
// refuses the rest: Nomad never learns a MountConfigs capability.
func (p *startPlan) planVolumes(cfg *drivers.TaskConfig, mountable func(key, value, hostPath string) string) error {
	for i, m := range cfg.Mounts {
		if m == nil {
			continue
		}
		if m.PropagationMode != "" && m.PropagationMode != structs.VolumeMountPropagationPrivate {
			return fmt.Errorf("volume_mount %d (%s): propagation_mode %q is not supported by pot's nullfs mounts", i, m.TaskPath, m.PropagationMode)
		}
		if m.SELinuxLabel != "" {
			return fmt.Errorf("volume_mount %d (%s): selinux_label is not supported on FreeBSD", i, m.TaskPath)
		}
		if !filepath.IsAbs(m.HostPath) || !strings.HasPrefix(m.TaskPath, "/") {
			return fmt.Errorf("volume_mount %d: host path %q and task path %q must be absolute", i, m.HostPath, m.TaskPath)
		}
		if err := pot.CheckValue(m.TaskPath); err != nil || strings.ContainsAny(m.TaskPath, " \t") {
			return fmt.Errorf("volume_mount %d: task path %q: pot cannot take it (no whitespace or line break)", i, m.TaskPath)
		}
		jailPath := filepath.Clean(m.TaskPath)
		host := mountable("volume_mount "+jailPath, m.HostPath, m.HostPath)
		mount := pot.MountOptions{HostDir: host, JailPath: jailPath, ReadOnly: m.Readonly}
		p.spec.Mounts = append(p.spec.Mounts, mount)
		p.volumeMounts = append(p.volumeMounts, mount)
	}
	if len(cfg.Devices) > 0 {
		return fmt.Errorf("devices are not supported by the pot driver")
	}
	return nil
}

// planEnv passes the task's environment on literally. A name pot cannot
// export (Nomad allows meta keys such as "app.version", giving
// NOMAD_META_app.version) is left out, and one task event names them all;
// a value pot cannot carry, or too long to pass, fails the start naming
// the variable (Spec.Validate).
func (p *startPlan) planEnv(cfg *drivers.TaskConfig) {
	for _, k := range slices.Sorted(maps.Keys(cfg.Env)) {
		if !pot.IsEnvName(k) {
			p.envSkipped = append(p.envSkipped, k)
			continue
		}
		p.spec.Env = append(p.spec.Env, pot.EnvVar{Name: k, Value: cfg.Env[k]})
	}
}

// exportedPorts maps port labels to the ports to export: the job's
// port_map first, then every group port with a `to`.
func exportedPorts(cfg *drivers.TaskConfig, s *hclspec.TaskSettings) (map[string]pot.Port, error) {
	var allocated structs.AllocatedPorts
	if cfg.Resources != nil && cfg.Resources.Ports != nil {
		allocated = *cfg.Resources.Ports
	}
	out := map[string]pot.Port{}
	for label, jailPort := range s.PortMap {
		ap, ok := allocated.Get(label)
		if !ok {
			return nil, fmt.Errorf("invalid task config: port_map label %q is not a port of the group's network block", label)
		}
		out[label] = pot.Port{PotPort: jailPort, HostPort: uint16(ap.Value)}
	}
	if s.NetworkMode == hclspec.NetworkPublicBridge || s.NetworkMode == hclspec.NetworkPrivateBridge {
		for _, ap := range allocated {
			if _, ok := out[ap.Label]; ok || ap.To <= 0 {
				continue
			}
			out[ap.Label] = pot.Port{PotPort: uint16(ap.To), HostPort: uint16(ap.Value)}
		}
	}
	return out, nil
}

var unsafeNameChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// potNameParts derives prepare's -n and -a. The pot is NAME_ALLOC:
// JOB_TASK (sanitized and shortened, for people reading `pot ls`) and
// ALLOCID_XXXXXXXX (the alloc ID and the last part of the task ID, which
// is new on every start), so every task start gets a name of its own that
// leads back to its job, task and alloc.
func potNameParts(cfg *drivers.TaskConfig) (name, alloc string) {
	job := cfg.JobID
	if job == "" {
		job = cfg.JobName
	}
	name = cleanNamePart(job, 24) + "_" + cleanNamePart(cfg.Name, 24)
	suffix := cfg.ID
	if i := strings.LastIndexByte(suffix, '/'); i >= 0 {
		suffix = suffix[i+1:]
	}
	alloc = cleanNamePart(cfg.AllocID, 36) + "_" + cleanNamePart(suffix, 16)
	return name, alloc
}

func cleanNamePart(s string, max int) string {
	s = strings.Trim(unsafeNameChars.ReplaceAllString(s, "-"), "-")
	if len(s) > max {
		s = s[:max]
	}
	if s == "" {
		s = "x"
	}
	return s
}

// potNameEnd is how the pot of Nomad's task ID ALLOC/TASK/SUFFIX ends,
// "_TASK_ALLOC_SUFFIX" (the job's name is not in the ID), or "" for an ID
// not of that form.
func potNameEnd(taskID string) string {
	parts := strings.Split(taskID, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return ""
	}
	return "_" + cleanNamePart(parts[1], 24) + "_" + cleanNamePart(parts[0], 36) + "_" + cleanNamePart(parts[2], 16)
}

func (d *Driver) startPot(cfg *drivers.TaskConfig, p *startPlan) (_ *drivers.TaskHandle, _ *drivers.DriverNetwork, err error) {
	// Until the task is in the store (or its pot removed), the janitor
	// leaves the pot and its image alone.
	endStart, ok := d.beginStart(p.potName, p.image)
	if !ok {
		return nil, nil, fmt.Errorf("task %s is being started already", cfg.ID)
	}
	defer endStart()
	client := d.potClient()
	ctx, cancel := context.WithCancel(d.ctx)
	defer cancel()

	if err := d.beforeCreate(cfg, p); err != nil {
		return nil, nil, err
	}
	created, err := d.createPot(ctx, client, cfg, p)
	if err != nil {
		return nil, nil, err // Create removed its pot
	}
	othersPot := false // the pot turned out to be another task's
	defer func() {
		if err != nil && !othersPot {
			d.cleanupPot(p.potName)
		}
	}()

	if err := d.snapshotVolumes(ctx, cfg, p.volumes); err != nil {
		return nil, nil, err
	}
	network, svc, err := p.network(cfg, created)
	if err != nil {
		return nil, nil, err
	}

	// rctl rules before the jail exists, so they bind its first process.
	lim, err := d.applyLimits(ctx, cfg, p.limits)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil && !othersPot {
			d.removeLimits(lim)
		}
	}()

	proc, err := d.startWithLogs(client, cfg, p.potName)
	if err != nil {
		return nil, nil, err
	}

	state := TaskState{TaskConfig: cfg, PotName: p.potName, Image: p.image, Pid: proc.Pid(), StartedAt: time.Now(), Network: network, Consul: svc, limits: lim}
	h := newTaskHandle(&state, proc, d.logger, d.handleHooks())
	if err := d.afterStart(ctx, client, cfg, h, lim); err != nil {
		if errors.Is(err, errNoJail) {
			// Nothing to stop yet: end pot start itself; the pot
			// (and a jail made meanwhile) goes with it below.
			d.abortStart(h)
		} else {
			d.stopJail(h, true)
		}
		return nil, nil, err
	}
	state.Limits = lim.saved()
	handle := drivers.NewTaskHandle(taskHandleVersion)
	handle.Config = cfg
	handle.State = drivers.TaskStateRunning
	if err := handle.SetDriverState(&state); err != nil {
		d.stopJail(h, true)
		return nil, nil, fmt.Errorf("saving the driver state: %w", err)
	}
	if !d.tasks.add(h) {
		// Cannot be while this start holds the pot's name (beginStart)
		// unless RecoverTask took the ID meanwhile: that task is the
		// pot's, so end this pot start and leave the pot to it.
		othersPot = true
		d.abortStart(h)
		return nil, nil, fmt.Errorf("task %s is already started", cfg.ID)
	}
	d.registerInConsul(h)
	for _, ds := range p.volumes {
		go d.pruneSnapshots(ds) // off StartTask's path
	}
	h.logger.Info("pot started", "pid", proc.Pid())
	return handle, network, nil
}

// network is what Nomad is told of the task's network (nil for a jail on
// the host's) and the driver's own Consul service of it.
func (p *startPlan) network(cfg *drivers.TaskConfig, created pot.Created) (*drivers.DriverNetwork, *consul.Service, error) {
	var network *drivers.DriverNetwork
	if len(created.IPs) > 0 {
		network = &drivers.DriverNetwork{IP: created.IPs[0], PortMap: p.portMap, AutoAdvertise: p.autoAdvertise}
	}
	if p.consul == nil {
		return network, nil, nil
	}
	svc, err := consulService(cfg, p.potName, p.consul, network)
	return network, svc, err
}

// beforeCreate writes the jail's resolv.conf from the group's dns block
// and tells the task what of its config has no effect.
func (d *Driver) beforeCreate(cfg *drivers.TaskConfig, p *startPlan) error {
	if p.resolvConf != nil {
		file := filepath.Join(cfg.TaskDir().Dir, "resolv.conf")
		if err := os.WriteFile(file, p.resolvConf, 0o644); err != nil {
			return fmt.Errorf("writing the jail's resolv.conf: %w", err)
		}
		p.spec.DNS = pot.CustomDNS(file)
	}
	if len(p.ignoredPorts) > 0 {
		d.emit(cfg, "port_map has no effect with network_mode "+string(hclspec.NetworkInherit)+" (host): the jail shares the host's network, so the program listens on the host's ports itself; not exported: "+strings.Join(p.ignoredPorts, ", "))
	}
	if len(p.envSkipped) > 0 {
		d.emit(cfg, "Environment variables left out of the jail (pot exports shell variable names only): "+strings.Join(p.envSkipped, ", "))
	}
	return nil
}

// createPot has pot/ create the task's pot from its spec. An image that is
// not there yet is imported by this start alone (lockImport: fifty tasks
// of a new image download it once), downloaded by the driver with progress
// events (stageImage) and recorded with the keys it was checked with; a
// signed start of an image that is there checks it first
// (checkImageSignature). A pot an earlier start of this task left is
// removed and made again.
func (d *Driver) createPot(ctx context.Context, client *pot.Client, cfg *drivers.TaskConfig, p *startPlan) (_ pot.Created, err error) {
	// Whether the image is there decides whether this start imports it;
	// asked of pot's file tree, not of a pot command.
	imageThere := func() bool {
		there, err := client.Exists(ctx, p.image)
		return there || err != nil // unknown: pot's prepare finds out
	}
	imported := !imageThere()
	unlockImport := func() {}
	defer func() { unlockImport() }()
	if imported || p.keyID != "" {
		// One import (or signature check) of an image at a time: the
		// starts that waited find it imported.
		unlockImport = d.lockImport(p.image)
		imported = !imageThere()
		if !imported && p.keyID != "" {
			if imported, err = d.checkImageSignature(ctx, cfg, p); err != nil {
				return pot.Created{}, err
			}
		}
		if !imported {
			unlockImport()
			unlockImport = func() {}
		}
	}
	stagedDir := ""
	if imported {
		d.emit(cfg, fmt.Sprintf("Importing image %s tag %s from %s", p.spec.Image, p.spec.Tag, p.spec.URL))
		// pot's fetch says nothing until it is done: the driver
		// downloads, reporting progress, and pot imports from there.
		if stagedDir = d.stageImage(ctx, cfg, p); stagedDir != "" {
			defer os.RemoveAll(stagedDir)
			p.spec.URL = (&url.URL{Scheme: "file", Path: stagedDir}).String()
		}
	}
	created, err := client.Create(ctx, p.spec)
	if errors.Is(err, pot.ErrExists) && !d.tasks.hasPot(p.potName) {
		// Nomad starts a task again under the same ID when the plugin
		// exited during its StartTask: the pot that start made (its name
		// comes from the ID; beginStart keeps a second start of this
		// one off it) is no task's, and goes.
		d.logger.Info("destroying the pot an earlier start of this task left (the plugin exited during it)", "pot", p.potName)
		if err := d.destroyPot(p.potName); err != nil {
			return pot.Created{}, fmt.Errorf("the pot an earlier start of this task left: %w", err)
		}
		created, err = client.Create(ctx, p.spec)
	}
	var ce *pot.CreateError
	if err != nil && (!errors.As(err, &ce) || !ce.Prepared()) {
		// Not imported (or marked then, so it can be pruned).
		if imported {
			d.useImage(ctx, p.image, true)
		}
		return pot.Created{}, err
	}
	// The image is there: imported by this prepare, checked as asked.
	if imported {
		d.recordImport(ctx, p, stagedDir)
	}
	d.useImage(ctx, p.image, imported)
	return created, err
}

// startWithLogs runs `pot start` with its stdout and stderr going straight
// into Nomad's log fifos, so the task's output keeps reaching Nomad while
// the plugin restarts.
func (d *Driver) startWithLogs(client *pot.Client, cfg *drivers.TaskConfig, potName string) (*pot.Process, error) {
	stdout, err := openLogFifo(cfg.StdoutPath)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := openLogFifo(cfg.StderrPath)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	// The child has its own copies of the fifos; ours are closed on return.
	return client.Start(potName, pot.StartOptions{Stdout: stdout, Stderr: stderr})
}

func openLogFifo(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	w, err := fifo.OpenWriter(path)
	if err != nil {
		return nil, fmt.Errorf("opening log fifo %s: %w", path, err)
	}
	f, ok := w.(*os.File)
	if !ok {
		w.Close()
		return nil, errors.New("log fifo is not a file")
	}
	return f, nil
}

// cleanupPot removes a pot a failed start left behind.
func (d *Driver) cleanupPot(name string) {
	if err := d.destroyPot(name); err != nil {
		d.logger.Error("removing the pot of a failed start", "pot", name, "error", err)
	}
}

func (d *Driver) emit(cfg *drivers.TaskConfig, msg string) {
	_ = d.eventer.EmitEvent(&drivers.TaskEvent{
		TaskID:    cfg.ID,
		TaskName:  cfg.Name,
		AllocID:   cfg.AllocID,
		Timestamp: time.Now(),
		Message:   msg,
	})
}

// resolvConf renders Nomad's DNS config as a resolv.conf.
func resolvConf(dns *drivers.DNSConfig) []byte {
	var b strings.Builder
	b.WriteString("# written by nomad-pot-driver from the group's network dns block\n")
	for _, s := range dns.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(dns.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.Searches, " "))
	}
	if len(dns.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.Options, " "))
	}
	return []byte(b.String())
}
