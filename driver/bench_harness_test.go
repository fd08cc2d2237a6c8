package driver

// The machinery of the benchmarks in bench_test.go: where pot is, a harness
// over the driver's gRPC plugin interface, the record of every pot call, and
// the process's own CPU time and memory. See docs/benchmarks.md.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/nomad/ci"
	"github.com/hashicorp/nomad/client/allocdir"
	"github.com/hashicorp/nomad/client/logmon"
	"github.com/hashicorp/nomad/client/taskenv"
	"github.com/hashicorp/nomad/helper/uuid"
	"github.com/hashicorp/nomad/nomad/mock"
	"github.com/hashicorp/nomad/nomad/structs"
	"github.com/hashicorp/nomad/plugins/base"
	"github.com/hashicorp/nomad/plugins/drivers"
	"github.com/hashicorp/nomad/plugins/drivers/fsisolation"
	dtestutil "github.com/hashicorp/nomad/plugins/drivers/testutils"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// benchConfig is the size of the benchmarks, from the environment.
type benchConfig struct {
	sizes    []int         // BENCH_TASKS: numbers of running tasks, "1,50,200"
	starts   int           // BENCH_STARTS: measured starts per size (P1)
	exits    int           // BENCH_EXITS: measured exits per size and kind (P2)
	window   time.Duration // BENCH_WINDOW: the steady-cost window (P3)
	interval time.Duration // BENCH_INTERVAL: the stats interval (P3)
}

func loadBenchConfig(tb testing.TB) benchConfig {
	c := benchConfig{sizes: []int{1, 50, 200}, starts: 100, exits: 100, window: 20 * time.Second, interval: time.Second}
	if v := os.Getenv("BENCH_TASKS"); v != "" {
		c.sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				tb.Fatalf("BENCH_TASKS=%q: want positive numbers separated by commas", v)
			}
			c.sizes = append(c.sizes, n)
		}
	}
	for _, p := range []struct {
		env string
		v   *int
	}{{"BENCH_STARTS", &c.starts}, {"BENCH_EXITS", &c.exits}} {
		if v := os.Getenv(p.env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				tb.Fatalf("%s=%q: want a positive number", p.env, v)
			}
			*p.v = n
		}
	}
	for _, p := range []struct {
		env string
		v   *time.Duration
	}{{"BENCH_WINDOW", &c.window}, {"BENCH_INTERVAL", &c.interval}} {
		if v := os.Getenv(p.env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				tb.Fatalf("%s=%q: want a duration such as 20s", p.env, v)
			}
			*p.v = d
		}
	}
	return c
}

// benchEnv is one pot installation: potsim with a fresh root (the default),
// or the pot named by BENCH_POT (on FreeBSD, /usr/local/bin/pot by default)
// with the image named by BENCH_IMAGE_URL, BENCH_IMAGE and BENCH_TAG.
type benchEnv struct {
	tb      testing.TB
	potBin  string
	potsim  bool
	callLog string // potsim's call log; empty for real pot
	// volume is the folder of a pot fscomp on the emulation's ZFS, and
	// zfsLog where a zfs in front of the emulation's logs the zfs calls
	// of the benchmark's process (potsim only).
	volume, zfsLog string
	imageURL       string
	image          string
	tag            string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	e := &benchEnv{tb: b, potBin: os.Getenv("BENCH_POT")}
	if e.potBin == "" && freebsd.Executable(pot.DefaultBin) {
		// A host with pot installed (FreeBSD) benchmarks it.
		e.potBin = pot.DefaultBin
	}
	if e.potBin == "" || e.potBin == "potsim" {
		e.potBin, e.potsim = potsimBin, true
		root := b.TempDir()
		e.callLog = filepath.Join(root, "calls.log")
		// potsim is started by the driver, which passes its environment on.
		b.Setenv("POTSIM_ROOT", root)
		potsimInit(b, root)
		b.Setenv("POTSIM_CALL_LOG", e.callLog)
		// Symbolic links rather than bind mounts: nothing of the benchmark
		// reaches the host's mount table.
		b.Setenv("POTSIM_MOUNT", "symlink")
		// An opaque image (an empty pot) and the hash potsim checks
		// (no .meta: hashed as an empty one).
		image := []byte("image")
		files := map[string][]byte{
			"/" + pot.ImageFile(testImage, testTag):            image,
			"/" + pot.ImageFile(testImage, testTag) + ".skein": imagehash.Skein(image, nil),
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if body, ok := files[r.URL.Path]; ok {
				_, _ = w.Write(body)
				return
			}
			http.NotFound(w, r)
		}))
		b.Cleanup(srv.Close)
		e.imageURL, e.image, e.tag = srv.URL, testImage, testTag
		e.emulateZFS(root)
		return e
	}
	e.imageURL, e.image, e.tag = os.Getenv("BENCH_IMAGE_URL"), os.Getenv("BENCH_IMAGE"), os.Getenv("BENCH_TAG")
	if e.imageURL == "" || e.image == "" || e.tag == "" {
		b.Skipf("benchmarking real pot (%s) needs BENCH_IMAGE_URL, BENCH_IMAGE and BENCH_TAG: an image with /bin/sh and sleep", e.potBin)
	}
	return e
}

