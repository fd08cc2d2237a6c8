package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/helper/uuid"
	"github.com/hashicorp/nomad/nomad/structs"
	"github.com/hashicorp/nomad/plugins/drivers"
	dtestutil "github.com/hashicorp/nomad/plugins/drivers/testutils"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/internal/recorder"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// ---- pure decisions ----

func TestWantedLimits(t *testing.T) {
	const mib = 1 << 20
	clock := func() (int64, error) { return 2000, nil }
	res := func(mem, memMax, shares int64, cores string) *drivers.TaskConfig {
		return &drivers.TaskConfig{Resources: &drivers.Resources{
			NomadResources: &structs.AllocatedTaskResources{
				Memory: structs.AllocatedMemoryResources{MemoryMB: mem, MemoryMaxMB: memMax},
				Cpu:    structs.AllocatedCpuResources{CpuShares: shares},
			},
			LinuxResources: &drivers.LinuxResources{MemoryLimitBytes: max(mem, memMax) * mib, CPUShares: shares, CpusetCpus: cores},
		}}
	}
	for _, c := range []struct {
		name  string
		cfg   *drivers.TaskConfig
		s     hclspec.TaskSettings
		rules []string
		cpus  []int
	}{
		{"memory only", res(256, 0, 500, ""), hclspec.TaskSettings{},
			[]string{"jail:j:memoryuse:deny=268435456", "jail:j:memoryuse:log=268435456"}, nil},
		{"memory_max", res(256, 1024, 500, ""), hclspec.TaskSettings{},
			[]string{"jail:j:memoryuse:devctl=268435456", "jail:j:memoryuse:deny=1073741824", "jail:j:memoryuse:log=1073741824"}, nil},
		{"cores", res(128, 0, 4000, "2,3"), hclspec.TaskSettings{},
			[]string{"jail:j:memoryuse:deny=134217728", "jail:j:memoryuse:log=134217728"}, []int{2, 3}},
		{"cpu_hard_limit: 500 MHz of 2000 MHz cores", res(128, 0, 500, ""), hclspec.TaskSettings{CPUHardLimit: true},
			[]string{"jail:j:memoryuse:deny=134217728", "jail:j:memoryuse:log=134217728", "jail:j:pcpu:deny=25"}, nil},
		{"cpu_hard_limit with cores = 2", res(128, 0, 4000, "0,1"), hclspec.TaskSettings{CPUHardLimit: true},
			[]string{"jail:j:memoryuse:deny=134217728", "jail:j:memoryuse:log=134217728", "jail:j:pcpu:deny=200"}, []int{0, 1}},
		{"extra rules", res(128, 0, 500, ""), hclspec.TaskSettings{Rctl: []freebsd.Limit{{Resource: "openfiles", Amount: 512}, {Resource: "maxproc", Amount: 50}}},
			[]string{"jail:j:memoryuse:deny=134217728", "jail:j:memoryuse:log=134217728", "jail:j:maxproc:deny=50", "jail:j:openfiles:deny=512"}, nil},
		{"only LinuxResources", &drivers.TaskConfig{Resources: &drivers.Resources{LinuxResources: &drivers.LinuxResources{MemoryLimitBytes: 64 * mib}}}, hclspec.TaskSettings{},
			[]string{"jail:j:memoryuse:deny=67108864", "jail:j:memoryuse:log=67108864"}, nil},
		{"no resources", &drivers.TaskConfig{}, hclspec.TaskSettings{}, nil, nil},
	} {
		l, cpus, err := wantedLimits(c.cfg, &c.s, "j", clock)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		rules, err := l.Rules()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got []string
		for _, r := range rules {
			got = append(got, r.String())
		}
		if !reflect.DeepEqual(got, c.rules) || !reflect.DeepEqual(cpus, c.cpus) {
			t.Errorf("%s:\n got %q %v\nwant %q %v", c.name, got, cpus, c.rules, c.cpus)
		}
	}

	if _, _, err := wantedLimits(res(128, 0, 500, "0,x"), &hclspec.TaskSettings{}, "j", clock); err == nil || !strings.Contains(err.Error(), "reserved cores") {
		t.Errorf("bad cpu list: %v", err)
	}
	if _, _, err := wantedLimits(res(128, 0, 0, ""), &hclspec.TaskSettings{CPUHardLimit: true}, "j", clock); err == nil || !strings.Contains(err.Error(), "cpu_hard_limit needs") {
		t.Errorf("no share: %v", err)
	}
	noClock := func() (int64, error) { return 0, errors.New("no clock") }
	if _, _, err := wantedLimits(res(128, 0, 500, ""), &hclspec.TaskSettings{CPUHardLimit: true}, "j", noClock); err == nil || !strings.Contains(err.Error(), "no clock") {
		t.Errorf("no clock: %v", err)
	}
}

