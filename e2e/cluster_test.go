//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
)

// clusterReportEnv names a file the multi-node scenarios write their
// figures to, as markdown (make e2e-cluster: docs/cluster.md). Without it
// they are in the test log only.
const clusterReportEnv = "CLUSTER_REPORT"

// webInstances is how many instances of example-jobs/web.nomad.hcl the
// cluster scenarios run over the three clients.
const webInstances = 6

// loadRate is the request rate of the load loop through haproxy.
const loadRate = 20

// TestCluster runs the multi-node scenarios on one Nomad server and three
// Nomad clients (each its own address, Consul agent and pot root), haproxy
// in front of example-jobs/web.nomad.hcl with six instances, from Consul
// DNS. In order, on the same cluster:
//
//   - spread: the six instances are spread two per client, each client's
//     pots are its allocations';
//   - drain: `nomad node drain -enable` of a client under a load of 20
//     requests/s through haproxy: its allocations move, no request fails
//     (shutdown_delay and Consul checks), no pot is left on it;
//   - rolling update (max_parallel 1, health checks) under the same load:
//     no request fails;
//   - crash: a client's agents killed with SIGKILL (its jails keep
//     running): Nomad marks it down and places its allocations on the
//     others; when it comes back, the driver removes its pots and nothing
//     runs twice.
//
// The figures (failed requests, times, pots left behind) go to the test
// log and, with CLUSTER_REPORT set, to that file.
func TestCluster(t *testing.T) {
	if os.Getenv(realPotEnv) != "" {
		t.Skip("the multi-node cluster runs on potsim (each client its own potsim root); pot's scripts on the emulation are one host")
	}
	c, root := startCluster(t, func(o *cluster.Options) { o.Clients = 3 })
	if len(c.Nodes) != 3 {
		t.Fatalf("the cluster has %d clients, want 3", len(c.Nodes))
	}
	rep := &clusterReport{section: "TestCluster", title: "Spread, drain, rolling update, a lost client", started: time.Now()}
	t.Cleanup(func() { rep.write(t) })
	const job = "web"
	t.Cleanup(func() { stopJob(t, c, job) })

	runWeb := func(extra ...string) cluster.Output {
		args := append([]string{"job", "run"}, imageVars(c)...)
		args = append(args,
			"-var", "command="+c.Webserver,
			"-var", "port=8080",
			"-var", fmt.Sprintf("instances=%d", webInstances))
		args = append(args, extra...)
		return nomad(t, c, append(args, jobFile(root, "web.nomad.hcl"))...)
	}

	ok := t.Run("spread", func(t *testing.T) {
		start := time.Now()
		out := runWeb("-var", `args=["-port","8080"]`)
		if !strings.Contains(out.Stdout, "Deployment completed successfully") {
			t.Fatalf("nomad job run did not report a successful deployment:\n%s", out)
		}
		spread := checkPlacement(t, c, job, webInstances)
		rep.add("spread", "6 instances of web.nomad.hcl placed and healthy (nomad job run)", time.Since(start).Round(100*time.Millisecond).String())
		rep.add("spread", "instances per client", spread)
		for _, n := range c.Nodes {
			if got := strings.Count(spread, n.Name+"=2"); got != 1 {
				t.Errorf("the instances are not spread two per client: %s", spread)
				break
			}
		}
		waitHaproxyBackends(t, c, webInstances)
	})
	if !ok {
		t.FailNow()
	}

	t.Run("drain", func(t *testing.T) {
		drained := c.Nodes[0]
		id, err := drained.ID()
		if err != nil {
			t.Fatal(err)
		}
		load := startLoad(t, c.HaproxyAddr)
		time.Sleep(2 * time.Second)
		start := time.Now()
		nomad(t, c, "node", "drain", "-enable", "-yes", "-detach", "-deadline", "2m", id)
		eventually(t, 3*time.Minute, "the drain of "+drained.Name+" to complete with every instance running elsewhere", func() (bool, string) {
			var node struct {
				DrainStrategy *struct{}
			}
			if err := c.NomadJSON("/v1/node/"+id, &node); err != nil {
				return false, err.Error()
			}
			r := running(jobAllocs(t, c, job))
			on := 0
			for _, a := range r {
				if a.NodeID == id {
					on++
				}
			}
			return node.DrainStrategy == nil && on == 0 && len(r) == webInstances,
				fmt.Sprintf("drain strategy still set: %v; %d running, %d of them on %s", node.DrainStrategy != nil, len(r), on, drained.Name)
		})
		took := time.Since(start)
		time.Sleep(5 * time.Second) // haproxy follows the last deregistration
		res := load.stop()
		left, err := drained.TaskPots()
		if err != nil {
			t.Fatal(err)
		}
		rep.add("drain", "drain of one client (2 instances), enable to every instance running elsewhere", took.Round(100*time.Millisecond).String())
		rep.add("drain", fmt.Sprintf("requests through haproxy during the drain (%d/s)", loadRate), res.String())
		rep.add("drain", "pots left on the drained client", fmt.Sprint(len(left)))
		rep.add("drain", "instances per client after", checkPlacement(t, c, job, webInstances))
		if res.failed > 0 {
			t.Errorf("%d of %d requests failed during the drain: %s", res.failed, res.sent, res.failures())
		}
		if len(left) > 0 {
			t.Errorf("pots left on the drained client %s: %v", drained.Name, left)
		}
		nomad(t, c, "node", "eligibility", "-enable", id)
	})

	t.Run("rolling update", func(t *testing.T) {
		load := startLoad(t, c.HaproxyAddr)
		time.Sleep(2 * time.Second)
		start := time.Now()
		// The arguments change: every instance is replaced, one at a time.
		out := runWeb("-var", `args=["-port","8080","-g","update 2"]`)
		took := time.Since(start)
		if !strings.Contains(out.Stdout, "Deployment completed successfully") {
			t.Fatalf("nomad job run did not report a successful deployment:\n%s", out)
		}
		time.Sleep(5 * time.Second)
		res := load.stop()
		rep.add("rolling update", "update of 6 instances (max_parallel 1, min_healthy_time 5s), nomad job run to deployment complete", took.Round(100*time.Millisecond).String())
		rep.add("rolling update", fmt.Sprintf("requests through haproxy during the update (%d/s)", loadRate), res.String())
		rep.add("rolling update", "instances per client after", checkPlacement(t, c, job, webInstances))
		if res.failed > 0 {
			t.Errorf("%d of %d requests failed during the rolling update: %s", res.failed, res.sent, res.failures())
		}
		for _, a := range running(jobAllocs(t, c, job)) {
			if logs := allocLogs(t, c, a.ID, "web", false); !strings.Contains(logs, `"update 2"`) {
				t.Errorf("allocation %s runs, but not the updated arguments:\n%s", a.ID, logs)
			}
		}
	})

	t.Run("crash", func(t *testing.T) {
		// The client with the most instances.
		byNode := map[string]int{}
		for _, a := range running(jobAllocs(t, c, job)) {
			byNode[a.NodeName]++
		}
		var lost *cluster.Node
		for _, n := range c.Nodes {
			if lost == nil || byNode[n.Name] > byNode[lost.Name] {
				lost = n
			}
		}
		id, err := lost.ID()
		if err != nil {
			t.Fatal(err)
		}
		orphans, err := lost.TaskPots()
		if err != nil {
			t.Fatal(err)
		}
		load := startLoad(t, c.HaproxyAddr)
		time.Sleep(2 * time.Second)
		start := time.Now()
		if err := lost.Crash(); err != nil {
			t.Fatal(err)
		}
		// Its jails keep running: pot ps on it still lists their pots.
		time.Sleep(time.Second)
		ps, err := lost.Pot("ps", "-q")
		if err != nil {
			t.Fatal(err)
		}
		if still := intersect(orphans, strings.Fields(ps.Stdout)); len(still) != len(orphans) || len(orphans) == 0 {
			t.Fatalf("after the crash, pot ps on %s shows %v of its pots %v", lost.Name, still, orphans)
		}
		var down time.Duration
		eventually(t, 3*time.Minute, "Nomad to mark "+lost.Name+" down and every instance to run on the others", func() (bool, string) {
			ni, err := lost.Info()
			if err != nil {
				return false, err.Error()
			}
			if ni.Status == "down" && down == 0 {
				down = time.Since(start)
			}
			r := running(jobAllocs(t, c, job))
			elsewhere := 0
			for _, a := range r {
				if a.NodeID != id {
					elsewhere++
				}
			}
			return ni.Status == "down" && elsewhere == webInstances, fmt.Sprintf("node %s; %d instances running on the other clients", ni.Status, elsewhere)
		})
		capacity := time.Since(start)
		time.Sleep(5 * time.Second)
		res := load.stop()
		rep.add("crash", fmt.Sprintf("client with %d instances: Nomad client, pot plugin and Consul agent killed (SIGKILL), to node down", byNode[lost.Name]), down.Round(100*time.Millisecond).String())
		rep.add("crash", "to every instance running on the other clients (full capacity)", capacity.Round(100*time.Millisecond).String())
		rep.add("crash", fmt.Sprintf("requests through haproxy meanwhile (%d/s; not asserted: the lost client's jails keep serving)", loadRate), res.String())

		// Back: its allocations are lost, the driver removes their pots.
		back := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := lost.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, "the pots of the lost allocations to be removed from "+lost.Name, func() (bool, string) {
			left, err := lost.TaskPots()
			if err != nil {
				return false, err.Error()
			}
			return len(intersect(left, orphans)) == 0, fmt.Sprintf("left: %v", intersect(left, orphans))
		})
		rep.add("crash", "client back: to its pots removed", time.Since(back).Round(100*time.Millisecond).String())
		placement := checkPlacement(t, c, job, webInstances)
		rep.add("crash", "instances per client after; pots left behind", placement+"; 0")
	})
}