// callCounts returns potsim's calls so far by subcommand (nil for real pot,
// which keeps no such log).
func (e *benchEnv) callCounts() map[string]int {
	if e.callLog == "" {
		return nil
	}
	f, err := os.Open(e.callLog)
	if err != nil {
		return map[string]int{}
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			counts[l]++
		}
	}
	return counts
}

func countDelta(before, after map[string]int) (total int, by map[string]int) {
	by = map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			by[k] = d
			total += d
		}
	}
	return total, by
}

// potCall is one pot command the driver ran to completion.
type potCall struct {
	start, end time.Time
	args       []string
}

// callRecorder is the pot client's Observer: it keeps every call.
type callRecorder struct {
	mu    sync.Mutex
	calls []potCall
}

func (r *callRecorder) observe(args []string, took time.Duration, _ error) {
	end := time.Now()
	r.mu.Lock()
	r.calls = append(r.calls, potCall{start: end.Add(-took), end: end, args: append([]string(nil), args...)})
	r.mu.Unlock()
}

// within returns the number of calls made inside [from, to] and their total
// time.
func (r *callRecorder) within(from, to time.Time) (n int, total time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.calls {
		if !c.start.Before(from) && !c.end.After(to) {
			n++
			total += c.end.Sub(c.start)
		}
	}
	return n, total
}

// ratePerTask returns the pot calls per task per interval inside
// [from, to] for tasks, taken from the spacing of each pot's calls (the
// first to the last), which a window's edges do not bias; calls that name
// no pot count as spread over all tasks.
func (r *callRecorder) ratePerTask(from, to time.Time, pots []string, interval time.Duration) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	byPot := map[string][]time.Time{}
	unnamed := 0
	for _, c := range r.calls {
		if c.start.Before(from) || c.end.After(to) {
			continue
		}
		name := ""
		for i := 0; i+1 < len(c.args); i++ {
			if c.args[i] == "-p" {
				name = c.args[i+1]
			}
		}
		if name == "" {
			unnamed++
			continue
		}
		byPot[name] = append(byPot[name], c.start)
	}
	var sum float64
	for _, p := range pots {
		ts := byPot[p]
		if len(ts) < 2 {
			sum += float64(len(ts)) * float64(interval) / float64(to.Sub(from))
			continue
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		sum += float64(len(ts)-1) * float64(interval) / float64(ts[len(ts)-1].Sub(ts[0]))
	}
	n := float64(len(pots))
	return sum/n + float64(unnamed)/n*float64(interval)/float64(to.Sub(from))
}

func (r *callRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// benchHarness is the driver behind Nomad's gRPC plugin interface, built
// as dtestutil.NewDriverHarness builds it (drivers.NewDriverPlugin over
// go-plugin's in-process gRPC connection), which needs a *testing.T that a
// benchmark does not have.
type benchHarness struct {
	drivers.DriverPlugin
	impl   *Driver
	calls  *callRecorder
	client *plugin.GRPCClient
	server *plugin.GRPCServer
	once   sync.Once
}

// quietLogger logs at Info, as a Nomad agent does by default, to nowhere:
// the benchmarks pay for the driver's logging but do not print it.
func quietLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: io.Discard})
}

