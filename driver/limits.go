package driver

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// Resource limits: Nomad's resources and the task config's cpu_hard_limit
// and rctl block become rctl rules on the jail (added before `pot start`:
// rctl keeps jail rules by name, so they apply from the jail's first
// process) and, for reserved cores, cpuset -l LIST -j JID right after the
// jail runs. The rules are removed with the jail (rctl -r at DestroyTask and
// on a failed start). The decisions are pure (wantedLimits, decideRctl);
// package freebsd builds the rules and runs the tools.

// hostProbe is the kernel the driver reads: the machine's, found by what
// it has on first use (freebsd.Detect), or a test's.
func (d *Driver) hostProbe() freebsd.Host {
	d.mu.RLock()
	h := d.host
	d.mu.RUnlock()
	if h != nil {
		return h
	}
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	detected, err := freebsd.Detect(ctx, d.limitTools())
	if err != nil {
		d.logger.Warn("cannot tell whether this is FreeBSD; asking again later", "error", err)
		return detected
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.host == nil {
		d.host = detected
	}
	return d.host
}

func (d *Driver) pluginConfig() *hclspec.PluginConfig {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.config
}

// limitTools runs rctl and cpuset at the configured paths.
func (d *Driver) limitTools() freebsd.Tools {
	c := d.pluginConfig()
	return freebsd.Tools{RctlBin: c.RctlBin, CpusetBin: c.CpusetBin}
}

// wantedLimits reads what a task asks for: memory and memory_max, reserved
// cores (LinuxResources.CpusetCpus: ReservedCores does not cross the plugin
// boundary), the cpu share when cpu_hard_limit is set (mhzPerCore turns it
// into percent of a CPU) and the rctl block.
func wantedLimits(cfg *drivers.TaskConfig, s *hclspec.TaskSettings, jail string, mhzPerCore func() (int64, error)) (freebsd.JailLimits, []int, error) {
	l := freebsd.JailLimits{Jail: jail, Extra: s.Rctl}
	var shares int64
	var cpus []int
	if r := cfg.Resources; r != nil {
		if nr := r.NomadResources; nr != nil {
			if nr.Memory.MemoryMB > 0 {
				l.MemoryBytes = uint64(nr.Memory.MemoryMB) << 20
			}
			if nr.Memory.MemoryMaxMB > 0 {
				l.MemoryMaxBytes = uint64(nr.Memory.MemoryMaxMB) << 20
			}
			shares = nr.Cpu.CpuShares
		}
		if lr := r.LinuxResources; lr != nil {
			if l.MemoryBytes == 0 && l.MemoryMaxBytes == 0 && lr.MemoryLimitBytes > 0 {
				l.MemoryBytes = uint64(lr.MemoryLimitBytes)
			}
			if shares == 0 {
				shares = lr.CPUShares
			}
			var err error
			if cpus, err = freebsd.ParseCPUList(lr.CpusetCpus); err != nil {
				return l, nil, fmt.Errorf("reserved cores: %w", err)
			}
		}
	}
	if s.CPUHardLimit {
		if shares <= 0 {
			return l, nil, errors.New("invalid task config: cpu_hard_limit needs the task's resources { cpu } share")
		}
		mhz, err := mhzPerCore()
		if err != nil {
			return l, nil, fmt.Errorf("cpu_hard_limit: %w", err)
		}
		if l.Pcpu, err = freebsd.PcpuFromMHz(shares, mhz); err != nil {
			return l, nil, fmt.Errorf("cpu_hard_limit: %w", err)
		}
	}
	return l, cpus, nil
}

// mhzPerCore is the MHz of one CPU: hw.clockrate (what Nomad's own CPU
// fingerprint counts shares in on FreeBSD); failing that, what Nomad says
// through PercentTicks (share / usable MHz of the node) spread over this
// host's CPUs.
func mhzPerCore(host freebsd.Host, cfg *drivers.TaskConfig) (int64, error) {
	mhz, err := host.ClockRateMHz()
	if err == nil && mhz > 0 {
		return int64(mhz), nil
	}
	if r := cfg.Resources; r != nil && r.LinuxResources != nil && r.LinuxResources.PercentTicks > 0 && r.NomadResources != nil {
		total := float64(r.NomadResources.Cpu.CpuShares) / r.LinuxResources.PercentTicks
		if per := int64(total / float64(runtime.NumCPU())); per > 0 {
			return per, nil
		}
	}
	if err == nil {
		err = errors.New("hw.clockrate is 0")
	}
	return 0, fmt.Errorf("cannot tell the MHz of one CPU: %w", err)
}

// decideRctl decides what happens to a task's rctl rules: apply them, skip
// them with a warning, or fail the task. Off FreeBSD there is no racct; an
// installed rctl stand-in (standIn) is then taken as an enabled one, and
// without it the rules are skipped: nothing on such a host could enforce
// them. On FreeBSD with racct disabled the task fails, unless
// limits_best_effort.
func decideRctl(want bool, state freebsd.RacctState, stateErr error, standIn, bestEffort bool) (apply bool, warn string, err error) {
	if !want {
		return false, "", nil
	}
	switch state {
	case freebsd.RacctEnabled:
		return true, "", nil
	case freebsd.RacctUnsupported:
		if standIn {
			return true, "", nil
		}
		return false, "", nil
	}
	why := "racct is disabled on this host (kern.racct.enable=0)"
	if stateErr != nil {
		why = "racct is not available on this host: " + stateErr.Error()
	}
	if bestEffort {
		return false, "Resource limits not applied (limits_best_effort): " + why, nil
	}
	return false, "", fmt.Errorf("the task's resource limits need rctl, but %s; %s, or set limits_best_effort = true in the pot plugin config", why, freebsd.RacctHowToEnable)
}

// limitsPlan is what StartTask will ask of rctl and cpuset.
type limitsPlan struct {
	jail       string
	rules      []freebsd.Rule // to add before pot start; empty: none
	hardMemory uint64
	cpus       []int // to pin the jail to; empty: the shared set
	bestEffort bool
	warnings   []string // task events at start
}

// planLimits decides a task's limits; a task asking for what cannot be had
// fails here, before anything is made.
func (d *Driver) planLimits(cfg *drivers.TaskConfig, s *hclspec.TaskSettings, jail string) (*limitsPlan, error) {
	pc := d.pluginConfig()
	if err := pc.CheckTask(s); err != nil {
		return nil, fmt.Errorf("invalid task config: %w", err)
	}
	host := d.hostProbe()
	state, stateErr := host.Racct()
	tools := d.limitTools()
	standIn := freebsd.Executable(tools.RctlPath())
	clock := func() (int64, error) { return mhzPerCore(host, cfg) }
	if apply, _, _ := decideRctl(true, state, stateErr, standIn, true); !apply {
		// No rule will be added: the pcpu amount does not matter, and a
		// host that cannot tell its clock must not fail the task for it.
		clock = func() (int64, error) { return 1000, nil }
	}
	want, cpus, err := wantedLimits(cfg, s, jail, clock)
	if err != nil {
		return nil, err
	}
	rules, err := want.Rules()
	if err != nil {
		return nil, fmt.Errorf("resource limits: %w", err)
	}
	lp := &limitsPlan{jail: jail, cpus: cpus, bestEffort: pc.LimitsBestEffort}
	apply, warn, err := decideRctl(len(rules) > 0, state, stateErr, standIn, pc.LimitsBestEffort)
	if err != nil {
		return nil, err
	}
	if warn != "" {
		lp.warnings = append(lp.warnings, warn)
	}
	if apply {
		lp.rules, lp.hardMemory = rules, want.HardMemoryBytes()
	} else if len(rules) > 0 {
		d.logger.Debug("rctl rules not applied", "pot", jail, "racct", state, "rules", len(rules))
	}
	if len(cpus) > 0 && !freebsd.Executable(tools.CpusetPath()) {
		// A machine without cpuset(1) (Linux under potsim) cannot pin;
		// the task is told, not failed.
		lp.warnings = append(lp.warnings, fmt.Sprintf("Reserved cores %v not pinned: no cpuset at %s", cpus, tools.CpusetPath()))
		lp.cpus = nil
	}
	return lp, nil
}

// taskLimits is what was applied to one task's jail, for OOM attribution,
// removal and recovery.
type taskLimits struct {
	jail       string
	rules      []string // added rules; empty: none
	hardMemory uint64
	cpus       []int
	bestEffort bool
	host       freebsd.Host
	tools      freebsd.Tools

	mu          sync.Mutex
	jid         int
	oomBaseline int // OOM kills of jid the kernel had logged at start; -1 unknown
	removed     bool
}

func (l *taskLimits) saved() *LimitsState {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return &LimitsState{
		Rules:           append([]string(nil), l.rules...),
		Cpus:            freebsd.FormatCPUList(l.cpus),
		JID:             l.jid,
		OOMBaseline:     l.oomBaseline,
		HardMemoryBytes: l.hardMemory,
	}
}

// limitsFromState rebuilds a recovered task's limits.
func (d *Driver) limitsFromState(st *TaskState) *taskLimits {
	if st == nil || st.Limits == nil {
		return nil
	}
	cpus, _ := freebsd.ParseCPUList(st.Limits.Cpus)
	return &taskLimits{
		jail:        st.PotName,
		rules:       st.Limits.Rules,
		hardMemory:  st.Limits.HardMemoryBytes,
		cpus:        cpus,
		host:        d.hostProbe(),
		tools:       d.limitTools(),
		jid:         st.Limits.JID,
		oomBaseline: st.Limits.OOMBaseline,
	}
}

// applyLimits adds the task's rctl rules, before pot start. A partly
// applied set is removed again. Returns nil when there is nothing to keep
// track of.
func (d *Driver) applyLimits(ctx context.Context, cfg *drivers.TaskConfig, lp *limitsPlan) (*taskLimits, error) {
	if lp == nil {
		return nil, nil
	}
	for _, w := range lp.warnings {
		d.emit(cfg, w)
		d.logger.Warn(w, "pot", lp.jail)
	}
	lim := &taskLimits{jail: lp.jail, cpus: lp.cpus, bestEffort: lp.bestEffort, host: d.hostProbe(), tools: d.limitTools(), oomBaseline: -1}
	if len(lp.rules) > 0 {
		if err := lim.tools.AddRules(ctx, lp.rules); err != nil {
			if rerr := lim.tools.RemoveJailRules(d.ctx, lp.jail); rerr != nil {
				d.logger.Error("removing partly added rctl rules", "pot", lp.jail, "error", rerr)
			}
			if !lp.bestEffort {
				return nil, fmt.Errorf("applying the resource limits: %w", err)
			}
			msg := "Resource limits not applied (limits_best_effort): " + err.Error()
			d.emit(cfg, msg)
			d.logger.Warn(msg, "pot", lp.jail)
		} else {
			for _, r := range lp.rules {
				lim.rules = append(lim.rules, r.String())
			}
			lim.hardMemory = lp.hardMemory
		}
	}
	if len(lim.rules) == 0 && len(lim.cpus) == 0 {
		return nil, nil
	}
	return lim, nil
}

// afterStart waits for the task's jail, then pins it to its reserved cores
// and notes what OOM attribution needs. A task is running once its jail
// is: pot start sets up the pot's network and creates the jail before it
// runs the command, seconds on a loaded host, and until then pot ps, exec
// and the stats know nothing of it. A task that ends first is reported by
// WaitTask as any exit is; one whose jail does not show within a pot call's
// limit is an error (and the caller stops it).
func (d *Driver) afterStart(ctx context.Context, client *pot.Client, cfg *drivers.TaskConfig, h *taskHandle, lim *taskLimits) error {
	var msgs string
	haveMsgs := false
	if lim != nil && len(lim.rules) > 0 && lim.hardMemory > 0 {
		// Before the jail exists: a kill of this jail is never counted
		// as an earlier one.
		if m, err := lim.host.KernelMessages(); err == nil {
			msgs, haveMsgs = m, true
		}
	}
	jid, err := waitJID(ctx, client, h, client.CallLimit())
	if err != nil {
		if h.exited() {
			return nil
		}
		return fmt.Errorf("%w: %w", errNoJail, err)
	}
	if lim == nil {
		return nil
	}
	lim.mu.Lock()
	lim.jid = jid
	if haveMsgs {
		lim.oomBaseline = freebsd.CountOOMKills(msgs, jid)
	}
	cpus := lim.cpus
	lim.mu.Unlock()
	if len(cpus) == 0 {
		return nil
	}
	if err := lim.tools.SetJailCPUs(ctx, jid, cpus); err != nil {
		if h.exited() {
			return nil
		}
		if !lim.bestEffort {
			return fmt.Errorf("pinning the jail to its reserved cores %s: %w", freebsd.FormatCPUList(cpus), err)
		}
		msg := "Reserved cores not pinned (limits_best_effort): " + err.Error()
		d.emit(cfg, msg)
		d.logger.Warn(msg, "pot", lim.jail)
		lim.mu.Lock()
		lim.cpus = nil
		lim.mu.Unlock()
	}
	return nil
}

// errNoJail: pot start runs, but its jail never showed.
var errNoJail = errors.New("the jail did not start")

// waitJID polls `pot info -E` until the jail's id (_POT_JID) shows, the
// task ends, or limit passes. The interval grows from 100 ms to 1 s: pot
// info is a shell script, and fifty tasks starting at once on a small host
// must not spend its CPUs asking.
func waitJID(ctx context.Context, client *pot.Client, h *taskHandle, limit time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	interval := 100 * time.Millisecond
	var lastErr error
	for {
		info, err := client.Info(ctx, h.potName)
		if err == nil && info.JID() > 0 {
			return info.JID(), nil
		}
		if err != nil && ctx.Err() == nil {
			lastErr = err // not the call the deadline cut short
		}
		select {
		case <-h.done:
			return 0, fmt.Errorf("pot %s ended before it reported a jail id", h.potName)
		case <-ctx.Done():
			if lastErr != nil {
				return 0, fmt.Errorf("pot %s reported no jail id (_POT_JID) within %s: %w", h.potName, limit, lastErr)
			}
			return 0, fmt.Errorf("pot %s reported no jail id (_POT_JID) within %s", h.potName, limit)
		case <-time.After(interval):
		}
		interval = min(interval*3/2, time.Second)
	}
}

// oomKilled decides, as the task ends, whether memory killed it
// (freebsd.OOMKilled) from the kernel's message buffer.
func (l *taskLimits) oomKilled(res *drivers.ExitResult, stopRequested bool) bool {
	if l == nil || len(l.rules) == 0 || l.hardMemory == 0 || res == nil {
		return false
	}
	if res.ExitCode == 0 && res.Signal == 0 {
		return false
	}
	msgs, err := l.host.KernelMessages()
	if err != nil {
		return false
	}
	l.mu.Lock()
	jid, base := l.jid, l.oomBaseline
	l.mu.Unlock()
	f := freebsd.ExitFacts{
		ExitCode:        res.ExitCode,
		Signal:          res.Signal,
		StopRequested:   stopRequested,
		NewOOMKills:     -1,
		HardLimitLogged: freebsd.MemoryLimitLogged(msgs, l.jail),
	}
	if jid > 0 && base >= 0 {
		if f.NewOOMKills = freebsd.CountOOMKills(msgs, jid) - base; f.NewOOMKills < 0 {
			// The ring dropped old lines; what is left is what we know.
			f.NewOOMKills = 0
		}
	}
	return freebsd.OOMKilled(f)
}

// removeLimits removes the jail's rctl rules (rctl -r jail:NAME), once. A
// failure is logged, not returned: the rules name a jail no task will use
// again, and a pot left behind would be worse.
func (d *Driver) removeLimits(lim *taskLimits) {
	if lim == nil {
		return
	}
	lim.mu.Lock()
	if lim.removed || len(lim.rules) == 0 {
		lim.mu.Unlock()
		return
	}
	lim.removed = true
	lim.mu.Unlock()
	ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
	defer cancel()
	if err := lim.tools.RemoveJailRules(ctx, lim.jail); err != nil {
		d.logger.Error("removing the jail's rctl rules", "pot", lim.jail, "rules", strings.Join(lim.rules, " "), "error", err)
	}
}