// checkPlacement checks that n allocations of job run, each with exactly
// its pot on its client and no other task pot anywhere (nothing runs
// twice, nothing is left behind), and says how many run per client.
func checkPlacement(t *testing.T, c *cluster.Cluster, job string, n int) string {
	t.Helper()
	var r []alloc
	eventually(t, time.Minute, fmt.Sprintf("%d allocations of %s to run, one pot each on its client, no other pot", n, job), func() (bool, string) {
		r = running(jobAllocs(t, c, job))
		want := map[string]string{} // alloc ID -> node name
		for _, a := range r {
			want[a.ID] = a.NodeName
		}
		var problems []string
		seen := map[string]bool{}
		for _, node := range c.Nodes {
			pots, err := node.TaskPots()
			if err != nil {
				return false, err.Error()
			}
			for _, p := range pots {
				id := cluster.TaskPotAlloc(p)
				if want[id] != node.Name {
					problems = append(problems, fmt.Sprintf("pot %s on %s is no running allocation of it", p, node.Name))
					continue
				}
				if seen[id] {
					problems = append(problems, "allocation "+id+" has two pots")
				}
				seen[id] = true
			}
		}
		for id, node := range want {
			if !seen[id] {
				problems = append(problems, fmt.Sprintf("allocation %s runs on %s without a pot there", id, node))
			}
		}
		return len(r) == n && len(problems) == 0, fmt.Sprintf("%d running; %s", len(r), strings.Join(problems, "; "))
	})
	per := map[string]int{}
	for _, a := range r {
		per[a.NodeName]++
	}
	var parts []string
	for _, node := range c.Nodes {
		parts = append(parts, fmt.Sprintf("%s=%d", node.Name, per[node.Name]))
	}
	return strings.Join(parts, " ")
}