func (e *benchEnv) newDriver() *benchHarness {
	e.tb.Helper()
	rec := &callRecorder{}
	d := New(quietLogger())
	// Installed before any use; SetConfig carries it to the new client.
	d.pot.Observer = rec.observe
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: os.Stderr})
	// go-plugin's test connection logs at Debug to hclog's default output.
	defaultOutput := hclog.DefaultOutput
	hclog.DefaultOutput = io.Discard
	client, server := plugin.TestPluginGRPCConn(e.tb, true, map[string]plugin.Plugin{
		base.PluginTypeDriver: drivers.NewDriverPlugin(d, logger),
		base.PluginTypeBase:   &base.PluginBase{Impl: d},
	})
	hclog.DefaultOutput = defaultOutput
	raw, err := client.Dispense(base.PluginTypeDriver)
	if err != nil {
		e.tb.Fatalf("dispensing the driver: %v", err)
	}
	h := &benchHarness{DriverPlugin: raw.(drivers.DriverPlugin), impl: d, calls: rec, client: client, server: server}
	var data []byte
	pc := &hclspec.PluginConfig{PotBin: e.potBin}
	if e.volume != "" {
		pc.HostPathAllow = []string{e.volume}
	}
	if err := base.MsgPackEncode(&data, pc); err != nil {
		e.tb.Fatal(err)
	}
	if err := h.SetConfig(&base.Config{PluginConfig: data}); err != nil {
		e.tb.Fatalf("SetConfig: %v", err)
	}
	return h
}

// kill ends the driver as a dying plugin process would, leaving its jails.
func (h *benchHarness) kill() {
	h.once.Do(func() {
		h.impl.Shutdown()
		_ = h.client.Close()
		h.server.Stop()
	})
}

// benchTask is one task: its config, its alloc dir with Nomad's logmon on
// the log fifos, and once started its handle.
type benchTask struct {
	cfg     *drivers.TaskConfig
	handle  *drivers.TaskHandle
	localD  string
	cleanup func()
}

// The task: it writes its pid where the benchmark finds it (its local/
// folder, mounted from the task dir; the jail's command runs from the jail's
// root) and then waits, costing nothing, until a signal ends it.
const benchScript = `d=local; [ -d "$d" ] || d=/local; echo $$ > "$d/pid"; exec sleep 86400`