func TestMHzPerCoreFallsBackToPercentTicks(t *testing.T) {
	h := newFakeHost()
	h.clock = 0
	cfg := &drivers.TaskConfig{Resources: &drivers.Resources{
		NomadResources: &structs.AllocatedTaskResources{Cpu: structs.AllocatedCpuResources{CpuShares: 1000}},
		LinuxResources: &drivers.LinuxResources{PercentTicks: 0.5},
	}}
	mhz, err := mhzPerCore(h, cfg)
	if err != nil || mhz <= 0 {
		t.Fatalf("fallback: %d %v", mhz, err)
	}
	h.clock = 2400
	if mhz, err := mhzPerCore(h, cfg); err != nil || mhz != 2400 {
		t.Fatalf("hw.clockrate: %d %v", mhz, err)
	}
	h.clock = 0
	if _, err := mhzPerCore(h, &drivers.TaskConfig{}); err == nil {
		t.Fatal("no way to know the clock, yet an answer")
	}
}

func TestDecideRctl(t *testing.T) {
	for _, c := range []struct {
		name          string
		want          bool
		state         freebsd.RacctState
		stateErr      error
		standIn, best bool
		apply         bool
		warns, errs   string
	}{
		{"nothing asked", false, freebsd.RacctDisabled, nil, false, false, false, "", ""},
		{"enabled", true, freebsd.RacctEnabled, nil, false, false, true, "", ""},
		{"disabled fails with how to enable", true, freebsd.RacctDisabled, nil, false, false, false, "",
			"racct is disabled on this host (kern.racct.enable=0); enable it: add kern.racct.enable=1 to /boot/loader.conf and reboot, or set limits_best_effort = true"},
		{"kernel without RACCT", true, freebsd.RacctDisabled, errors.New("the kernel has no RACCT"), false, false, false, "", "racct is not available on this host: the kernel has no RACCT"},
		{"disabled, best effort", true, freebsd.RacctDisabled, nil, false, true, false, "Resource limits not applied (limits_best_effort): racct is disabled", ""},
		{"not FreeBSD, stand-in", true, freebsd.RacctUnsupported, freebsd.ErrUnsupported, true, false, true, "", ""},
		{"not FreeBSD, no stand-in", true, freebsd.RacctUnsupported, freebsd.ErrUnsupported, false, false, false, "", ""},
	} {
		apply, warn, err := decideRctl(c.want, c.state, c.stateErr, c.standIn, c.best)
		if apply != c.apply || !strings.HasPrefix(warn, c.warns) || (c.warns == "") != (warn == "") {
			t.Errorf("%s: apply %v warn %q", c.name, apply, warn)
		}
		if (c.errs == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.errs)) {
			t.Errorf("%s: err %v", c.name, err)
		}
	}
}

