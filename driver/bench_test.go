package driver

// What the driver costs, measured: `make bench` runs these benchmarks and
// turns their output into docs/benchmarks.md (cmd/benchreport). Each
// scenario runs once per sub-benchmark, whatever b.N is, and reports its
// figures with b.ReportMetric; run with -benchtime=1x. No figure is
// asserted: a benchmark fails only when the driver does (a start that
// fails, a task whose exit never comes).
//
//	go test ./driver -run='^$' -bench=Driver -benchtime=1x
//	BENCH_TASKS=1,50 BENCH_STARTS=100 BENCH_EXITS=50 BENCH_WINDOW=20s ...
//
// On FreeBSD, real pot is used (BENCH_POT, default /usr/local/bin/pot) with
// the image BENCH_IMAGE_URL, BENCH_IMAGE, BENCH_TAG; elsewhere potsim.

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"
)

// BenchmarkDriver measures P1..P4 with 1, 50 and 200 tasks running
// (BENCH_TASKS). For each number the tasks are started together (P4), then
// kept running while the other figures are measured next to them.
func BenchmarkDriver(b *testing.B) {
	cfg := loadBenchConfig(b)
	for _, n := range cfg.sizes {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) { benchFleet(b, cfg, n) })
	}
}

// fleet is the n tasks running on the current driver.
type fleet struct {
	cfg     benchConfig
	env     *benchEnv
	h       *benchHarness
	n       int
	tasks   []*benchTask
	watcher *exitWatcher

	mu      sync.Mutex
	samples map[*benchTask]bool // started for P1, P2: removed after use
}

// sample makes a task for a measurement, removed by remove or, if that
// never happens, by teardown.
func (f *fleet) sample(name string) *benchTask {
	t := f.env.newTask(name, true)
	f.mu.Lock()
	f.samples[t] = true
	f.mu.Unlock()
	return t
}

func (f *fleet) remove(t *benchTask) error {
	err := f.h.destroy(t)
	if err == nil {
		f.mu.Lock()
		delete(f.samples, t)
		f.mu.Unlock()
	}
	return err
}

func benchFleet(b *testing.B, cfg benchConfig, n int) {
	env := newBenchEnv(b)
	f := &fleet{cfg: cfg, env: env, n: n, h: env.newDriver(), samples: map[*benchTask]bool{}}
	defer f.teardown(b)
	w, err := startExitWatcher()
	if err != nil {
		b.Fatal(err)
	}
	defer w.close()
	f.watcher = w
	f.warmUp(b)
	scenario(b, "P4-density", f.density)
	f.ensure(b)
	scenario(b, "P1-start", f.startOverhead)
	scenario(b, "P2-exit-owned", func(b *testing.B) map[string]float64 { return f.exitDetection(b, false) })
	scenario(b, "P2-exit-recovered", func(b *testing.B) map[string]float64 { return f.exitDetection(b, true) })
	// Last: with many tasks, pot's stats processes load the machine.
	scenario(b, "P3-steady", f.steady)
}

// scenario runs f once as the sub-benchmark name and reports its figures
// on every run the benchmark framework asks for.
func scenario(b *testing.B, name string, f func(b *testing.B) map[string]float64) {
	var got map[string]float64
	b.Run(name, func(b *testing.B) {
		if got == nil {
			load, retries, usage := loadAvg1(), destroyRetries.Load(), startUsage()
			got = f(b)
			got["load_1m"] = load
			got["machine_busy_pct"], got["others_busy_pct"] = usage.percent()
			if r := destroyRetries.Load() - retries; r > 0 {
				b.Logf("bench: %s: DestroyTask failed and was repeated %d times (pot stop refuses a pot still \"starting\")", b.Name(), r)
			}
		}
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.ReportMetric(got[k], k)
		}
	})
}

// warmUp imports the image (pot's one-time cost) and warms the caches.
func (f *fleet) warmUp(b *testing.B) {
	t := f.sample("warmup")
	handle, _, err := f.h.StartTask(t.cfg)
	if err != nil {
		b.Fatalf("warm-up start: %v", err)
	}
	t.handle = handle
	if _, err := t.waitPid(time.Minute); err != nil {
		b.Fatal(err)
	}
	if err := f.remove(t); err != nil {
		b.Fatalf("warm-up destroy: %v", err)
	}
}

