//go:build e2e

package e2e

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
	"github.com/bsdpot/nomad-pot-driver/internal/recorder"
)

// testLimits: example-jobs/limits.nomad.hcl on a cluster whose plugin calls
// the recording stand-ins of rctl and cpuset. With memory oversubscription
// on, the task with cores = 1 and memory_max gets one `rctl -a` with the
// memory reservation (devctl), the hard limit (deny, log), pcpu and the
// job's extra rules, and `cpuset -l CORE -j JID` on the core Nomad
// reserved; the capped task its pcpu share; `nomad alloc status -stats`
// shows memory and CPU; after `nomad job stop` each jail's rules are removed
// with `rctl -r jail:POT`.
func testLimits(t *testing.T, c *cluster.Cluster, root string) {
	const job = "limits"
	t.Cleanup(func() { stopJob(t, c, job) })
	if c.RecorderLog == "" {
		t.Fatal("the cluster runs without the rctl/cpuset recorder")
	}

	// Without oversubscription Nomad drops memory_max.
	nomad(t, c, "operator", "scheduler", "set-config", "-memory-oversubscription=true")
	if cfg := nomad(t, c, "operator", "scheduler", "get-config").Stdout; !regexp.MustCompile(`Memory Oversubscription\s+= true`).MatchString(cfg) {
		t.Fatalf("nomad operator scheduler get-config does not show memory oversubscription on:\n%s", cfg)
	}

	args := append([]string{"job", "run", "-detach"}, imageVars(c)...)
	nomad(t, c, append(args, jobFile(root, "limits.nomad.hcl"))...)
	a := waitRunning(t, c, job, 1, 60*time.Second)[0]
	pinned, capped := potOfTask(t, c, job, "pinned", a.ID), potOfTask(t, c, job, "capped", a.ID)

	// The core Nomad reserved for the pinned task, the node's MHz per core.
	var full struct {
		AllocatedResources struct {
			Tasks map[string]struct {
				Cpu struct {
					CpuShares     int64
					ReservedCores []int
				}
				Memory struct{ MemoryMB, MemoryMaxMB int64 }
			}
		}
		NodeID string
	}
	if err := c.NomadJSON("/v1/allocation/"+a.ID, &full); err != nil {
		t.Fatal(err)
	}
	pin := full.AllocatedResources.Tasks["pinned"]
	if len(pin.Cpu.ReservedCores) != 1 {
		t.Fatalf("the pinned task has reserved cores %v, want one", pin.Cpu.ReservedCores)
	}
	if pin.Memory.MemoryMaxMB != 128 {
		t.Fatalf("Nomad allocated the pinned task memory_max %d MB, want 128 (memory oversubscription on)", pin.Memory.MemoryMaxMB)
	}
	core := pin.Cpu.ReservedCores[0]
	var node struct{ Attributes map[string]string }
	if err := c.NomadJSON("/v1/node/"+full.NodeID, &node); err != nil {
		t.Fatal(err)
	}
	usable, _ := strconv.ParseFloat(node.Attributes["cpu.usablecompute"], 64)
	cores, _ := strconv.ParseFloat(node.Attributes["cpu.numcores"], 64)
	if usable <= 0 || cores <= 0 {
		t.Fatalf("node attributes cpu.usablecompute=%q cpu.numcores=%q", node.Attributes["cpu.usablecompute"], node.Attributes["cpu.numcores"])
	}
	// The driver divides the node's MHz (Nomad's share / PercentTicks,
	// a float) by the CPUs and truncates: allow that to land one below.
	mhzPerCore := math.Floor(usable / cores)
	cappedPcpu := map[string]bool{}
	for _, m := range []float64{mhzPerCore, mhzPerCore - 1} {
		cappedPcpu[fmt.Sprintf("pcpu:deny=%d", int(math.Ceil(250*100/m)))] = true
	}
	t.Logf("pinned pot %s on core %d; capped pot %s; %v MHz per core: %v for cpu = 250", pinned, core, capped, mhzPerCore, keysOf(cappedPcpu))

	// What the driver asked of rctl and cpuset.
	rule := func(pot, r string) string { return "jail:" + pot + ":" + r }
	wantRules := map[string][]string{
		pinned: {
			rule(pinned, "memoryuse:devctl=67108864"), // memory = 64: the reservation
			rule(pinned, "memoryuse:deny=134217728"),  // memory_max = 128
			rule(pinned, "memoryuse:log=134217728"),
			rule(pinned, "pcpu:deny=100"), // cpu_hard_limit on one core
			rule(pinned, "maxproc:deny=64"),
			rule(pinned, "openfiles:deny=1024"),
		},
		capped: {
			rule(capped, "memoryuse:deny=67108864"),
			rule(capped, "memoryuse:log=67108864"),
			"pcpu", // checked against cappedPcpu
		},
	}
	jid := potJID(t, c, pinned)
	var calls []recorder.Call
	eventually(t, 30*time.Second, "the recorder to show cpuset for the pinned jail", func() (bool, string) {
		calls = recordedFor(t, c, pinned, capped)
		for _, cl := range calls {
			if cl.Tool == "cpuset" {
				return true, ""
			}
		}
		return false, describeCalls(calls)
	})
	for pot, want := range wantRules {
		var adds []recorder.Call
		for _, cl := range calls {
			if cl.Tool == "rctl" && len(cl.Args) > 0 && cl.Args[0] == "-a" && strings.Contains(strings.Join(cl.Args, " "), "jail:"+pot+":") {
				adds = append(adds, cl)
			}
		}
		if len(adds) != 1 {
			t.Errorf("want one `rctl -a` for %s, recorded:\n%s", pot, describeCalls(calls))
			continue
		}
		got := append([]string(nil), adds[0].Args[1:]...)
		for i, r := range got {
			if pot == capped && strings.HasPrefix(r, rule(capped, "pcpu:")) && cappedPcpu[strings.TrimPrefix(r, "jail:"+capped+":")] {
				got[i] = "pcpu"
			}
		}
		if !sameStrings(got, want) {
			t.Errorf("recorded %q\nwant rctl -a with the rules %q (pcpu of capped: one of %v)", adds[0].Line(), want, keysOf(cappedPcpu))
		}
	}
	wantCpuset := []string{"-l", strconv.Itoa(core), "-j", strconv.Itoa(jid)}
	var cpusets []string
	for _, cl := range calls {
		if cl.Tool == "cpuset" {
			cpusets = append(cpusets, cl.Line())
		}
	}
	if want := "cpuset " + strings.Join(wantCpuset, " "); len(cpusets) != 1 || cpusets[0] != want {
		t.Errorf("recorded cpuset calls %q, want exactly %q (the reserved core, the pinned jail's id)", cpusets, want)
	}

	// nomad alloc status -stats: memory and CPU of each task, the pinned
	// task's core and memory_max.
	var st string
	eventually(t, 30*time.Second, "nomad alloc status -stats to show non-zero memory and CPU for both tasks", func() (bool, string) {
		st = nomad(t, c, "alloc", "status", "-stats", a.ID).Stdout
		for _, task := range []string{"pinned", "capped"} {
			rss, pct, ok := taskStats(st, task)
			if !ok || rss == 0 || pct == 0 {
				return false, fmt.Sprintf("task %s: RSS %v, CPU %v%%:\n%s", task, rss, pct, st)
			}
		}
		return true, ""
	})
	for _, task := range []string{"pinned", "capped"} {
		rss, pct, _ := taskStats(st, task)
		t.Logf("nomad alloc status -stats: %s RSS %.1f MiB, CPU %.2f%%", task, rss, pct)
	}
	for _, re := range []string{`CPU \(1 cores\)`, `Max: 128 MiB`} {
		if !regexp.MustCompile(re).MatchString(st) {
			t.Errorf("nomad alloc status -stats does not match %q:\n%s", re, st)
		}
	}

	// nomad job stop: the pots are destroyed and their rules removed.
	nomad(t, c, "job", "stop", "-detach", job)
	waitNoPots(t, c, job, 60*time.Second)
	calls = recordedFor(t, c, pinned, capped)
	for _, pot := range []string{pinned, capped} {
		want := "rctl -r jail:" + pot
		n := 0
		for _, cl := range calls {
			if cl.Line() == want {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no %q recorded after nomad job stop:\n%s", want, describeCalls(calls))
		}
	}
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// potOfTask is the pot of one task of an allocation.
func potOfTask(t *testing.T, c *cluster.Cluster, job, task, allocID string) string {
	t.Helper()
	prefix := strings.ReplaceAll(job, ".", "_") + "_" + task + "_" + allocID + "_"
	for _, n := range potsOf(t, c, job) {
		if strings.HasPrefix(n, prefix) {
			return n
		}
	}
	t.Fatalf("no pot %s* in pot ls", prefix)
	return ""
}

// potJID is the pot's jail id (_POT_JID of `pot info -E`).
func potJID(t *testing.T, c *cluster.Cluster, potName string) int {
	t.Helper()
	out, err := c.Pot("info", "-E", "-p", potName)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`_POT_JID=["']?(\d+)`).FindStringSubmatch(out.Stdout)
	if m == nil {
		t.Fatalf("pot info -E -p %s shows no _POT_JID:\n%s", potName, out.Stdout)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// recordedFor reads the recorder's log: the calls naming one of the pots
// (rctl) and every cpuset call with a jail id of theirs (all cpuset calls,
// as no other job has cores).
func recordedFor(t *testing.T, c *cluster.Cluster, pots ...string) []recorder.Call {
	t.Helper()
	all, err := recorder.Read(c.RecorderLog)
	if err != nil {
		t.Fatal(err)
	}
	var out []recorder.Call
	for _, cl := range all {
		line := cl.Line()
		keep := cl.Tool == "cpuset"
		for _, p := range pots {
			if strings.Contains(line, "jail:"+p+":") || strings.HasSuffix(line, "jail:"+p) {
				keep = true
			}
		}
		if keep {
			out = append(out, cl)
		}
	}
	return out
}

func describeCalls(calls []recorder.Call) string {
	var lines []string
	for _, cl := range calls {
		lines = append(lines, "  "+cl.Line())
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// taskStats reads a task's section of `nomad alloc status -stats`: RSS in
// MiB (Memory Stats) and CPU percent (CPU Stats).
func taskStats(status, task string) (rssMiB, cpuPercent float64, ok bool) {
	i := strings.Index(status, `Task "`+task+`" is`)
	if i < 0 {
		return 0, 0, false
	}
	sec := status[i+1:]
	if j := strings.Index(sec, `Task "`); j >= 0 {
		sec = sec[:j]
	}
	mem := regexp.MustCompile(`Memory Stats\s*\n\s*RSS\s+Swap\s*\n\s*([\d.]+) (B|KiB|MiB|GiB)`).FindStringSubmatch(sec)
	cpu := regexp.MustCompile(`CPU Stats\s*\n\s*Percent[^\n]*\n\s*([\d.]+)%`).FindStringSubmatch(sec)
	if mem == nil || cpu == nil {
		return 0, 0, false
	}
	v, _ := strconv.ParseFloat(mem[1], 64)
	switch mem[2] {
	case "B":
		v /= 1 << 20
	case "KiB":
		v /= 1 << 10
	case "GiB":
		v *= 1 << 10
	}
	pct, _ := strconv.ParseFloat(cpu[1], 64)
	return v, pct, true
}