func TestUsageFromRacct(t *testing.T) {
	u := usageFromRacct(freebsd.Usage{"memoryuse": 5 << 20, "swapuse": 1 << 20, "pcpu": 37}, 2000, time.Unix(10, 0))
	m, c := u.ResourceUsage.MemoryStats, u.ResourceUsage.CpuStats
	if m.RSS != 5<<20 || m.Swap != 1<<20 || c.Percent != 37 || c.TotalTicks != 740 {
		t.Fatalf("usage %+v %+v", m, c)
	}
	if !reflect.DeepEqual(m.Measured, []string{"RSS", "Swap"}) || !reflect.DeepEqual(c.Measured, []string{"Percent"}) {
		t.Fatalf("measured %v %v", m.Measured, c.Measured)
	}
	u = usageFromRacct(freebsd.Usage{}, 0, time.Time{})
	if u.ResourceUsage.MemoryStats == nil || u.ResourceUsage.CpuStats == nil || u.ResourceUsage.CpuStats.TotalTicks != 0 {
		t.Fatalf("no clock: %+v", u.ResourceUsage.CpuStats)
	}
}

// ---- the driver against recording stand-ins of rctl and cpuset ----

// fakeHost is the kernel as a test wants it.
type fakeHost struct {
	mu       sync.Mutex
	racct    freebsd.RacctState
	clock    int
	usage    freebsd.Usage
	usageErr error
	msgs     string
	noMsgs   bool
	release  string
	vnet, pf bool
	zfs      freebsd.ZFSReading
	zfsErr   error
}

func newFakeHost() *fakeHost {
	return &fakeHost{
		racct: freebsd.RacctEnabled, clock: 2000, release: "14.3-RELEASE-p2", vnet: true, pf: true,
		usageErr: freebsd.ErrUnsupported,
		zfs:      freebsd.ZFSReading{Root: "zroot/pot", RootAvail: 50 << 30, Pool: "zroot", PoolHealth: "ONLINE", PoolFree: 80 << 30},
	}
}

func (f *fakeHost) set(fn func(f *fakeHost)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeHost) Racct() (freebsd.RacctState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.racct, nil
}

func (f *fakeHost) ClockRateMHz() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.clock == 0 {
		return 0, freebsd.ErrUnsupported
	}
	return f.clock, nil
}

func (f *fakeHost) JailUsage(string) (freebsd.Usage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.usage, f.usageErr
}

func (f *fakeHost) KernelMessages() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noMsgs {
		return "", freebsd.ErrUnsupported
	}
	return f.msgs, nil
}

func (f *fakeHost) Release() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.release, nil
}

func (f *fakeHost) VNET() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vnet, nil
}

func (f *fakeHost) PF(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pf, nil
}

func (f *fakeHost) ZFS(_ context.Context, root string) (freebsd.ZFSReading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.zfs
	r.Root = root
	return r, f.zfsErr
}

// limitsEnv is a potsim env whose driver runs rctl and cpuset as
// recording stand-ins and reads a fakeHost.
type limitsEnv struct {
	*testEnv
	host   *fakeHost
	log    string // the recorder's log
	script string // the recorder's answers
	// shared is a folder mounted into every task at its own path: the
	// tasks write their marks into the log and wait for files there (on
	// pot's scripts a jail sees nothing else of the host).
	shared string
	cfg    hclspec.PluginConfig
}

func newLimitsEnv(t *testing.T) *limitsEnv {
	t.Helper()
	env := newTestEnv(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "recorder")
	build := exec.Command("go", "build", "-o", bin, "../internal/recorder/cmd/recorder")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the recorder: %v\n%s", err, out)
	}
	tools, err := recorder.Install(bin, dir, "rctl", "cpuset")
	if err != nil {
		t.Fatal(err)
	}
	shared := t.TempDir()
	e := &limitsEnv{
		testEnv: env,
		host:    newFakeHost(),
		log:     filepath.Join(shared, "calls.jsonl"),
		script:  filepath.Join(dir, "answers.json"),
		shared:  shared,
		cfg: hclspec.PluginConfig{PotBin: potsimBin, RctlBin: tools["rctl"], CpusetBin: tools["cpuset"],
			HostPathAllow: []string{shared}},
	}
	t.Setenv(recorder.EnvLog, e.log)
	t.Setenv(recorder.EnvScript, e.script)
	e.answer()
	return e
}

