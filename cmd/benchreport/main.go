// Command benchreport turns the output of the driver's benchmarks
// (`go test ./driver -run='^$' -bench=Driver -benchtime=1x`, see
// driver/bench_test.go) into docs/benchmarks.md: the machine, the method,
// the table of figures at each number of tasks, and which targets are met.
// `make bench` runs both.
//
//	benchreport [-in bin/bench.txt] [-out docs/benchmarks.md]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	in := flag.String("in", "bin/bench.txt", "output of go test -bench")
	out := flag.String("out", "docs/benchmarks.md", "markdown file to write")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		fatal(err)
	}
	res, err := parse(f)
	f.Close()
	if err != nil {
		fatal(fmt.Errorf("%s: %w", *in, err))
	}
	res.when = time.Now()
	if st, err := os.Stat(*in); err == nil {
		res.when = st.ModTime()
	}
	doc := render(res, machine())
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		fatal(err)
	}
	fmt.Printf("wrote %s\n", *out)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(1)
}

// results are the benchmarks' figures by number of tasks and scenario.
type results struct {
	header  map[string]string                     // goos, goarch, pkg, cpu
	procs   int                                   // GOMAXPROCS, from the names' suffix
	figures map[int]map[string]map[string]float64 // tasks -> scenario -> metric -> value
	details []string                              // the benchmarks' "bench:" log lines
	raw     []string                              // the benchmark result lines
	when    time.Time                             // when the benchmarks ended
}

var (
	benchLine = regexp.MustCompile(`^BenchmarkDriver/tasks=(\d+)/(\S+?)(?:-(\d+))?\s+\d+\s+(.*)$`)
	infoLine  = regexp.MustCompile(`:\d+: bench: (.*)$`)
)