// newTask makes the alloc dir of a new task as the harness's MkAllocDir
// does; with logs, Nomad's logmon reads the task's log fifos (in this
// process: in Nomad it is a process of its own). Without, the driver sends
// the task's output to /dev/null. The task is not started.
func (e *benchEnv) newTask(name string, logs bool) *benchTask {
	e.tb.Helper()
	allocID := uuid.Generate()
	cfg := &drivers.TaskConfig{
		ID:      fmt.Sprintf("%s/%s/%s", allocID, name, uuid.Generate()[:8]),
		AllocID: allocID,
		JobName: "bench",
		JobID:   "bench",
		Name:    name,
		Resources: &drivers.Resources{
			NomadResources: &structs.AllocatedTaskResources{
				Memory: structs.AllocatedMemoryResources{MemoryMB: 64},
				Cpu:    structs.AllocatedCpuResources{CpuShares: 100},
			},
			LinuxResources: &drivers.LinuxResources{MemoryLimitBytes: 64 << 20, CPUShares: 100},
		},
	}
	tc := &hclspec.TaskConfig{
		Image:       e.imageURL,
		Pot:         e.image,
		Tag:         e.tag,
		Command:     "/bin/sh",
		Args:        []string{"-c", benchScript},
		ExactArgs:   true,
		NetworkMode: "inherit",
	}
	if err := cfg.EncodeConcreteDriverConfig(tc); err != nil {
		e.tb.Fatal(err)
	}
	logger := hclog.NewNullLogger()
	dir, err := os.MkdirTemp("", "pot-bench-alloc-")
	if err != nil {
		e.tb.Fatal(err)
	}
	mounts, err := os.MkdirTemp("", "pot-bench-mounts-")
	if err != nil {
		e.tb.Fatal(err)
	}
	_ = os.Chmod(mounts, 0o755)
	ad := allocdir.NewAllocDir(logger, dir, mounts, allocID)
	if err := ad.Build(); err != nil {
		e.tb.Fatal(err)
	}
	cfg.AllocDir = ad.AllocDir
	task := &structs.Task{Name: name}
	td := ad.NewTaskDir(task)
	if err := td.Build(fsisolation.Image, ci.TinyChroot, ""); err != nil {
		e.tb.Fatal(err)
	}
	alloc := mock.Alloc()
	alloc.ID = allocID
	alloc.AllocatedResources.Tasks[name] = cfg.Resources.NomadResources
	builder := taskenv.NewBuilder(mock.Node(), alloc, task, "global")
	dtestutil.SetEnvvars(builder, fsisolation.Image, td)
	cfg.Env = builder.Build().Map()

	stop := func() error { return nil }
	if logs {
		lm := logmon.NewLogMon(logger)
		cfg.StdoutPath = filepath.Join(td.LogDir, "."+name+".stdout.fifo")
		cfg.StderrPath = filepath.Join(td.LogDir, "."+name+".stderr.fifo")
		if err := lm.Start(&logmon.LogConfig{
			LogDir: td.LogDir, StdoutLogFile: name + ".stdout", StderrLogFile: name + ".stderr",
			StdoutFifo: cfg.StdoutPath, StderrFifo: cfg.StderrPath, MaxFiles: 2, MaxFileSizeMB: 1,
		}); err != nil {
			e.tb.Fatal(err)
		}
		stop = lm.Stop
	}
	return &benchTask{cfg: cfg, localD: td.LocalDir, cleanup: func() {
		_ = stop()
		_ = ad.Destroy()
		_ = os.RemoveAll(dir)
		_ = os.RemoveAll(mounts)
	}}
}

// settle lets the process become quiet before a measurement: logmon's
// fifo opens block two threads, which keep the runtime's Ps until sysmon
// takes them back (up to 10 ms later, a delay that would be charged to
// whatever the driver does next), and the harness's garbage is collected
// so that only the driver's own triggers a GC inside the measurement.
func settle() {
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
}