// task is testEnv.task with the shared folder mounted in.
func (e *limitsEnv) task(name, script string) (*drivers.TaskConfig, *hclspec.TaskConfig) {
	cfg, tc := e.testEnv.task(name, script)
	tc.Mount = append(tc.Mount, e.shared+":"+e.shared)
	return cfg, tc
}

// answer scripts the stand-ins' replies.
func (e *limitsEnv) answer(answers ...recorder.Answer) {
	e.t.Helper()
	if answers == nil {
		answers = []recorder.Answer{}
	}
	data, _ := json.Marshal(answers)
	if err := os.WriteFile(e.script, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *limitsEnv) driver() (*Driver, *dtestutil.DriverHarness) {
	e.t.Helper()
	cfg := e.cfg
	d, h := e.newDriverWith(&cfg)
	d.mu.Lock()
	d.host = e.host
	d.mu.Unlock()
	return d, h
}

// calls are the recorded rctl and cpuset calls (and the tasks' own marks),
// as command lines.
func (e *limitsEnv) calls() []string {
	e.t.Helper()
	cs, err := recorder.Read(e.log)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Line())
	}
	return out
}

// mark is a shell command a task runs to put a line into the call log.
func (e *limitsEnv) mark(what string) string {
	return fmt.Sprintf(`printf '{"tool":"task","args":["%s"]}\n' >> '%s'`, what, e.log)
}

func potNameOf(t *testing.T, h *dtestutil.DriverHarness, id string) string {
	t.Helper()
	st, err := h.InspectTask(id)
	if err != nil {
		t.Fatal(err)
	}
	return st.DriverAttributes["pot_name"]
}

func (e *limitsEnv) jid(pot string) int {
	e.t.Helper()
	info, err := e.client.Info(context.Background(), pot)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.JID()
}

func withResources(cfg *drivers.TaskConfig, memMB, memMaxMB, shares int64, cores string) {
	cfg.Resources.NomadResources.Memory = structs.AllocatedMemoryResources{MemoryMB: memMB, MemoryMaxMB: memMaxMB}
	cfg.Resources.NomadResources.Cpu = structs.AllocatedCpuResources{CpuShares: shares}
	cfg.Resources.LinuxResources = &drivers.LinuxResources{MemoryLimitBytes: max(memMB, memMaxMB) << 20, CPUShares: shares, CpusetCpus: cores}
}

