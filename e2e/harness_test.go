//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
)

// startCluster starts Consul, Nomad with the pot driver on potsim, the image
// server and haproxy (example-jobs/haproxy.cfg) for the test, and stops all
// of it — every process by its pid — when the test ends, failed or not.
//
// With E2E_POT_BIN the driver calls that pot instead — pot's own scripts on
// the FreeBSD emulation (make test-realpot), initialised, with the image
// pot export made in E2E_IMAGE_DIR and e2e/webserver in it at
// E2E_WEBSERVER, its image cache E2E_POT_CACHE.
func startCluster(t *testing.T, opts ...func(*cluster.Options)) (*cluster.Cluster, string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the end-to-end suite runs potsim, on Linux")
	}
	realPot := os.Getenv(realPotEnv)
	for tool, pkg := range map[string]string{"haproxy": "haproxy", "dig": "dnsutils", "curl": "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed; the end-to-end tests need it (Debian: apt-get install %s; .ci/run installs it)", tool, pkg)
		}
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
		t.Cleanup(cancel)
	}
	agents, err := cluster.AgentsDir(ctx, root, os.Stderr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nomadClientDirs := globNomadClient()

	start := time.Now()
	o := cluster.Options{
		Who:           "go test -tags e2e (" + t.Name() + ")",
		RepoRoot:      root,
		AgentsDir:     agents,
		Potsim:        realPot == "",
		PotBin:        realPot,
		ImageDir:      os.Getenv("E2E_IMAGE_DIR"),
		PotCache:      os.Getenv("E2E_POT_CACHE"),
		Webserver:     os.Getenv("E2E_WEBSERVER"),
		HaproxyConfig: filepath.Join(root, "example-jobs", "haproxy.cfg"),
		Keep:          os.Getenv("E2E_KEEP") != "",
		Logf:          t.Logf,
	}
	for _, f := range opts {
		f(&o)
	}
	c, err := cluster.Start(ctx, o)
	if err != nil {
		t.Fatalf("starting the cluster: %v", err)
	}
	t.Logf("cluster up in %s:\n%s", time.Since(start).Round(time.Millisecond), c.Describe())
	procs := c.Procs()
	t.Cleanup(func() {
		// Consul restarted by a test, haproxies a test started.
		procs = append(procs, c.Procs()...)
		if t.Failed() {
			for _, p := range c.Procs() {
				t.Logf("last lines of %s (without HTTP request lines):\n%s", p.LogPath, p.Tail(60, "http: request complete", "memberlist: Stream connection"))
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
		for _, p := range procs {
			if !p.Exited() {
				t.Errorf("%s (pid %d) still runs after Stop", p.Name, p.Pid())
			}
		}
		for d := range globNomadClient() {
			if !nomadClientDirs[d] {
				t.Errorf("the run left %s behind", d)
			}
		}
	})
	return c, root
}

// realPotEnv names the real pot the suite runs against (see startCluster).
const realPotEnv = "E2E_POT_BIN"

// slowerOnRealPot is d on potsim and factor times d on pot's own scripts,
// whose every prepare, start and stop is a shell script taking 1–3 s on a
// 2-core machine (potsim: milliseconds): for waits whose length is the
// pot's work, not the driver's promise.
func slowerOnRealPot(d time.Duration, factor int) time.Duration {
	if os.Getenv(realPotEnv) != "" {
		return d * time.Duration(factor)
	}
	return d
}

func globNomadClient() map[string]bool {
	m := map[string]bool{}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "NomadClient*"))
	for _, d := range dirs {
		m[d] = true
	}
	return m
}