func parse(r io.Reader) (*results, error) {
	res := &results{header: map[string]string{}, figures: map[int]map[string]map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	failed := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "--- FAIL") || line == "FAIL" || strings.HasPrefix(line, "FAIL\t") || strings.HasPrefix(line, "panic:"):
			failed = true
		case benchLine.MatchString(line):
			m := benchLine.FindStringSubmatch(line)
			n, _ := strconv.Atoi(m[1])
			if m[3] != "" {
				res.procs, _ = strconv.Atoi(m[3])
			}
			fields := strings.Fields(m[4])
			metrics := map[string]float64{}
			for i := 0; i+1 < len(fields); i += 2 {
				v, err := strconv.ParseFloat(fields[i], 64)
				if err == nil {
					metrics[fields[i+1]] = v
				}
			}
			if res.figures[n] == nil {
				res.figures[n] = map[string]map[string]float64{}
			}
			res.figures[n][m[2]] = metrics
			res.raw = append(res.raw, line)
		case infoLine.MatchString(line):
			res.details = append(res.details, infoLine.FindStringSubmatch(line)[1])
		default:
			for _, k := range []string{"goos", "goarch", "pkg", "cpu"} {
				if v, ok := strings.CutPrefix(line, k+": "); ok {
					res.header[k] = strings.TrimSpace(v)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if failed {
		return nil, fmt.Errorf("the benchmarks failed (see the output above)")
	}
	if len(res.figures) == 0 {
		return nil, fmt.Errorf("no BenchmarkDriver results")
	}
	return res, nil
}

func (r *results) sizes() []int {
	var s []int
	for n := range r.figures {
		s = append(s, n)
	}
	sort.Ints(s)
	return s
}

// get returns a figure, ok false when it was not measured.
func (r *results) get(n int, scenario, metric string) (float64, bool) {
	v, ok := r.figures[n][scenario][metric]
	return v, ok
}

func (r *results) realPot() bool {
	for _, sc := range r.figures {
		for _, m := range sc {
			if m["real_pot"] == 1 {
				return true
			}
		}
	}
	return false
}

// machineInfo describes where the report is written (the machine the
// benchmarks ran on: make bench runs both in a row).
type machineInfo struct {
	cpu, kernel, memory, goVersion string
	nproc                          int
}

func machine() machineInfo {
	m := machineInfo{nproc: runtime.NumCPU(), goVersion: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if m.cpu == "" {
		m.cpu = command("sysctl", "-n", "hw.model")
	}
	m.kernel = command("uname", "-srm")
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m.memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	} else if s := command("sysctl", "-n", "hw.physmem"); s != "" {
		b, _ := strconv.ParseFloat(s, 64)
		m.memory = fmt.Sprintf("%.1f GiB", b/(1<<30))
	}
	return m
}

func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// row is one line of the table: a figure at every number of tasks.
type row struct {
	label, target, scenario, metric, format string
}

var rows = []row{
	{"**P1** start overhead, median (ms)", "≤ 5 ms", "P1-start", "p1_overhead_ms_p50", "%.2f"},
	{"P1 start overhead, p99 (ms)", "", "P1-start", "p1_overhead_ms_p99", "%.2f"},
	{"P1 StartTask wall time, median / p99 (ms)", "", "P1-start", "p1_wall_ms_p50|p1_wall_ms_p99", "%.1f / %.1f"},
	{"P1 time inside pot commands, median (ms)", "", "P1-start", "p1_in_pot_ms_p50", "%.1f"},
	{"P1 pot calls per start", "", "P1-start", "p1_pot_calls_per_start", "%.0f"},
	{"P1 zfs calls per start, no volume / one pot fscomp volume", "0 / 1", "P1-start", "p1_zfs_calls_per_start|p1_zfs_calls_per_start_volume", "%.1f / %.1f"},
	{"**P2** exit → WaitTask, owned, p50 / p99 (ms)", "p99 ≤ 50 ms", "P2-exit-owned", "p2_exit_ms_p50|p2_exit_ms_p99", "%.1f / %.1f"},
	{"  of which pot's teardown (exit → `pot start` exits), p50 / p99", "", "P2-exit-owned", "p2_pot_teardown_ms_p50|p2_pot_teardown_ms_p99", "%.1f / %.1f"},
	{"  of which `pot last-run-stats`, p50", "", "P2-exit-owned", "p2_in_pot_ms_p50", "%.1f"},
	{"  of which the driver, p50 / p99", "", "P2-exit-owned", "p2_driver_ms_p50|p2_driver_ms_p99", "%.2f / %.2f"},
	{"**P2** exit → WaitTask, recovered, p50 / p99 (ms)", "p99 ≤ 50 ms", "P2-exit-recovered", "p2_exit_ms_p50|p2_exit_ms_p99", "%.1f / %.1f"},
	{"  of which pot's teardown, p50 / p99", "", "P2-exit-recovered", "p2_pot_teardown_ms_p50|p2_pot_teardown_ms_p99", "%.1f / %.1f"},
	{"  of which `pot last-run-stats`, p50", "", "P2-exit-recovered", "p2_in_pot_ms_p50", "%.1f"},
	{"  of which the driver, p50 / p99", "", "P2-exit-recovered", "p2_driver_ms_p50|p2_driver_ms_p99", "%.2f / %.2f"},
	{"P2 RecoverTask, median per task (ms)", "", "P2-exit-recovered", "p2_recover_ms_p50", "%.1f"},
	{"**P3** pot calls per task per stats interval", "≤ 1 (potsim), 0 (FreeBSD)", "P3-steady", "p3_pot_calls_per_task_interval", "%.3f"},
	{"P3 processes spawned per task per minute (potsim's count)", "", "P3-steady", "p3_processes_per_task_min", "%.1f"},
	{"P3 driver CPU per task per minute, 1 s stats (ms)", "", "P3-steady", "p3_cpu_ms_per_task_min", "%.1f"},
	{"P3 driver CPU, all tasks, 1 s stats (% of one CPU)", "", "P3-steady", "p3_cpu_pct_of_core", "%.2f"},
	{"P3 driver CPU per stats sample delivered (ms)", "", "P3-steady", "p3_cpu_ms_per_sample", "%.2f"},
	{"P3 stats samples delivered per task per interval", "", "P3-steady", "p3_samples_per_task_interval", "%.3f"},
	{"P3 pot's CPU per `pot get-rss` (ms; not the driver's)", "", "P3-steady", "p3_pot_cpu_ms_per_call", "%.1f"},
	{"P3 pot's CPU, all tasks (% of the machine; not the driver's)", "", "P3-steady", "p3_pot_cpu_pct_of_machine", "%.0f"},
	{"P3 idle (no stats stream): CPU per task per minute (ms)", "", "P3-steady", "p3_idle_cpu_ms_per_task_min", "%.2f"},
	{"P3 idle: pot calls per task per minute", "", "P3-steady", "p3_idle_pot_calls_per_task_min", "%.0f"},
	{"**P4** all tasks started together: time until all run (s)", "≤ 60 s", "P4-density", "p4_all_running_s", "%.2f"},
	{"**P4** failures", "0", "P4-density", "p4_failures", "%.0f"},
	{"P4 StartTask under that load, p50 / p99 (ms)", "", "P4-density", "p4_start_ms_p50|p4_start_ms_p99", "%.0f / %.0f"},
	{"P4 process RSS with all tasks running (MB)", "", "P4-density", "p4_rss_MB", "%.1f"},
	{"P4 RSS growth per task (KB)", "", "P4-density", "p4_rss_KB_per_task", "%.0f"},
	{"P4 goroutines per task", "", "P4-density", "p4_goroutines_per_task", "%.1f"},
	{"P4 pot processes per start (potsim's count)", "", "P4-density", "p4_processes_per_task", "%.0f"},
}

// loadRows show how busy the machine was while each figure was measured.
var loadRows = []row{
	{"P4", "", "P4-density", "machine_busy_pct|others_busy_pct|load_1m", "%.0f%% / %.0f%% / %.2f"},
	{"P1", "", "P1-start", "machine_busy_pct|others_busy_pct|load_1m", "%.0f%% / %.0f%% / %.2f"},
	{"P2 owned", "", "P2-exit-owned", "machine_busy_pct|others_busy_pct|load_1m", "%.0f%% / %.0f%% / %.2f"},
	{"P2 recovered", "", "P2-exit-recovered", "machine_busy_pct|others_busy_pct|load_1m", "%.0f%% / %.0f%% / %.2f"},
	{"P3", "", "P3-steady", "machine_busy_pct|others_busy_pct|load_1m", "%.0f%% / %.0f%% / %.2f"},
}

func (r *results) cell(n int, rw row) string {
	var vals []any
	for _, m := range strings.Split(rw.metric, "|") {
		v, ok := r.get(n, rw.scenario, m)
		if !ok {
			return "–"
		}
		vals = append(vals, v)
	}
	return fmt.Sprintf(rw.format, vals...)
}

// growth lists the figures whose change with the number of tasks the
// report spells out.
var growth = []struct{ label, scenario, metric, format string }{
	{"P1 start overhead, median (ms) — the driver", "P1-start", "p1_overhead_ms_p50", "%.2f"},
	{"P1 time inside pot per start, median (ms) — pot", "P1-start", "p1_in_pot_ms_p50", "%.1f"},
	{"P2 the driver's part of exit detection, owned / recovered, median (ms) — the driver", "P2-exit-owned|P2-exit-recovered", "p2_driver_ms_p50", "%.2f"},
	{"P2 pot's teardown, owned / recovered, p99 (ms) — pot", "P2-exit-owned|P2-exit-recovered", "p2_pot_teardown_ms_p99", "%.1f"},
	{"P2 exit detection, owned / recovered, p99 (ms) — both", "P2-exit-owned|P2-exit-recovered", "p2_exit_ms_p99", "%.1f"},
	{"P3 driver CPU per stats sample (ms) — the driver", "P3-steady", "p3_cpu_ms_per_sample", "%.2f"},
	{"P3 pot's CPU per `pot get-rss` (ms) — pot", "P3-steady", "p3_pot_cpu_ms_per_call", "%.1f"},
	{"P3 stats samples delivered per task per interval", "P3-steady", "p3_samples_per_task_interval", "%.3f"},
	{"P4 RSS growth per task (KB) — the driver and the gRPC layer", "P4-density", "p4_rss_KB_per_task", "%.0f"},
	{"P4 time until all run (s) — pot's calls in a row, under its global lock", "P4-density", "p4_all_running_s", "%.2f"},
}

// verdict is one target: met or not, and why.
type verdict struct {
	name, target string
	met          bool
	measured     bool
	text         string
}

func (r *results) verdicts() []verdict {
	var out []verdict
	sizes := r.sizes()
	worst := func(scenario, metric string) (float64, int, bool) {
		best, at, ok := 0.0, 0, false
		for _, n := range sizes {
			if v, have := r.get(n, scenario, metric); have && (!ok || v > best) {
				best, at, ok = v, n, true
			}
		}
		return best, at, ok
	}

	// P1.
	if v, at, ok := worst("P1-start", "p1_overhead_ms_p50"); ok {
		vd := verdict{name: "P1 start overhead", target: "median ≤ 5 ms", measured: true, met: v <= 5}
		in, _ := r.get(at, "P1-start", "p1_in_pot_ms_p50")
		calls, _ := r.get(at, "P1-start", "p1_pot_calls_per_start")
		if vd.met {
			vd.text = fmt.Sprintf("met: at most %.2f ms (median, at %s), against %.1f ms spent inside %.0f pot calls per start.", v, tasks(at), in, calls)
		} else {
			vd.text = fmt.Sprintf("**not met**: %.2f ms median at %s, %.2f ms over the target. "+
				"The overhead is everything StartTask does besides waiting for pot: Nomad's gRPC hop, decoding and validating the config, "+
				"the gaps between its %.0f pot calls (run one after another, each a fork and exec of pot by the Go runtime), "+
				"opening the log fifos, spawning `pot start` (not a call that completes, so counted as the driver's) and encoding the driver state; "+
				"on a loaded machine it also holds the time the driver waits for a CPU.", v, tasks(at), v-5, calls)
		}
		out = append(out, vd)
	}
	// P2.
	for _, kind := range []struct{ scenario, name string }{{"P2-exit-owned", "owned"}, {"P2-exit-recovered", "recovered"}} {
		v, at, ok := worst(kind.scenario, "p2_exit_ms_p99")
		if !ok {
			continue
		}
		vd := verdict{name: "P2 exit detection, " + kind.name, target: "p99 ≤ 50 ms", measured: true, met: v <= 50}
		td, _ := r.get(at, kind.scenario, "p2_pot_teardown_ms_p99")
		in, _ := r.get(at, kind.scenario, "p2_in_pot_ms_p50")
		dp, _ := r.get(at, kind.scenario, "p2_driver_ms_p99")
		if vd.met {
			vd.text = fmt.Sprintf("met: p99 at most %.1f ms (at %s); the driver's own part is at most %.2f ms (p99), the rest is pot's.", v, tasks(at), dp)
		} else {
			vd.text = fmt.Sprintf("**not met**: p99 %.1f ms at %s, %.1f ms over the target. "+
				"Pot's own teardown after the command exits (until `pot start` returns) is %.1f ms of it (p99) and the `pot last-run-stats` call the driver makes to learn the exit code about %.1f ms (median); "+
				"the driver's own part is %.2f ms (p99). The design waits for `pot start` to return and then asks pot for the exit code, "+
				"so pot's teardown and one pot call lie on the path; a loaded machine stretches both.", v, tasks(at), v-50, td, in, dp)
			if !r.realPot() {
				vd.text += " On potsim that teardown reads all of /proc several times (to find and end the jail's remaining processes), so it grows with the number of processes on the machine, i.e. with N; pot's teardown on FreeBSD is a different cost (jail -r, unmounts), measured by `make bench` there."
			}
			vd.text += " Reporting the exit before `pot start` returns would need the driver to watch the jail's main process itself and read the exit code as soon as pot has written it " +
				"(potsim writes last-run-stats before its clean-up), at the price of Nomad destroying a pot whose start is still cleaning up."
		}
		out = append(out, vd)
	}
	// P3.
	if v, at, ok := worst("P3-steady", "p3_pot_calls_per_task_interval"); ok {
		if !r.realPot() {
			vd := verdict{name: "P3 pot calls per task per stats interval, potsim", target: "≤ 1", measured: true, met: v <= 1.0005}
			if vd.met {
				vd.text = fmt.Sprintf("met: at most %.3f (at %s): one `pot get-rss` per sample, nothing else while tasks run (idle: no pot call at all). "+
					"The driver never has two samples of a task under way: the next one starts one interval after the previous one began, or at once when that one took longer.", v, tasks(at))
				for _, n := range sizes {
					if s, ok := r.get(n, "P3-steady", "p3_samples_per_task_interval"); ok && s < 0.9 {
						c, _ := r.get(n, "P3-steady", "p3_pot_calls_per_task_interval")
						vd.text += fmt.Sprintf(" At %d tasks pot could not keep up on this machine: %.3f calls and %.3f samples per task per interval, each `pot get-rss` taking longer than the interval "+
							"while %d of them compete for the CPUs, so Nomad gets stats less often than it asks.", n, c, s, n)
					}
				}
			} else {
				vd.text = fmt.Sprintf("**not met**: %.3f at %s, %.3f over.", v, tasks(at), v-1)
			}
			out = append(out, vd)
			out = append(out, verdict{name: "P3 pot calls per task per stats interval, FreeBSD", target: "0", measured: false,
				text: "not measured here (no FreeBSD machine; `make bench` there measures it). By design it is 0: on FreeBSD the driver reads the jail's usage " +
					"from the kernel with rctl_get_racct(2) (driver/stats_racct.go, package freebsd), which starts no process; it falls back to `pot get-rss` " +
					"(1 call per task per interval, as measured on potsim above) only when that read fails, e.g. with racct off (kern.racct.enable=0)."})
		} else {
			vd := verdict{name: "P3 pot calls per task per stats interval, FreeBSD", target: "0", measured: true, met: v == 0}
			if vd.met {
				vd.text = "met: no pot call while stats are sampled."
			} else {
				vd.text = fmt.Sprintf("**not met**: %.3f at %s, %.3f over. The driver reads racct with rctl_get_racct(2) and asks `pot get-rss` only when "+
					"that fails: is racct enabled (kern.racct.enable=1 in /boot/loader.conf)?", v, tasks(at), v)
			}
			out = append(out, vd)
		}
	}
	// P4.
	if len(sizes) > 0 {
		n := sizes[len(sizes)-1]
		t, ok1 := r.get(n, "P4-density", "p4_all_running_s")
		fails, ok2 := r.get(n, "P4-density", "p4_failures")
		if ok1 && ok2 {
			vd := verdict{name: fmt.Sprintf("P4 density, %d tasks", n), target: "all run ≤ 60 s, 0 failures", measured: true, met: t <= 60 && fails == 0}
			rss, _ := r.get(n, "P4-density", "p4_rss_MB")
			if vd.met {
				vd.text = fmt.Sprintf("met: all %d ran after %.1f s, no failure; the process's RSS was %.1f MB.", n, t, rss)
			} else {
				vd.text = fmt.Sprintf("**not met**: %.1f s until all ran (%.1f s over 60 s), %.0f failures. Every start is a row of pot calls, "+
					"and pot (and potsim) serialise `prepare` on a global lock.", t, max(0, t-60), fails)
			}
			out = append(out, vd)
		}
	}
	return out
}

func render(r *results, m machineInfo) string {
	var b strings.Builder
	sizes := r.sizes()
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }

	potDesc := "potsim (cmd/potsim), the Linux stand-in for pot, whose commands cost little, so that the driver's own overhead shows"
	if r.realPot() {
		potDesc = "real pot on FreeBSD"
	}
	w("# Benchmarks: what the driver costs\n\n")
	w("Written by `make bench` (driver/bench_test.go, cmd/benchreport); benchmarks run until %s. Do not edit by hand: run `make bench` again.\n\n", r.when.UTC().Format("2006-01-02 15:04 MST"))
	w("## Machine\n\n")
	w("| | |\n|---|---|\n")
	w("| pot | %s |\n", potDesc)
	cpu := m.cpu
	if cpu == "" {
		cpu = r.header["cpu"]
	}
	w("| CPU | %s |\n", cpu)
	w("| CPUs (nproc) | %d; GOMAXPROCS of the benchmarks %d |\n", m.nproc, r.procs)
	if m.memory != "" {
		w("| memory | %s |\n", m.memory)
	}
	w("| kernel | %s |\n", m.kernel)
	w("| Go | %s (%s/%s) |\n", m.goVersion, r.header["goos"], r.header["goarch"])
	var loads []float64
	for _, n := range sizes {
		for _, sc := range r.figures[n] {
			if v, ok := sc["load_1m"]; ok && v >= 0 {
				loads = append(loads, v)
			}
		}
	}
	if len(loads) > 0 {
		sort.Float64s(loads)
		first := -1.0
		if v, ok := r.get(sizes[0], "P4-density", "load_1m"); ok {
			first = v
		}
		w("| machine load | 1-minute load average %.2f when the first measurement started, %.2f to %.2f when the others did; the machine is shared with other work: see *How busy the machine was* below |\n", first, loads[0], loads[len(loads)-1])
	}
	w("\n")

	w("## Results\n\n")
	w("Columns: the number of tasks running on the driver while the figure is measured.\n\n")
	w("| figure | target |")
	for _, n := range sizes {
		w(" %d task%s |", n, plural(n))
	}
	w("\n|---|---|")
	for range sizes {
		w("---:|")
	}
	w("\n")
	for _, rw := range rows {
		w("| %s | %s |", rw.label, rw.target)
		for _, n := range sizes {
			w(" %s |", r.cell(n, rw))
		}
		w("\n")
	}
	w("\n")

	w("### How busy the machine was\n\n")
	w("While each scenario ran: all CPUs' busy share / the share that was neither this benchmark's process nor the pot commands it waited for ")
	w("(other users of this shared machine, and pot processes still running) / the 1-minute load average when it started.\n\n")
	w("| scenario |")
	for _, n := range sizes {
		w(" %d task%s |", n, plural(n))
	}
	w("\n|---|")
	for range sizes {
		w("---:|")
	}
	w("\n")
	for _, rw := range loadRows {
		w("| %s |", rw.label)
		for _, n := range sizes {
			w(" %s |", r.cell(n, rw))
		}
		w("\n")
	}
	w("\n")

	w("## Targets\n\n")
	vs := r.verdicts()
	met, measured := 0, 0
	for _, v := range vs {
		if v.measured {
			measured++
			if v.met {
				met++
			}
		}
	}
	w("%d of the %d targets measured here are met; %d not measured here.\n\n", met, measured, len(vs)-measured)
	for _, v := range vs {
		w("- **%s** (target %s): %s\n", v.name, v.target, v.text)
	}
	w("\n")
	if len(sizes) > 1 {
		hi := sizes[len(sizes)-1]
		w("## Growth with the number of tasks\n\n")
		w("Each figure at %s running tasks, and whose it is:\n\n", joinSizes(sizes))
		for _, g := range growth {
			var cells []string
			for _, n := range sizes {
				var parts []string
				for _, sc := range strings.Split(g.scenario, "|") {
					v, ok := r.get(n, sc, g.metric)
					if !ok {
						parts = append(parts, "–")
						continue
					}
					parts = append(parts, fmt.Sprintf(g.format, v))
				}
				cells = append(cells, strings.Join(parts, " / "))
			}
			w("- %s: %s\n", g.label, strings.Join(cells, " → "))
		}
		w("\n")
		w("What belongs to the driver stays flat per task: its start overhead (P1), its part of exit detection (P2), its CPU per stats sample (P3), ")
		w("its memory and goroutines per task (P4); with nobody asking it makes no pot call at all (P3 idle), whatever N. ")
		w("What grows is on pot's side:\n\n")
		if !r.realPot() {
			w("- potsim finds a jail's processes by reading all of /proc (`get-rss`, `info -r`, the clean-up after a command exits), so each of those calls gets slower ")
			w("with every process on the machine: pot's teardown in P2 and RecoverTask (one `pot info -r` each) grow with N. On FreeBSD the kernel knows a jail's ")
			w("processes, so this part of the growth is potsim's, not pot's.\n")
		}
		calls, _ := r.get(hi, "P3-steady", "p3_pot_calls_per_task_interval")
		if calls > 0.01 {
			w("- Stats here are one pot process per task per interval: %d tasks at %s are %d pot processes a second", hi, intervalText(r), hi)
			if c, ok := r.get(hi, "P3-steady", "p3_pot_cpu_ms_per_call"); ok {
				w(", each %.1f ms of CPU here", c)
			}
			if p, ok := r.get(hi, "P3-steady", "p3_pot_cpu_pct_of_machine"); ok {
				w(" (%.0f%% of the machine's CPUs at %d tasks)", p, hi)
			}
			w(".")
			if sm, ok := r.get(hi, "P3-steady", "p3_samples_per_task_interval"); ok && sm < 0.9 {
				w(" That is more than this machine has: pot falls behind and Nomad gets %.2f samples per task per interval instead of 1.", sm)
			}
			w(" The driver's own CPU per sample does not grow; the number of pot processes does, linearly.")
			if !r.realPot() {
				w(" (On FreeBSD the driver reads racct from the kernel instead and starts no process per sample.)")
			}
			w("\n")
		} else {
			w("- Stats cost no pot process: the driver reads racct from the kernel; its CPU per sample does not grow with N.\n")
		}
		w("- Starting N tasks at once (P4) is bounded by pot: every start is %s pot calls in a row and `prepare` holds pot's global lock, ", callsText(r))
		w("so the time until all run grows with N as their calls queue.\n")
		w("- Wall-clock figures measured while the machine is busy (see the load rows) are stretched by the wait for a CPU, for pot and driver alike.\n\n")
	}

	w("## Method\n\n")
	w("`make bench` runs `go test ./driver -run='^$' -bench=Driver -benchtime=1x` and then `go run ./cmd/benchreport`. ")
	w("The benchmarks drive the real plugin through Nomad's gRPC plugin interface, built as `plugins/drivers/testutils.DriverHarness` builds it ")
	w("(`drivers.NewDriverPlugin` over go-plugin's in-process gRPC connection; the harness itself needs a `*testing.T`), with Nomad's alloc dirs and task environment. ")
	w("For each number of tasks N, a fresh pot root is made and the image imported by one warm-up task; then N tasks are started together (P4) ")
	w("and keep running while P1, P2 and, last (its stats processes load the machine), P3 are measured next to them; after P2's recovery ")
	w("the tasks belong to the recovering driver. Every task runs `/bin/sh -c` that writes its pid into its `local/` ")
	w("folder and then `exec sleep`, so a running task costs nothing. Each scenario runs once; nothing is asserted about times ")
	w("(a benchmark fails only when a start or an exit does).\n\n")
	w("Time inside pot is measured exactly: the pot client calls an optional `Observer` (pot/client.go) with the wall time of every ")
	w("pot command it runs to completion; the benchmark installs it on the driver's client. Pot calls and spawned processes are counted by ")
	w("potsim itself (one line per invocation in `$POTSIM_CALL_LOG`, including the long-running `pot start`) and by the observer, never estimated. ")
	w("CPU time is the process's getrusage(RUSAGE_SELF): the driver, Nomad's gRPC plugin layer on both sides and the benchmark's goroutines, ")
	w("nothing subtracted; pot's processes (potsim, the jails) are other processes and not in it. ")
	w("potsim runs with `POTSIM_MOUNT=symlink` (mount-in makes symbolic links, so nothing reaches the host's mount table).\n\n")
	w("- **P1 start overhead**: %s tasks started one after the other next to the N running ones; for each, StartTask's wall time through the harness ", startsText(r))
	w("minus the time inside the pot commands it made (observer). Before each start the process is settled (GC, 20 ms) so that the harness's ")
	w("own work (alloc dir, in-process logmon, whose blocking fifo opens hold the runtime's Ps until sysmon takes them back) is not charged to the driver. ")
	w("Each task is stopped and destroyed after its measurement, outside it. Median and p99 (nearest rank).\n")
	w("- **P2 exit detection**: sample tasks, 20 at a time, next to the N running ones. The benchmark opens WaitTask, then kills the task's process ")
	w("(SIGTERM to the pid it wrote: T0) and takes the time the result arrives through the harness (T1). A helper process (the test binary again, ")
	w("waiting on a pidfd, or kqueue on FreeBSD) takes the moment `pot start` exits, so the time splits into pot's teardown (T0 to that exit), ")
	w("the pot calls the driver makes on the way (`pot last-run-stats`, observer) and the driver's own part (the rest). ")
	w("*Recovered*: the samples are started by one driver, which is then shut down and its gRPC connection killed; a fresh driver recovers ")
	w("every task (the N and the samples) from the handles, and the exits are measured on it. The first driver's goroutines still wait on ")
	w("their `pot start` children in this process (a real plugin process would be gone) and make one extra `pot last-run-stats` per exit, not counted.\n")
	w("- **P3 steady cost**: first %s with nobody asking (idle), then a TaskStats stream at %s on every task, as Nomad's client keeps one; ", "5 s", intervalText(r))
	w("after the first samples, a window of %s: driver CPU time (getrusage) and pot processes (potsim's count) per task per minute, ", windowText(r))
	w("and pot calls per task per stats interval from the spacing of each pot's calls (first to last in the window), which the window's edges do not bias; ")
	w("pot's own CPU is getrusage(RUSAGE_CHILDREN) over the window (the pot commands the driver waited for), divided by their number.\n")
	w("- **P4 density**: N tasks' alloc dirs are made first; then N StartTask calls at once; the time from the first call until every task's ")
	w("process has written its pid; failures = starts that failed or tasks that did not run within 2 minutes. RSS: the process's VmRSS (ps on FreeBSD) ")
	w("with all running — the whole test process: driver, gRPC plugin layer, harness; growth per task is the RSS after minus before the starts, divided by N. ")
	w("These tasks have no logmon (their output goes to /dev/null): in Nomad logmon is a process of its own, not the driver's memory.\n\n")

	if len(r.details) > 0 {
		w("## Pot processes by subcommand\n\n")
		for _, d := range r.details {
			w("- %s\n", d)
		}
		w("\n")
	}

	w("## Running it\n\n")
	w("```\nmake bench                       # potsim on Linux; writes docs/benchmarks.md\n")
	w("BENCH_TASKS=1,50,200 BENCH_STARTS=100 BENCH_EXITS=100 BENCH_WINDOW=20s BENCH_INTERVAL=1s make bench   # the defaults\n")
	w("# FreeBSD, real pot (as root, pot initialised): the same command, with an image that has /bin/sh and sleep\n")
	w("BENCH_IMAGE_URL=https://... BENCH_IMAGE=NAME BENCH_TAG=TAG make bench   # BENCH_POT=/usr/local/bin/pot by default\n```\n\n")
	w("## Raw output\n\n```\n")
	for _, l := range r.raw {
		w("%s\n", l)
	}
	w("```\n")
	return b.String()
}

func joinSizes(sizes []int) string {
	parts := make([]string, len(sizes))
	for i, n := range sizes {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ", ")
}

func tasks(n int) string { return fmt.Sprintf("%d task%s", n, plural(n)) }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func callsText(r *results) string {
	for _, n := range r.sizes() {
		if v, ok := r.get(n, "P4-density", "p4_pot_calls_per_task"); ok {
			return fmt.Sprintf("%.0f", v)
		}
	}
	return "several"
}

func startsText(r *results) string {
	for _, n := range r.sizes() {
		if v, ok := r.get(n, "P1-start", "p1_starts"); ok {
			return strconv.Itoa(int(v))
		}
	}
	return "BENCH_STARTS"
}

func windowText(r *results) string {
	for _, n := range r.sizes() {
		if v, ok := r.get(n, "P3-steady", "p3_window_s"); ok {
			return fmt.Sprintf("%.0f s", v)
		}
	}
	return "BENCH_WINDOW"
}

func intervalText(r *results) string {
	for _, n := range r.sizes() {
		if v, ok := r.get(n, "P3-steady", "p3_interval_s"); ok {
			return fmt.Sprintf("%g s", v)
		}
	}
	return "BENCH_INTERVAL"
}