// TestLimitsAppliedAndRemoved: cores = 1, memory + memory_max,
// cpu_hard_limit and an extra rule give exactly these calls: every rule in
// one rctl -a before the task runs, cpuset on the jail's id, rctl -r when the
// task is destroyed.
func TestLimitsAppliedAndRemoved(t *testing.T) {
	e := newLimitsEnv(t)
	_, h := e.driver()
	cfg, tc := e.task("limited", e.mark("running")+`; echo ready; while :; do sleep 0.05; done`)
	withResources(cfg, 256, 512, 2000, "1")
	tc.CPUHardLimit = true
	tc.Rctl = hclspec.MapStrStr{"maxproc": "100", "vmemoryuse": "2g"}
	start(t, h, cfg, tc)
	logContains(t, cfg, "stdout", "ready")
	pot := potNameOf(t, h, cfg.ID)
	jid := e.jid(pot)

	want := []string{
		"rctl -a jail:" + pot + ":memoryuse:devctl=268435456 jail:" + pot + ":memoryuse:deny=536870912 jail:" + pot + ":memoryuse:log=536870912 jail:" + pot + ":pcpu:deny=100 jail:" + pot + ":maxproc:deny=100 jail:" + pot + ":vmemoryuse:deny=2147483648",
		"task running",
		fmt.Sprintf("cpuset -l 1 -j %d", jid),
	}
	got := e.calls()
	// The task's own mark and cpuset race; rctl -a comes before both.
	if len(got) != 3 || got[0] != want[0] || !sameSet(got[1:], want[1:]) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if err := h.StopTask(cfg.ID, time.Second, "SIGTERM"); err != nil {
		t.Fatal(err)
	}
	if res := waitResult(t, h, cfg.ID, 10*time.Second); res.OOMKilled {
		t.Fatalf("a stopped task reported OOMKilled: %+v", res)
	}
	if got := e.calls(); len(got) != 3 {
		t.Fatalf("calls before destroy: %q", got)
	}
	if err := h.DestroyTask(cfg.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := h.DestroyTask(cfg.ID, true); err != nil {
		t.Fatal(err)
	}
	got = e.calls()
	if len(got) != 4 || got[3] != "rctl -r jail:"+pot {
		t.Fatalf("after destroy:\n%s", strings.Join(got, "\n"))
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestNoCoresNoCpuset: a task without cores is left to the shared set.
func TestNoCoresNoCpuset(t *testing.T) {
	e := newLimitsEnv(t)
	_, h := e.driver()
	cfg, tc := e.task("shared", "exit 0")
	withResources(cfg, 64, 0, 100, "")
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 10*time.Second); res.ExitCode != 0 || res.OOMKilled {
		t.Fatalf("exit %+v", res)
	}
	pot := potNameOf(t, h, cfg.ID)
	if err := h.DestroyTask(cfg.ID, true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"rctl -a jail:" + pot + ":memoryuse:deny=67108864 jail:" + pot + ":memoryuse:log=67108864",
		"rctl -r jail:" + pot,
	}
	if got := e.calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls %q\nwant %q", got, want)
	}
}

// TestRacctDisabled: a task asking for limits on a host without racct
// fails saying how to enable it, unless limits are best-effort.
func TestRacctDisabled(t *testing.T) {
	e := newLimitsEnv(t)
	e.host.set(func(f *fakeHost) { f.racct = freebsd.RacctDisabled })
	_, h := e.driver()
	cfg, tc := e.task("noracct", "exit 0")
	encode(t, cfg, tc)
	allocDir(t, h, cfg, false)
	_, _, err := h.StartTask(cfg)
	if err == nil || !strings.Contains(err.Error(), "add kern.racct.enable=1 to /boot/loader.conf and reboot") {
		t.Fatalf("StartTask: %v", err)
	}
	if pots := e.taskPots(); len(pots) != 0 {
		t.Fatalf("pots left: %v", pots)
	}
	if got := e.calls(); len(got) != 0 {
		t.Fatalf("calls %q", got)
	}

	e.cfg.LimitsBestEffort = true
	_, h = e.driver()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := h.TaskEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, tc = e.task("besteffort", "exit 0")
	withResources(cfg, 64, 0, 100, "0")
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 10*time.Second); res.ExitCode != 0 {
		t.Fatalf("exit %+v", res)
	}
	found := false
	for !found {
		select {
		case ev := <-events:
			found = strings.Contains(ev.Message, "Resource limits not applied (limits_best_effort): racct is disabled")
		case <-time.After(10 * time.Second):
			t.Fatal("no event about the limits not applied")
		}
	}
	// cpuset needs no racct: the core is still pinned unless the task
	// ended before its jail id showed.
	for _, c := range e.calls() {
		if strings.HasPrefix(c, "rctl") {
			t.Fatalf("rctl called: %q", c)
		}
	}
}

// TestRctlOutsideAllowlist: an rctl resource the plugin does not allow is
// refused, naming the key and value.
func TestRctlOutsideAllowlist(t *testing.T) {
	e := newLimitsEnv(t)
	_, h := e.driver()
	cfg, tc := e.task("ipc", "exit 0")
	tc.Rctl = hclspec.MapStrStr{"nsem": "10"}
	encode(t, cfg, tc)
	allocDir(t, h, cfg, false)
	_, _, err := h.StartTask(cfg)
	if err == nil || !strings.Contains(err.Error(), `rctl["nsem"] "10": rctl resource nsem is not in the pot plugin's rctl_allow`) {
		t.Fatalf("StartTask: %v", err)
	}
	if got := e.calls(); len(got) != 0 {
		t.Fatalf("calls %q", got)
	}
}