// ensure starts the fleet when P4, which starts it, was not selected.
func (f *fleet) ensure(b *testing.B) {
	if f.tasks != nil {
		return
	}
	tasks := make([]*benchTask, f.n)
	errs := make([]error, f.n)
	for i := range tasks {
		tasks[i] = f.env.newTask(fmt.Sprintf("fleet%d", i), false)
	}
	parallel(f.n, 8, func(i int) {
		handle, _, err := f.h.StartTask(tasks[i].cfg)
		if err == nil {
			tasks[i].handle = handle
			_, err = tasks[i].waitPid(2 * time.Minute)
		}
		errs[i] = err
	})
	f.tasks = tasks
	for _, err := range errs {
		if err != nil {
			b.Fatalf("starting the fleet: %v", err)
		}
	}
}

// teardown removes every task left, the fleet's and samples a failed
// measurement left behind.
func (f *fleet) teardown(b *testing.B) {
	all := append([]*benchTask(nil), f.tasks...)
	for t := range f.samples {
		all = append(all, t)
	}
	errs := make([]error, len(all))
	parallel(len(all), 8, func(i int) {
		t := all[i]
		if t.handle == nil {
			t.cleanup()
			return
		}
		if errs[i] = f.h.destroy(t); errs[i] != nil && f.env.potsim {
			// Last resort: potsim start stops its jail on SIGTERM.
			if pid := t.potStartPid(); pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	f.h.kill()
	for _, err := range errs {
		if err != nil {
			b.Errorf("teardown: %v", err)
		}
	}
}

func realPot(e *benchEnv) float64 {
	if e.potsim {
		return 0
	}
	return 1
}

// P4: n tasks started at once through the harness; the time until every
// task's command runs, the process's memory, the failures.
func (f *fleet) density(b *testing.B) map[string]float64 {
	n := f.n
	tasks := make([]*benchTask, n)
	for i := range tasks {
		tasks[i] = f.env.newTask(fmt.Sprintf("fleet%d", i), false)
	}
	debug.FreeOSMemory()
	rss0, g0 := rssBytes(), runtime.NumGoroutine()
	calls0, rec0 := f.env.callCounts(), f.h.calls.count()

	lat := make([]time.Duration, n)
	running := make([]time.Time, n)
	errs := make([]error, n)
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := range tasks {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := time.Now()
			handle, _, err := f.h.StartTask(tasks[i].cfg)
			lat[i] = time.Since(s)
			if err != nil {
				errs[i] = err
				return
			}
			tasks[i].handle = handle
			if _, err := tasks[i].waitPid(2 * time.Minute); err != nil {
				errs[i] = err
				return
			}
			running[i] = time.Now()
		}(i)
	}
	wg.Wait()
	var last time.Time
	failures := 0
	for i := range tasks {
		if errs[i] != nil {
			failures++
			b.Logf("bench: P4 tasks=%d: failure: %v", n, errs[i])
			continue
		}
		if running[i].After(last) {
			last = running[i]
		}
	}
	rss1, g1 := rssBytes(), runtime.NumGoroutine()
	debug.FreeOSMemory()
	rssLive := rssBytes()
	f.tasks = tasks
	calls := f.h.calls.count() - rec0
	procs, by := countDelta(calls0, f.env.callCounts())
	if f.env.potsim {
		b.Logf("bench: P4 tasks=%d: pot processes by subcommand (potsim log): %s", n, formatCounts(by))
	}
	m := map[string]float64{
		"p4_all_running_s":       last.Sub(t0).Seconds(),
		"p4_start_ms_p50":        quantile(lat, 0.5),
		"p4_start_ms_p99":        quantile(lat, 0.99),
		"p4_failures":            float64(failures),
		"p4_rss_MB":              float64(rss1) / (1 << 20),
		"p4_rss_KB_per_task":     float64(rssLive-rss0) / 1024 / float64(n),
		"p4_goroutines_per_task": float64(g1-g0) / float64(n),
		"p4_pot_calls_per_task":  float64(calls) / float64(n),
		"real_pot":               realPot(f.env),
	}
	if f.env.potsim {
		m["p4_processes_per_task"] = float64(procs) / float64(n)
	}
	if failures > 0 {
		// Keep only the tasks that run; the failed ones go now.
		var ok []*benchTask
		for i, t := range tasks {
			if errs[i] == nil {
				ok = append(ok, t)
			} else if t.handle != nil {
				_ = f.h.destroy(t)
			} else {
				t.cleanup()
			}
		}
		f.tasks = ok
	}
	return m
}

// P3: the steady cost of n running tasks, first with nobody asking (idle),
// then with a stats stream at the interval on every task, as Nomad's
// client keeps one.
func (f *fleet) steady(b *testing.B) map[string]float64 {
	n := float64(len(f.tasks))
	perMinute := func(d time.Duration) float64 { return float64(time.Minute) / float64(d) }

	const idle = 5 * time.Second
	settle()
	c0, k0, r0 := cpuTime(), f.env.callCounts(), f.h.calls.count()
	time.Sleep(idle)
	idleCPU := cpuTime() - c0
	idleProcs, _ := countDelta(k0, f.env.callCounts())
	idleCalls := f.h.calls.count() - r0

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var samples atomic.Int64
	var wg sync.WaitGroup
	for _, t := range f.tasks {
		ch, err := f.h.TaskStats(ctx, t.cfg.ID, f.cfg.interval)
		if err != nil {
			b.Fatalf("TaskStats: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
				samples.Add(1)
			}
		}()
	}
	// The first sample of every stream is taken at once: let that pass.
	time.Sleep(2 * f.cfg.interval)
	c0, k0, r0 = cpuTime(), f.env.callCounts(), f.h.calls.count()
	ch0 := childrenCPUTime()
	s0 := samples.Load()
	t0 := time.Now()
	time.Sleep(f.cfg.window)
	wall := time.Since(t0)
	cpu := cpuTime() - c0
	potCPU := childrenCPUTime() - ch0
	k1 := f.env.callCounts()
	calls := f.h.calls.count() - r0
	got := samples.Load() - s0
	cancel()
	wg.Wait()
	// Let the last samples' pot processes end before anything else runs.
	time.Sleep(2 * time.Second)

	pots := make([]string, len(f.tasks))
	for i, t := range f.tasks {
		var st TaskState
		if err := t.handle.GetDriverState(&st); err != nil {
			b.Fatal(err)
		}
		pots[i] = st.PotName
	}
	intervals := float64(wall) / float64(f.cfg.interval)
	m := map[string]float64{
		"p3_idle_cpu_ms_per_task_min":    float64(idleCPU) / float64(time.Millisecond) / n * perMinute(idle),
		"p3_idle_pot_calls_per_task_min": float64(idleCalls) / n * perMinute(idle),
		"p3_cpu_ms_per_task_min":         float64(cpu) / float64(time.Millisecond) / n * perMinute(wall),
		"p3_cpu_pct_of_core":             100 * float64(cpu) / float64(wall),
		"p3_pot_calls_per_task_min":      float64(calls) / n * perMinute(wall),
		"p3_pot_calls_per_task_interval": f.h.calls.ratePerTask(t0, t0.Add(wall), pots, f.cfg.interval),
		"p3_samples_per_task_interval":   float64(got) / n / intervals,
		"p3_cpu_ms_per_sample":           float64(cpu) / float64(time.Millisecond) / float64(max(got, 1)),
		"p3_pot_cpu_ms_per_call":         float64(potCPU) / float64(time.Millisecond) / float64(max(calls, 1)),
		"p3_pot_cpu_pct_of_machine":      100 * float64(potCPU) / float64(wall) / float64(runtime.NumCPU()),
		"p3_window_s":                    wall.Seconds(),
		"p3_interval_s":                  f.cfg.interval.Seconds(),
		"real_pot":                       realPot(f.env),
	}
	if f.env.potsim {
		procs, by := countDelta(k0, k1)
		m["p3_processes_per_task_min"] = float64(procs) / n * perMinute(wall)
		m["p3_idle_processes_per_task_min"] = float64(idleProcs) / n * perMinute(idle)
		b.Logf("bench: P3 tasks=%d: pot processes in %s by subcommand (potsim log): %s", len(f.tasks), wall.Round(time.Millisecond), formatCounts(by))
	}
	return m
}

// P1: StartTask's wall time minus the time inside pot commands, for
// tasks started one after the other next to the fleet (each removed
// before the next starts, outside the measurement).
func (f *fleet) startOverhead(b *testing.B) map[string]float64 {
	var wall, inPot, overhead []time.Duration
	totalCalls := 0
	k0 := f.env.callCounts()
	for i := 0; i < f.cfg.starts; i++ {
		t := f.sample("p1")
		settle()
		t0 := time.Now()
		handle, _, err := f.h.StartTask(t.cfg)
		t1 := time.Now()
		if err != nil {
			b.Fatalf("StartTask: %v", err)
		}
		t.handle = handle
		calls, in := f.h.calls.within(t0, t1)
		totalCalls += calls
		wall = append(wall, t1.Sub(t0))
		inPot = append(inPot, in)
		overhead = append(overhead, t1.Sub(t0)-in)
		if _, err := t.waitPid(time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := f.remove(t); err != nil {
			b.Fatalf("DestroyTask: %v", err)
		}
	}
	if f.env.potsim {
		_, by := countDelta(k0, f.env.callCounts())
		b.Logf("bench: P1 tasks=%d: pot processes for %d starts and removals by subcommand (potsim log): %s", f.n, f.cfg.starts, formatCounts(by))
	}
	m := map[string]float64{
		"p1_overhead_ms_p50":     quantile(overhead, 0.5),
		"p1_overhead_ms_p99":     quantile(overhead, 0.99),
		"p1_wall_ms_p50":         quantile(wall, 0.5),
		"p1_wall_ms_p99":         quantile(wall, 0.99),
		"p1_in_pot_ms_p50":       quantile(inPot, 0.5),
		"p1_pot_calls_per_start": float64(totalCalls) / float64(f.cfg.starts),
		"p1_starts":              float64(f.cfg.starts),
		"real_pot":               realPot(f.env),
	}
	if f.env.volume != "" {
		m["p1_zfs_calls_per_start"] = f.zfsCallsPerStart(b, nil)
		m["p1_zfs_calls_per_start_volume"] = f.zfsCallsPerStart(b, []*drivers.MountConfig{{TaskPath: "/data", HostPath: f.env.volume}})
	}
	return m
}

// zfsCallsPerStart is how many zfs calls StartTask makes for a task with
// these volume mounts (the emulation's zfs, potsim), over a few starts.
func (f *fleet) zfsCallsPerStart(b *testing.B, mounts []*drivers.MountConfig) float64 {
	const starts = 5
	total := 0
	for i := 0; i < starts; i++ {
		t := f.sample("p1-zfs")
		t.cfg.Mounts = mounts
		settle()
		before := f.env.zfsCalls()
		handle, _, err := f.h.StartTask(t.cfg)
		if err != nil {
			b.Fatalf("StartTask: %v", err)
		}
		total += f.env.zfsCalls() - before
		t.handle = handle
		if _, err := t.waitPid(time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := f.remove(t); err != nil {
			b.Fatalf("DestroyTask: %v", err)
		}
		// The pruning of the volume's snapshots follows StartTask by
		// pruneDelay: let it finish before the next start is counted.
		time.Sleep(pruneDelay)
		for last, quiet, tries := f.env.zfsCalls(), 0, 0; quiet < 3 && tries < 50; quiet, tries = quiet+1, tries+1 {
			time.Sleep(100 * time.Millisecond)
			if now := f.env.zfsCalls(); now != last {
				last, quiet = now, -1
			}
		}
	}
	return float64(total) / starts
}

// exitBatch is how many sample tasks run at a time in P2.
const exitBatch = 20

// P2: from the task's process exit (the benchmark kills it: T0) to the
// WaitTask result (T1), for tasks the driver started (owned) and for tasks
// a fresh driver recovered after the one that started them went away.
// Split: T0 to the exit of `pot start` is pot's (its clean-up after the
// command), the rest is the driver's minus its pot calls (last-run-stats).
func (f *fleet) exitDetection(b *testing.B, recovered bool) map[string]float64 {
	var total, teardown, driverPart, inPot, recoverEach []time.Duration
	for done := 0; done < f.cfg.exits; done += exitBatch {
		k := min(exitBatch, f.cfg.exits-done)
		batch := make([]*benchTask, k)
		pids := make([]int, k)
		errs := make([]error, k)
		for i := range batch {
			batch[i] = f.sample("p2")
		}
		parallel(k, k, func(i int) {
			handle, _, err := f.h.StartTask(batch[i].cfg)
			if err == nil {
				batch[i].handle = handle
				pids[i], err = batch[i].waitPid(time.Minute)
			}
			errs[i] = err
		})
		for _, err := range errs {
			if err != nil {
				b.Fatalf("starting a sample task: %v", err)
			}
		}
		if recovered {
			// The driver goes away as a plugin process does; a new one
			// recovers every task, the fleet's and the samples.
			f.h.kill()
			f.h = f.env.newDriver()
			for _, t := range append(append([]*benchTask(nil), f.tasks...), batch...) {
				s := time.Now()
				if err := f.h.RecoverTask(t.handle.Copy()); err != nil {
					b.Fatalf("RecoverTask: %v", err)
				}
				recoverEach = append(recoverEach, time.Since(s))
			}
		}
		for i, t := range batch {
			tot, td, dp, in, err := f.measureExit(t, pids[i])
			if err != nil {
				b.Fatal(err)
			}
			total, teardown, driverPart, inPot = append(total, tot), append(teardown, td), append(driverPart, dp), append(inPot, in)
		}
		parallel(k, k, func(i int) { errs[i] = f.remove(batch[i]) })
		for _, err := range errs {
			if err != nil {
				b.Fatalf("DestroyTask: %v", err)
			}
		}
	}
	m := map[string]float64{
		"p2_exit_ms_p50":         quantile(total, 0.5),
		"p2_exit_ms_p99":         quantile(total, 0.99),
		"p2_pot_teardown_ms_p50": quantile(teardown, 0.5),
		"p2_pot_teardown_ms_p99": quantile(teardown, 0.99),
		"p2_driver_ms_p50":       quantile(driverPart, 0.5),
		"p2_driver_ms_p99":       quantile(driverPart, 0.99),
		"p2_in_pot_ms_p50":       quantile(inPot, 0.5),
		"p2_exits":               float64(len(total)),
		"real_pot":               realPot(f.env),
	}
	if recovered {
		m["p2_recover_ms_p50"] = quantile(recoverEach, 0.5)
	}
	return m
}

// measureExit kills the task's process and times the WaitTask result.
func (f *fleet) measureExit(t *benchTask, pid int) (total, teardown, driverPart, inPot time.Duration, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := f.h.WaitTask(ctx, t.cfg.ID)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("WaitTask: %w", err)
	}
	exited, err := f.watcher.watch(t.potStartPid())
	if err != nil {
		return 0, 0, 0, 0, err
	}
	// Let WaitTask's stream reach the driver before the exit.
	settle()
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("killing task process %d: %w", pid, err)
	}
	var t1 time.Time
	select {
	case res := <-ch:
		t1 = time.Now()
		if res == nil {
			return 0, 0, 0, 0, fmt.Errorf("task %s: WaitTask gave no result", t.cfg.ID)
		}
	case <-time.After(time.Minute):
		return 0, 0, 0, 0, fmt.Errorf("task %s: no WaitTask result a minute after its process exited", t.cfg.ID)
	}
	var tExit time.Time
	select {
	case tExit = <-exited:
	case <-time.After(10 * time.Second):
		return 0, 0, 0, 0, fmt.Errorf("task %s: pot start did not exit", t.cfg.ID)
	}
	_, inPot = f.h.calls.within(t0, t1)
	return t1.Sub(t0), tExit.Sub(t0), t1.Sub(tExit) - inPot, inPot, nil
}

func formatCounts(by map[string]int) string {
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, by[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
