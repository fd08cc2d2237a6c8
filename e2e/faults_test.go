//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
)

// persistentNomad: Nomad as a non-dev server and client keeping its state
// in its data dir, so it can be restarted with its allocations.
func persistentNomad(o *cluster.Options) {
	o.NomadPersistent = true
	o.HaproxyConfig = ""
}

// tickJob writes a service job NAME of count tasks "tick", each a shell in
// a pot printing "tick N" every second, exiting 3 on SIGUSR1. No restart,
// no rescheduling: an exit is reported as it happened.
func tickJob(t *testing.T, c *cluster.Cluster, name string, count int) string {
	t.Helper()
	script := `trap 'echo got USR1, exiting 3; exit 3' USR1; i=0; while :; do i=$((i+1)); echo tick $i; sleep 1; done`
	hcl := fmt.Sprintf(`job %q {
  type = "service"
  group "g" {
    count = %d
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "tick" {
      driver = "pot"
      config {
        image        = %q
        pot          = %q
        tag          = %q
        network_mode = "inherit"
        command      = "/bin/sh"
        args         = ["-c", %q]
        exact_args   = true
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}
`, name, count, c.Images.URL, cluster.ImageName, cluster.ImageTag, script)
	path := filepath.Join(t.TempDir(), name+".nomad.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var tickRE = regexp.MustCompile(`tick (\d+)`)

// lastTick is the highest "tick N" in the task's stdout.
func lastTick(t *testing.T, c *cluster.Cluster, allocID string) int {
	t.Helper()
	out, err := c.Nomad(time.Minute, "alloc", "logs", allocID, "tick")
	if err != nil {
		return -1
	}
	n := -1
	for _, m := range tickRE.FindAllStringSubmatch(out.Stdout, -1) {
		if v, _ := strconv.Atoi(m[1]); v > n {
			n = v
		}
	}
	return n
}

// sortedPs is `pot ps -q`, sorted.
func sortedPs(t *testing.T, c *cluster.Cluster) []string {
	t.Helper()
	var out []string
	for n := range runningPots(t, c) {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// allocRestarts is the task's restart count from Nomad's API.
func allocRestarts(t *testing.T, c *cluster.Cluster, allocID string) (uint64, string, string) {
	t.Helper()
	var a struct {
		ClientStatus string
		TaskStates   map[string]struct {
			State    string
			Restarts uint64
		}
	}
	if err := c.NomadJSON("/v1/allocation/"+allocID, &a); err != nil {
		t.Fatalf("reading allocation %s: %v", allocID, err)
	}
	ts := a.TaskStates["tick"]
	return ts.Restarts, ts.State, a.ClientStatus
}

// checkRecovered: after a fault, every allocation of ids still runs on the
// client (its stats come from the driver's handle), none restarted, the
// same pots run, and the logs flow on.
func checkRecovered(t *testing.T, c *cluster.Cluster, job string, ids []string, pots []string, what string) {
	t.Helper()
	start := time.Now()
	// Client-local: the alloc runner and the driver's task handle are back.
	eventually(t, 2*time.Minute, "the client to serve stats of every task after "+what, func() (bool, string) {
		for _, id := range ids {
			var st map[string]any
			if err := c.NomadJSON("/v1/client/allocation/"+id+"/stats", &st); err != nil {
				return false, id[:8] + ": " + err.Error()
			}
		}
		return true, ""
	})
	t.Logf("%s: all %d tasks' stats served %s after Nomad was ready", what, len(ids), time.Since(start).Round(time.Millisecond))
	for _, id := range ids {
		r, state, cs := allocRestarts(t, c, id)
		if r != 0 || state != "running" || cs != "running" {
			t.Errorf("%s: alloc %s: restarts %d, task %s, client status %s", what, id[:8], r, state, cs)
		}
	}
	st := nomad(t, c, "alloc", "status", ids[0]).Stdout
	if totalRestarts(st) != 0 || !regexp.MustCompile(`Client Status\s+= running`).MatchString(st) {
		t.Errorf("%s: nomad alloc status %s:\n%s", what, ids[0], st)
	}
	if got := sortedPs(t, c); strings.Join(got, " ") != strings.Join(pots, " ") {
		t.Errorf("%s: pot ps -q changed:\nbefore %v\nafter  %v", what, pots, got)
	}
	// Logs still flow: a newer tick shows up in every task's log.
	before := map[string]int{}
	for _, id := range ids {
		before[id] = lastTick(t, c, id)
	}
	eventually(t, 30*time.Second, "newer ticks in every task's log after "+what, func() (bool, string) {
		for _, id := range ids {
			if n := lastTick(t, c, id); n <= before[id] {
				return false, fmt.Sprintf("alloc %s still at tick %d", id[:8], n)
			}
		}
		return true, ""
	})
}

// checkExit3: SIGUSR1 to the task of id makes it exit 3; nomad alloc status
// reports it.
func checkExit3(t *testing.T, c *cluster.Cluster, id, what string) {
	t.Helper()
	nomad(t, c, "alloc", "signal", "-s", "SIGUSR1", id, "tick")
	var st string
	eventually(t, 30*time.Second, "the signalled task to be reported with exit code 3 after "+what, func() (bool, string) {
		st = nomad(t, c, "alloc", "status", id).Stdout
		return strings.Contains(st, "Exit Code: 3") && regexp.MustCompile(`Client Status\s+= failed`).MatchString(st), st
	})
	if !strings.Contains(allocLogs(t, c, id, "tick", false), "got USR1, exiting 3") {
		t.Errorf("%s: the task's log does not show it got SIGUSR1", what)
	}
}

// startTicks runs tickJob with n tasks and returns their alloc ids and
// the running pots.
func startTicks(t *testing.T, c *cluster.Cluster, job string, n int) ([]string, []string) {
	t.Helper()
	t.Cleanup(func() { stopJob(t, c, job) })
	start := time.Now()
	nomad(t, c, "job", "run", "-detach", tickJob(t, c, job, n))
	allocs := waitRunning(t, c, job, n, slowerOnRealPot(3*time.Minute, 3))
	t.Logf("%d allocations of %s running after %s", n, job, time.Since(start).Round(time.Millisecond))
	var ids []string
	for _, a := range allocs {
		ids = append(ids, a.ID)
	}
	sort.Strings(ids)
	pots := potsOf(t, c, job)
	if len(pots) != n {
		t.Fatalf("pot ls lists %d pots of %s, want %d: %v", len(pots), job, n, pots)
	}
	ps := sortedPs(t, c)
	if len(ps) != n {
		t.Fatalf("pot ps -q lists %d pots, want %d: %v", len(ps), n, ps)
	}
	return ids, ps
}

// TestClientRestart: 20 tasks run; the Nomad agent (server and client,
// state on disk) is stopped with SIGINT and started again, then killed
// with SIGKILL and started again. Each time every task is recovered: still
// running, no restart, the same pots, logs flowing, and a task made to
// exit afterwards reports its exit code.
func TestClientRestart(t *testing.T) {
	c, _ := startCluster(t, persistentNomad)
	const job = "ticks"
	ids, pots := startTicks(t, c, job, 20)
	// Let the server persist the running state.
	time.Sleep(2 * time.Second)

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		what := "a Nomad restart after " + sig.String()
		plugins := c.PluginPids()
		t0 := time.Now()
		if err := c.StopNomad(sig); err != nil {
			t.Fatal(err)
		}
		left := c.PluginPids()
		t.Logf("%s: plugin pids before %v, after the agent exited %v", sig, plugins, left)
		if got := sortedPs(t, c); strings.Join(got, " ") != strings.Join(pots, " ") {
			t.Errorf("with Nomad down, pot ps -q changed:\nbefore %v\nafter  %v", pots, got)
		}
		if err := c.StartNomad(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: Nomad ready again %s after the stop", sig, time.Since(t0).Round(time.Millisecond))
		checkRecovered(t, c, job, ids, pots, what)
		t.Logf("%s: recovered %s after the stop", sig, time.Since(t0).Round(time.Millisecond))
		// An orphaned plugin of the killed agent would run on beside the
		// new one.
		for _, pid := range left {
			for _, now := range c.PluginPids() {
				if now == pid {
					t.Errorf("%s: the old plugin (pid %d) still runs beside the new agent's; killing it", sig, pid)
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if t.Failed() {
			return
		}
		// A task exits after the restart: its exit code is reported.
		exited := ids[0]
		checkExit3(t, c, exited, what)
		ids = ids[1:]
		var keep []string
		for _, p := range pots {
			if !strings.Contains(p, exited) {
				keep = append(keep, p)
			}
		}
		pots = keep
		eventually(t, 30*time.Second, "the exited task's pot to stop", func() (bool, string) {
			got := sortedPs(t, c)
			return strings.Join(got, " ") == strings.Join(pots, " "), strings.Join(got, " ")
		})
	}
}

// TestPluginKilled: with 20 tasks running the pot plugin is killed
// (SIGKILL); Nomad starts it again and it recovers every task.
func TestPluginKilled(t *testing.T) {
	c, _ := startCluster(t, func(o *cluster.Options) { o.HaproxyConfig = "" })
	const job = "ticks"
	ids, pots := startTicks(t, c, job, 20)
	old := c.PluginPids()
	if len(old) != 1 {
		t.Fatalf("want one pot plugin process, found %v", old)
	}
	t0 := time.Now()
	t.Logf("killing the pot plugin, pid %d", old[0])
	if err := syscall.Kill(old[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "Nomad to start a new pot plugin", func() (bool, string) {
		now := c.PluginPids()
		return len(now) == 1 && now[0] != old[0], fmt.Sprint(now)
	})
	t.Logf("new plugin pid %v after %s", c.PluginPids(), time.Since(t0).Round(time.Millisecond))
	checkRecovered(t, c, job, ids, pots, "the plugin was killed")
	t.Logf("recovered %s after the kill", time.Since(t0).Round(time.Millisecond))
	if t.Failed() {
		return
	}
	checkExit3(t, c, ids[0], "the plugin was killed")
}

// TestFiftyAtOnce: a job of 50 tasks starts all of them, in 50 distinct
// pots, and leaves nothing once stopped.
func TestFiftyAtOnce(t *testing.T) {
	c, _ := startCluster(t, func(o *cluster.Options) { o.HaproxyConfig = "" })
	const job = "fifty"
	_, ps := startTicks(t, c, job, 50)
	seen := map[string]bool{}
	for _, p := range ps {
		seen[p] = true
	}
	if len(seen) != 50 {
		t.Errorf("%d distinct pots, want 50", len(seen))
	}
	t0 := time.Now()
	nomad(t, c, "job", "stop", "-detach", job)
	waitNoPots(t, c, job, slowerOnRealPot(2*time.Minute, 3))
	eventually(t, time.Minute, "pot ps -q to be empty", func() (bool, string) {
		got := sortedPs(t, c)
		return len(got) == 0, strings.Join(got, " ")
	})
	t.Logf("50 pots gone %s after nomad job stop", time.Since(t0).Round(time.Millisecond))
}

// TestPluginKilledAfterPrepare: the plugin is killed (SIGKILL) right after
// `pot prepare` made the task's pot, in its first `pot set-env` (held
// there by the cluster's pot wrapper; the next pot call after prepare). Nomad starts the plugin again and
// calls StartTask again with the same task ID: it must succeed — the pot
// the first start left is removed first — though the job allows no
// restart and no reschedule (before, the retry failed "A pot with name ...
// already exists", which Nomad takes as unrecoverable).
func TestPluginKilledAfterPrepare(t *testing.T) {
	c, _ := startCluster(t, func(o *cluster.Options) {
		o.HaproxyConfig = ""
		o.HoldPot = "set-env"
	})
	const job = "retried"
	t.Cleanup(func() { stopJob(t, c, job) })
	nomad(t, c, "job", "run", "-detach", tickJob(t, c, job, 1))
	eventually(t, slowerOnRealPot(2*time.Minute, 3), "the plugin's first pot set-env to be held", func() (bool, string) {
		_, err := os.Stat(c.HeldFile)
		return err == nil, ""
	})
	held, _ := os.ReadFile(c.HeldFile)
	left := potsOf(t, c, job)
	if len(left) != 1 {
		t.Fatalf("after prepare, before the kill: pots of %s %v, want the one prepare made", job, left)
	}
	old := c.PluginPids()
	if len(old) != 1 {
		t.Fatalf("want one pot plugin process, found %v", old)
	}
	t.Logf("held: pot %s; killing the pot plugin, pid %d", strings.TrimSpace(string(held)), old[0])
	t0 := time.Now()
	if err := syscall.Kill(old[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a := waitRunning(t, c, job, 1, slowerOnRealPot(2*time.Minute, 3))[0]
	t.Logf("the task runs again %s after the kill", time.Since(t0).Round(time.Millisecond))
	if pots := potsOf(t, c, job); len(pots) != 1 {
		t.Errorf("pots of %s after the retried start: %v, want one", job, pots)
	}
	ps := runningPots(t, c)
	if len(ps) != 1 {
		t.Errorf("pot ps -q after the retried start: %v, want the task's pot only", keysOf(ps))
	}
	waitLog(t, c, a.ID, "tick", false, "tick 2", 30*time.Second)
	r, state, cs := allocRestarts(t, c, a.ID)
	t.Logf("alloc %s: restarts %d, task %s, client status %s", a.ID[:8], r, state, cs)
	stopJob(t, c, job)
	waitNoPots(t, c, job, slowerOnRealPot(time.Minute, 3))
}

// TestAgentKilledDuringStop: the Nomad agent is killed (SIGKILL) 2 s into
// the stop of a task that ignores SIGTERM (kill_timeout 5 s); the plugin
// outlives it and kills the jail at kill_timeout while the agent is down;
// then the agent is started again. RecoverTask finds the pot not running
// and Nomad destroys the task: its pot must be gone within 5 s of the
// agent being back (it was left for the orphan sweep, a minute or more).
func TestAgentKilledDuringStop(t *testing.T) {
	c, root := startCluster(t, persistentNomad)
	const job = "kill-timeout"
	t.Cleanup(func() { stopJob(t, c, job) })
	args := append([]string{"job", "run", "-detach"}, imageVars(c)...)
	nomad(t, c, append(args, jobFile(root, "kill-timeout.nomad.hcl"))...)
	a := waitRunning(t, c, job, 1, slowerOnRealPot(time.Minute, 3))[0]
	waitLog(t, c, a.ID, "stubborn", false, "started; SIGTERM will be ignored", 30*time.Second)
	pots := potsOf(t, c, job)
	if len(pots) != 1 {
		t.Fatalf("pots of %s: %v, want one", job, pots)
	}
	name := pots[0]
	// Let the server persist the running state.
	time.Sleep(2 * time.Second)

	nomad(t, c, "job", "stop", "-detach", job)
	t0 := time.Now()
	since := func() time.Duration { return time.Since(t0).Round(time.Millisecond) }
	time.Sleep(2*time.Second - time.Since(t0))
	if err := c.StopNomad(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("agent killed %s after nomad job stop; plugin pids left: %v", since(), c.PluginPids())
	jailRuns := func() bool {
		out, err := c.Pot("ps", "-q")
		return err != nil || slices.Contains(strings.Fields(out.Stdout), name)
	}
	// The plugin's StopTask goes on without the agent: the jail ends at
	// kill_timeout.
	eventually(t, slowerOnRealPot(15*time.Second, 2), "the jail to end with the agent down", func() (bool, string) {
		return !jailRuns(), ""
	})
	t.Logf("jail ended %s after the stop, the agent down", since())
	if err := c.StartNomad(context.Background()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("agent ready again %s after the stop", since())
	var gone time.Duration
	eventually(t, slowerOnRealPot(2*time.Minute, 2), "the pot of the stopped task to be destroyed", func() (bool, string) {
		names, err := c.Pots()
		if err != nil || slices.Contains(names, name) {
			return false, fmt.Sprint(names, err)
		}
		gone = time.Since(back)
		return true, ""
	})
	t.Logf("pot gone %s after the stop, %s after the agent was back", since(), gone.Round(time.Millisecond))
	if gone > 5*time.Second {
		t.Errorf("pot %s was destroyed %s after the agent was back, want at most 5 s", name, gone.Round(time.Millisecond))
	}
	if ps := runningPots(t, c); len(ps) != 0 {
		t.Errorf("pot ps -q after the stop: %v", keysOf(ps))
	}
}