// TestFailedCpusetRemovesEverything: cpuset failing fails the start, and
// the rules and the pot go.
func TestFailedCpusetRemovesEverything(t *testing.T) {
	e := newLimitsEnv(t)
	e.answer(recorder.Answer{Tool: "cpuset", Exit: 1, Stderr: "cpuset: setaffinity: Resource deadlock avoided\n"})
	_, h := e.driver()
	cfg, tc := e.task("badcore", "echo ready; while :; do sleep 0.05; done")
	withResources(cfg, 64, 0, 2000, "7")
	encode(t, cfg, tc)
	allocDir(t, h, cfg, true)
	_, _, err := h.StartTask(cfg)
	if err == nil || !strings.Contains(err.Error(), "pinning the jail to its reserved cores 7") || !strings.Contains(err.Error(), "Resource deadlock avoided") {
		t.Fatalf("StartTask: %v", err)
	}
	got := e.calls()
	if len(got) != 3 || !strings.HasPrefix(got[0], "rctl -a ") || !strings.HasPrefix(got[1], "cpuset -l 7 -j ") || !strings.HasPrefix(got[2], "rctl -r jail:") {
		t.Fatalf("calls:\n%s", strings.Join(got, "\n"))
	}
	if pots := e.taskPots(); len(pots) != 0 {
		t.Fatalf("pots left: %v", pots)
	}
}

// TestOOMKilled: the ExitResult says OOMKilled from the kernel's records.
func TestOOMKilled(t *testing.T) {
	e := newLimitsEnv(t)
	_, h := e.driver()
	for _, c := range []struct {
		name   string
		script string
		msgs   func(pot string, jid int) string
		code   int
		oom    bool
	}{
		{"SIGKILL at the hard limit", `kill -9 $$`, func(pot string, jid int) string {
			return `rctl: rule "jail:` + pot + `:memoryuse:log=67108864" matched by pid 4242 (sh), uid 0, jail ` + pot + "\n"
		}, 137, true},
		{"the OOM killer killed a process of the jail", `exit 3`, func(pot string, jid int) string {
			return fmt.Sprintf("<3>pid 4243 (worker), jid %d, uid 0, was killed: failed to reclaim memory\n", jid)
		}, 3, true},
		{"SIGKILL, limit not reached", `kill -9 $$`, func(string, int) string { return "" }, 137, false},
		{"another jail at its limit", `kill -9 $$`, func(pot string, jid int) string {
			return `rctl: rule "jail:other:memoryuse:log=1" matched by pid 1 (x), uid 0, jail other` + "\n" +
				fmt.Sprintf("<3>pid 1 (x), jid %d, uid 0, was killed: out of swap space\n", jid+1000)
		}, 137, false},
	} {
		go1 := filepath.Join(e.shared, "go-"+uuid.Generate()[:8])
		cfg, tc := e.task("oom", `echo ready; while [ ! -e '`+go1+`' ]; do sleep 0.05; done; `+c.script)
		withResources(cfg, 64, 0, 100, "")
		e.host.set(func(f *fakeHost) { f.msgs = "" })
		start(t, h, cfg, tc)
		logContains(t, cfg, "stdout", "ready")
		pot := potNameOf(t, h, cfg.ID)
		jid := e.jid(pot)
		e.host.set(func(f *fakeHost) { f.msgs = "---<<BOOT>>---\n" + c.msgs(pot, jid) })
		if err := os.WriteFile(go1, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		res := waitResult(t, h, cfg.ID, 10*time.Second)
		if res.ExitCode != c.code || res.OOMKilled != c.oom {
			t.Errorf("%s: %+v", c.name, res)
		}
	}
}

// TestStatsFromTheKernel: with the jail's racct readable, stats start no
// process; when it is not, pot get-rss answers.
func TestStatsFromTheKernel(t *testing.T) {
	e := newLimitsEnv(t)
	callLog := filepath.Join(t.TempDir(), "pot-calls")
	e.cfg.PotBin = callLogger(t, e.cfg.PotBin, callLog)
	e.host.set(func(f *fakeHost) {
		f.usage = freebsd.Usage{"memoryuse": 42 << 20, "swapuse": 1 << 20, "pcpu": 50, "cputime": 3}
		f.usageErr = nil
	})
	_, h := e.driver()
	cfg, tc := e.task("stats", `echo ready; while :; do sleep 0.05; done`)
	start(t, h, cfg, tc)
	logContains(t, cfg, "stdout", "ready")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := h.TaskStats(ctx, cfg.ID, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	kernel := true
	next := func() {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatal("stats closed")
			}
			m, c := u.ResourceUsage.MemoryStats, u.ResourceUsage.CpuStats
			if kernel && (m.RSS != 42<<20 || m.Swap != 1<<20 || c.Percent != 50 || c.TotalTicks != 1000) {
				t.Fatalf("kernel sample: %+v %+v", m, c)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no stats")
		}
	}
	for i := 0; i < 3; i++ {
		next()
	}
	calls, _ := os.ReadFile(callLog)
	if strings.Contains(string(calls), "get-rss") {
		t.Fatalf("pot get-rss ran though the kernel answered: %q", calls)
	}
	kernel = false
	e.host.set(func(f *fakeHost) { f.usageErr = errors.New("rctl_get_racct: operation not supported") })
	deadline := time.Now().Add(10 * time.Second)
	for {
		next()
		calls, _ = os.ReadFile(callLog)
		if strings.Contains(string(calls), "get-rss") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no fallback to pot get-rss")
		}
	}
}