func intersect(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if in[s] {
			out = append(out, s)
		}
	}
	return out
}

// waitHaproxyBackends waits until requests through haproxy reach n
// different allocations.
func waitHaproxyBackends(t *testing.T, c *cluster.Cluster, n int) {
	t.Helper()
	seen := map[string]bool{}
	eventually(t, time.Minute, fmt.Sprintf("haproxy to send requests to %d instances", n), func() (bool, string) {
		for i := 0; i < 3*n; i++ {
			body, err := curl("http://" + c.HaproxyAddr + "/")
			if err == nil {
				seen[strings.TrimSpace(body)] = true
			}
		}
		return len(seen) >= n, fmt.Sprintf("%d answered", len(seen))
	})
}

// load is a loop of GET requests through haproxy at loadRate per second.
type load struct {
	cancel context.CancelFunc
	done   chan struct{}
	res    loadResult
}

type loadResult struct {
	sent, failed int
	errs         map[string]int // failure -> count
	first, last  time.Time      // of the failures
}

func (r loadResult) String() string {
	return fmt.Sprintf("%d sent, %d failed", r.sent, r.failed)
}

func (r loadResult) failures() string {
	var parts []string
	for e, n := range r.errs {
		parts = append(parts, fmt.Sprintf("%dx %s", n, e))
	}
	sort.Strings(parts)
	return fmt.Sprintf("between %s and %s: %s", r.first.Format("15:04:05.000"), r.last.Format("15:04:05.000"), strings.Join(parts, "; "))
}