// nomad runs the nomad CLI; a non-zero exit fails the test.
func nomad(t *testing.T, c *cluster.Cluster, args ...string) cluster.Output {
	t.Helper()
	out, err := c.Nomad(3*time.Minute, args...)
	if err != nil {
		t.Fatalf("nomad %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// eventually polls cond every 250 ms until it returns true, failing the
// test after limit with what cond last said.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still waiting for %s; last: %s", limit, what, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// imageVars point a job of example-jobs/ at the cluster's image server.
func imageVars(c *cluster.Cluster) []string {
	return []string{
		"-var", "image_url=" + c.Images.URL,
		"-var", "image=" + cluster.ImageName,
		"-var", "tag=" + cluster.ImageTag,
	}
}

func jobFile(root, name string) string { return filepath.Join(root, "example-jobs", name) }

// alloc is what the tests read of an allocation from Nomad's API.
type alloc struct {
	ID, Name, TaskGroup, DesiredStatus, ClientStatus string
	NodeID, NodeName                                 string
	AllocatedResources                               struct {
		Shared struct {
			Ports []struct {
				Label  string
				Value  int
				To     int
				HostIP string
			}
		}
	}
	TaskStates map[string]struct {
		State  string
		Failed bool
		Events []struct {
			Type, DisplayMessage string
			ExitCode             int
			Time                 int64 // Unix nanoseconds
		}
	}
}

// hostPort is the host port Nomad allocated for label.
func (a alloc) hostPort(label string) int {
	for _, p := range a.AllocatedResources.Shared.Ports {
		if p.Label == label {
			return p.Value
		}
	}
	return 0
}

func jobAllocs(t *testing.T, c *cluster.Cluster, job string) []alloc {
	t.Helper()
	var stubs []struct{ ID string }
	if err := c.NomadJSON("/v1/job/"+job+"/allocations", &stubs); err != nil {
		t.Fatalf("listing allocations of %s: %v", job, err)
	}
	var out []alloc
	for _, s := range stubs {
		var a alloc
		if err := c.NomadJSON("/v1/allocation/"+s.ID, &a); err != nil {
			t.Fatalf("reading allocation %s: %v", s.ID, err)
		}
		out = append(out, a)
	}
	return out
}

// running are the allocations the client runs, every task of them, and
// Nomad wants running. (An allocation is "running" as soon as one of its
// tasks is: on pot's scripts another task's StartTask may take seconds
// more.)
func running(allocs []alloc) []alloc {
	var out []alloc
next:
	for _, a := range allocs {
		if a.ClientStatus != "running" || a.DesiredStatus != "run" {
			continue
		}
		for _, ts := range a.TaskStates {
			if ts.State != "running" {
				continue next
			}
		}
		out = append(out, a)
	}
	return out
}

// potsOf lists the task pots of a job (the driver names them
// JOB_TASK_ALLOCID_XXXXXXXX) as `pot ls -q` shows them.
func potsOf(t *testing.T, c *cluster.Cluster, job string) []string {
	t.Helper()
	names, err := c.Pots()
	if err != nil {
		t.Fatalf("pot ls: %v", err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, strings.ReplaceAll(job, ".", "_")+"_") && cluster.IsTaskPot(n) {
			out = append(out, n)
		}
	}
	return out
}

// stopJob stops a job (t.Cleanup of every job test, so a failed
// test leaves nothing running for the next).
func stopJob(t *testing.T, c *cluster.Cluster, job string) {
	if _, err := c.Nomad(time.Minute, "job", "stop", "-detach", job); err != nil && !strings.Contains(err.Error(), "No job(s) with prefix") {
		t.Errorf("stopping job %s: %v", job, err)
	}
}

// waitNoPots waits until the job has no pot left.
func waitNoPots(t *testing.T, c *cluster.Cluster, job string, limit time.Duration) {
	t.Helper()
	eventually(t, limit, "the pots of job "+job+" to be destroyed", func() (bool, string) {
		left := potsOf(t, c, job)
		return len(left) == 0, strings.Join(left, " ")
	})
}

// allocLogs is `nomad alloc logs [-stderr] ALLOC TASK`.
func allocLogs(t *testing.T, c *cluster.Cluster, allocID, task string, stderr bool) string {
	t.Helper()
	args := []string{"alloc", "logs"}
	if stderr {
		args = append(args, "-stderr")
	}
	return nomad(t, c, append(args, allocID, task)...).Stdout
}

// waitLog waits until the task's stdout (or stderr) contains want.
func waitLog(t *testing.T, c *cluster.Cluster, allocID, task string, stderr bool, want string, limit time.Duration) string {
	t.Helper()
	var logs string
	eventually(t, limit, "the task's log to show "+want, func() (bool, string) {
		logs = allocLogs(t, c, allocID, task, stderr)
		return strings.Contains(logs, want), logs
	})
	return logs
}

// curl is `curl -sS --max-time 5 URL`: the body, or an error.
func curl(url string) (string, error) {
	out, err := exec.Command("curl", "-sS", "--fail", "--max-time", "5", url).CombinedOutput()
	return string(out), err
}

// waitRunning waits until n allocations of the job run, failing at once,
// with `nomad alloc status`, if one fails.
func waitRunning(t *testing.T, c *cluster.Cluster, job string, n int, limit time.Duration) []alloc {
	t.Helper()
	var r []alloc
	eventually(t, limit, fmt.Sprintf("%d allocation(s) of %s to run", n, job), func() (bool, string) {
		all := jobAllocs(t, c, job)
		for _, a := range all {
			if a.ClientStatus == "failed" {
				st, _ := c.Nomad(time.Minute, "alloc", "status", a.ID)
				var logs strings.Builder
				for task := range a.TaskStates {
					for _, stream := range []string{"-stdout", "-stderr"} {
						out, _ := c.Nomad(time.Minute, "alloc", "logs", stream, "-tail", "-n", "20", a.ID, task)
						fmt.Fprintf(&logs, "nomad alloc logs %s %s (last 20 lines):\n%s\n", stream, task, out.Stdout)
					}
				}
				t.Fatalf("allocation %s of %s failed:\n%s\n%s", a.ID, job, st.Stdout, logs.String())
			}
		}
		r = running(all)
		return len(r) == n, fmt.Sprintf("%d running", len(r))
	})
	return r
}