// callLogger is a pot that writes each call's subcommand to log, then runs
// pot (exec: the same process, as the driver expects of pot start).
func callLogger(t *testing.T, potBin, log string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pot")
	script := "#!/bin/sh\necho \"$1\" >> " + pot.ShellQuoteWord(log) + "\nexec " + pot.ShellQuoteWord(potBin) + ` "$@"` + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestRecoveredTaskRemovesItsRules: the rules are removed at destroy also
// by a driver that recovered the task.
func TestRecoveredTaskRemovesItsRules(t *testing.T) {
	e := newLimitsEnv(t)
	d1, h1 := e.driver()
	cfg, tc := e.task("recover", `echo ready; while :; do sleep 0.05; done`)
	withResources(cfg, 64, 128, 2000, "0")
	handle := start(t, h1, cfg, tc)
	logContains(t, cfg, "stdout", "ready")
	pot := potNameOf(t, h1, cfg.ID)
	// The first driver goes away (its harness stays: go-plugin's Kill
	// races with the gRPC shutdown under -race); the jail keeps running.
	d1.Shutdown()

	_, h2 := e.driver()
	handle = handle.Copy()
	handle.Config.EncodeConcreteDriverConfig(struct{}{})
	if err := h2.RecoverTask(handle); err != nil {
		t.Fatal(err)
	}
	if err := h2.DestroyTask(cfg.ID, true); err != nil {
		t.Fatal(err)
	}
	got := e.calls()
	if len(got) != 3 || !strings.HasPrefix(got[0], "rctl -a jail:"+pot+":memoryuse:devctl=67108864 ") ||
		!strings.HasPrefix(got[1], "cpuset -l 0 -j ") ||
		got[2] != "rctl -r jail:"+pot {
		t.Fatalf("calls:\n%s", strings.Join(got, "\n"))
	}
}

// TestFingerprintHost: the host's attributes, and health from pot's ZFS
// root, read again on every fingerprint.
func TestFingerprintHost(t *testing.T) {
	e := newLimitsEnv(t)
	d, _ := e.driver()
	fp := d.fingerprint(context.Background())
	if fp.Health != drivers.HealthStateHealthy {
		t.Fatalf("healthy host: %s %q", fp.Health, fp.HealthDescription)
	}
	str := func(k string) string { return attrString(t, fp, k) }
	for k, want := range map[string]string{
		"driver.pot.version":             "0.16.0",
		"driver.pot.freebsd_release":     "14.3-RELEASE-p2",
		"driver.pot.racct":               "true",
		"driver.pot.vnet":                "true",
		"driver.pot.pf":                  "true",
		"driver.pot.zfs_root":            "zroot/pot",
		"driver.pot.zfs_pool":            "zroot",
		"driver.pot.zfs_pool_health":     "ONLINE",
		"driver.pot.zfs_root_free_bytes": fmt.Sprint(50 << 30),
		"driver.pot.zfs_pool_free_bytes": fmt.Sprint(80 << 30),
	} {
		if got := str(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	e.host.set(func(f *fakeHost) { f.zfs.PoolHealth = "DEGRADED"; f.racct = freebsd.RacctDisabled; f.pf = false })
	fp = d.fingerprint(context.Background())
	if fp.Health != drivers.HealthStateUnhealthy || !strings.Contains(fp.HealthDescription, "ZFS pool zroot of pot's root zroot/pot is DEGRADED") {
		t.Fatalf("degraded: %s %q", fp.Health, fp.HealthDescription)
	}
	if str("driver.pot.racct") != "false" || str("driver.pot.pf") != "false" {
		t.Fatalf("attributes did not follow the host: %v", fp.Attributes)
	}

	e.host.set(func(f *fakeHost) {
		f.zfs = freebsd.ZFSReading{Pool: "zroot"}
		f.zfsErr = &freebsd.ZFSError{What: "dataset zroot/pot", Missing: true}
	})
	fp = d.fingerprint(context.Background())
	if fp.Health != drivers.HealthStateUnhealthy || !strings.Contains(fp.HealthDescription, "dataset zroot/pot does not exist") {
		t.Fatalf("missing root: %s %q", fp.Health, fp.HealthDescription)
	}

	e.host.set(func(f *fakeHost) {
		f.zfs = freebsd.ZFSReading{Root: "zroot/pot", Pool: "zroot", PoolHealth: "ONLINE"}
		f.zfsErr = nil
	})
	if fp = d.fingerprint(context.Background()); fp.Health != drivers.HealthStateHealthy {
		t.Fatalf("repaired: %s %q", fp.Health, fp.HealthDescription)
	}
}

// TestLimitsSkippedOffFreeBSD: off FreeBSD without rctl and cpuset
// stand-ins nothing could enforce limits; tasks asking for them run.
func TestLimitsSkippedOffFreeBSD(t *testing.T) {
	if freebsd.Executable(freebsd.DefaultRctlBin) || freebsd.Executable(freebsd.DefaultCpusetBin) {
		t.Skip("this host has rctl or cpuset at FreeBSD's paths")
	}
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("nolimits", "exit 0")
	withResources(cfg, 64, 128, 500, "0")
	tc.CPUHardLimit = true
	tc.Rctl = hclspec.MapStrStr{"maxproc": "10"}
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 10*time.Second); res.ExitCode != 0 || res.OOMKilled {
		t.Fatalf("exit %+v", res)
	}
	// The allowlist still applies.
	cfg, tc = env.task("ipc", "exit 0")
	tc.Rctl = hclspec.MapStrStr{"nsem": "10"}
	encode(t, cfg, tc)
	allocDir(t, h, cfg, false)
	if _, _, err := h.StartTask(cfg); err == nil || !strings.Contains(err.Error(), "rctl_allow") {
		t.Fatalf("StartTask: %v", err)
	}
}