// startLoad starts the loop; stop ends it and returns what it counted. A
// request fails on a transport error, a status other than 200 or after 2 s.
func startLoad(t *testing.T, addr string) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, done: make(chan struct{})}
	l.res.errs = map[string]int{}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	go func() {
		defer close(l.done)
		tick := time.NewTicker(time.Second / loadRate)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				wg.Wait()
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				fail := ""
				resp, err := client.Get("http://" + addr + "/")
				if err != nil {
					fail = err.Error()
				} else {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "hello from alloc") {
						fail = resp.Status
					}
				}
				mu.Lock()
				defer mu.Unlock()
				l.res.sent++
				if fail != "" {
					now := time.Now()
					if l.res.failed == 0 {
						l.res.first = now
					}
					l.res.failed++
					l.res.last = now
					l.res.errs[fail]++
				}
			}()
		}
	}()
	t.Cleanup(cancel)
	return l
}

func (l *load) stop() loadResult {
	l.cancel()
	<-l.done
	return l.res
}

// clusterReport collects the figures of one test (section) of the
// multi-node scenarios.
type clusterReport struct {
	section string
	title   string
	started time.Time
	mu      sync.Mutex
	rows    [][3]string
}

func (r *clusterReport) add(scenario, what, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, [3]string{scenario, what, value})
}

// clusterReportHead starts $CLUSTER_REPORT; each test's figures are a
// section of their own, replaced by its next run.
const clusterReportHead = `# A cluster: figures of the multi-node scenarios

Written by ` + "`make e2e-cluster`" + ` (e2e/cluster_test.go, e2e/migration_test.go) on one
machine: one Nomad server and Nomad clients that are each a node of their own
(their address, Consul agent and potsim root; for the volume move their own
emulated ZFS pool). The figures are what the run measured. Asserted: no failed
request during the drain and the rolling update, no pot left behind, nothing
running twice, the moved volume's bytes.

Reading them: the Nomad server runs with its defaults, so a client that stops
heartbeating is marked down after its heartbeat TTL (at least
min_heartbeat_ttl, 10 s, plus a random stagger) and heartbeat_grace (10 s); its
allocations are replaced at once then. A rolling update replaces one instance at
a time: deregistration, shutdown_delay (5 s), the new instance's start, its
Consul check passing (every 5 s) and min_healthy_time (5 s). Potsim's pot
commands take milliseconds; on FreeBSD each prepare, start and stop adds pot's
own seconds.
`

// write logs the figures and, if the test passed and $CLUSTER_REPORT is
// set, writes them as the test's section of that file.
func (r *clusterReport) write(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- %s -->\n## %s (%s)\n\n| scenario | what | measured |\n|---|---|---|\n", r.section, r.title, r.section)
	for _, row := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", row[0], row[1], row[2])
	}
	fmt.Fprintf(&b, "\nRun: %s, %s/%s, %d CPUs, %s; the test took %s.\n<!-- /%s -->\n",
		r.started.UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), goVersion(), time.Since(r.started).Round(time.Second), r.section)
	t.Logf("figures:\n%s", b.String())
	path := os.Getenv(clusterReportEnv)
	if path == "" || t.Failed() {
		return
	}
	old, _ := os.ReadFile(path)
	doc := string(old)
	if !strings.HasPrefix(doc, clusterReportHead) {
		doc = clusterReportHead
	}
	begin, end := "<!-- "+r.section+" -->", "<!-- /"+r.section+" -->\n"
	if i := strings.Index(doc, begin); i >= 0 {
		if j := strings.Index(doc[i:], end); j >= 0 {
			doc = doc[:i] + b.String() + doc[i+j+len(end):]
		}
	} else {
		doc += "\n" + b.String()
	}
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Errorf("writing %s: %v", path, err)
	}
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}