// pid returns the pid the task wrote, 0 while it has not.
func (t *benchTask) pid() int {
	data, err := os.ReadFile(filepath.Join(t.localD, "pid"))
	if err != nil || !bytes.HasSuffix(data, []byte("\n")) {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return n
}

// waitPid waits until the task's command runs and returns its pid.
func (t *benchTask) waitPid(within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for {
		if p := t.pid(); p > 0 {
			return p, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("task %s: its command did not run within %s", t.cfg.ID, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// potStartPid is the pid of the task's `pot start` process, from its handle.
func (t *benchTask) potStartPid() int {
	var st TaskState
	if t.handle == nil || t.handle.GetDriverState(&st) != nil {
		return 0
	}
	return st.Pid
}

// parallel runs f(i) for i < n on up to width goroutines.
func parallel(n, width int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, width)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}(i)
	}
	wg.Wait()
}

// destroyRetries counts the DestroyTask calls that failed and were
// repeated: `pot stop` refuses a pot whose status is still "starting",
// which it is for a moment after its command already runs.
var destroyRetries atomic.Int64

// destroy stops and removes a task's pot and its alloc dir. A failing
// DestroyTask is repeated for up to 10 s (see destroyRetries).
func (h *benchHarness) destroy(t *benchTask) error {
	defer t.cleanup()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := h.DestroyTask(t.cfg.ID, true)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		destroyRetries.Add(1)
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuTime is the CPU time (user + system) of this process: the driver, the
// harness around it and the benchmark; not that of pot's processes.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childrenCPUTime is the CPU time of this process's children that have
// been waited for (and of theirs): the pot commands the driver ran.
func childrenCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineTicks returns the machine's busy and total CPU ticks so far
// (/proc/stat; kern.cp_time on FreeBSD), zeros if unknown.
func machineTicks() (busy, total float64) {
	var f []string
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		f = strings.Fields(line)
		if len(f) < 5 || f[0] != "cpu" {
			return 0, 0
		}
		idle := 0.0
		for i, v := range f[1:] {
			x, _ := strconv.ParseFloat(v, 64)
			if i >= 8 { // guest time is already in user time
				break
			}
			total += x
			if i == 3 || i == 4 { // idle, iowait
				idle += x
			}
		}
		return total - idle, total
	}
	out, err := exec.Command("sysctl", "-n", "kern.cp_time").Output()
	if err != nil {
		return 0, 0
	}
	f = strings.Fields(string(out)) // user nice sys intr idle
	for i, v := range f {
		x, _ := strconv.ParseFloat(v, 64)
		total += x
		if i != 4 {
			busy += x
		}
	}
	return busy, total
}

// usageMeter measures how busy the machine was over a stretch of time, and
// how much of that was this process and the pot commands it waited for.
type usageMeter struct {
	wall        time.Time
	busy, total float64
	own         time.Duration
}

func startUsage() usageMeter {
	b, t := machineTicks()
	return usageMeter{wall: time.Now(), busy: b, total: t, own: cpuTime() + childrenCPUTime()}
}

// percent returns the machine's busy share and the share of it that was
// not this benchmark (other processes of the machine), in % of all CPUs.
func (u usageMeter) percent() (machine, others float64) {
	b, t := machineTicks()
	if t <= u.total {
		return -1, -1
	}
	machine = 100 * (b - u.busy) / (t - u.total)
	ncpu := float64(runtime.NumCPU())
	own := 100 * float64(cpuTime()+childrenCPUTime()-u.own) / float64(time.Since(u.wall)) / ncpu
	return machine, max(0, machine-own)
}

// rssBytes is this process's resident set size now (VmRSS; ps elsewhere).
func rssBytes() int64 {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb << 10
			}
		}
	}
	out, err := exec.Command("ps", "-o", "rss=", "-p", strconv.Itoa(os.Getpid())).Output()
	if err != nil {
		return 0
	}
	kb, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	return kb << 10
}

// loadAvg1 is the machine's 1-minute load average, -1 if unknown.
func loadAvg1() float64 {
	var s string
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		s = string(data)
	} else if out, err := exec.Command("sysctl", "-n", "vm.loadavg").Output(); err == nil {
		s = strings.Trim(strings.TrimSpace(string(out)), "{} ")
	}
	f := strings.Fields(s)
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// quantile returns the q-quantile (nearest rank) of ds in milliseconds.
func quantile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(q*float64(len(s))+0.999999) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(s) {
		rank = len(s) - 1
	}
	return float64(s[rank]) / float64(time.Millisecond)
}

// emulateZFS gives the potsim benchmark the emulation's ZFS, a pot fscomp
// bench_volume under root/fscomp, and a zfs in front of the emulation's
// that logs the calls of this process (not potsim's: it keeps its pots'
// datasets too).
func (e *benchEnv) emulateZFS(root string) {
	b := e.tb
	m := emulation.New(b, "zfs", "zpool")
	m.Setenv(b)
	m.Pool("zroot", "zroot/pot/jails", "zroot/pot/fscomp/bench_volume")
	e.volume = filepath.Join(root, "fscomp", "bench_volume")
	if err := os.MkdirAll(e.volume, 0o755); err != nil {
		b.Fatal(err)
	}
	wrap := b.TempDir()
	e.zfsLog = filepath.Join(wrap, "calls")
	script := "#!/bin/sh\n[ \"$PPID\" = " + strconv.Itoa(os.Getpid()) + " ] && echo \"$*\" >> " + e.zfsLog + "\nexec " + filepath.Join(m.Bin, "zfs") + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(wrap, "zfs"), []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}
	b.Setenv("PATH", wrap+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// zfsCalls is how many zfs calls the benchmark's process has made.
func (e *benchEnv) zfsCalls() int {
	data, _ := os.ReadFile(e.zfsLog)
	return strings.Count(string(data), "\n")
}
