//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
)

// TestExampleJobs runs every job of example-jobs/ on one cluster, each in a
// parallel subtest (kill-timeout after them, alone), then checks that nothing is left: no task pot in
// `pot ls`, the image fetched once and kept as the image pot.
func TestExampleJobs(t *testing.T) {
	// The driver registers tasks with a consul block (jail-service), and
	// calls the recording rctl and cpuset (limits).
	c, root := startCluster(t, driverConsul, func(o *cluster.Options) { o.Recorder = true })
	suiteStart := time.Now()

	t.Run("jobs", func(t *testing.T) {
		t.Run("web", func(t *testing.T) { t.Parallel(); testWeb(t, c, root) })
		t.Run("batch", func(t *testing.T) { t.Parallel(); testBatch(t, c, root) })
		t.Run("files", func(t *testing.T) { t.Parallel(); testFiles(t, c, root) })
		t.Run("jail-service", func(t *testing.T) { t.Parallel(); testJailService(t, c, root) })
		t.Run("limits", func(t *testing.T) { t.Parallel(); testLimits(t, c, root) })
		t.Run("bsdpot", func(t *testing.T) { t.Parallel(); testBsdpotDialect(t, c, root) })
	})
	// Alone: it holds a stop to kill_timeout + 0.5 s, which five other
	// jobs starting and stopping on two cores would measure as well.
	t.Run("kill-timeout", func(t *testing.T) { testKillTimeout(t, c, root) })

	// What an operator finds on the host afterwards: `pot ls -q` lists the
	// image pot only; the image was fetched once for all the jobs.
	names, err := c.Pots()
	if err != nil {
		t.Fatal(err)
	}
	image := strings.ReplaceAll(cluster.ImageName+"_"+cluster.ImageTag, ".", "_")
	if len(names) != 1 || names[0] != image {
		t.Errorf("pot ls -q after every job stopped = %q, want only the image pot %q", names, image)
	}
	if n := c.Images.Requests("/images/" + cluster.ImageName + "_" + cluster.ImageTag + ".xz"); n != 1 {
		t.Errorf("the image was fetched %d times, want once (pot keeps it as the pot %s)", n, image)
	}
	t.Logf("jobs done in %s", time.Since(suiteStart).Round(time.Millisecond))
}

// testWeb: example-jobs/web.nomad.hcl, two instances of the test web server
// behind haproxy, found through Consul DNS.
func testWeb(t *testing.T, c *cluster.Cluster, root string) {
	const job = "web"
	t.Cleanup(func() { stopJob(t, c, job) })

	// `nomad job run` waits for the deployment: both instances healthy.
	args := append([]string{"job", "run"}, imageVars(c)...)
	args = append(args,
		"-var", "command="+c.Webserver,
		"-var", `args=["-port","8080"]`,
		"-var", "port=8080",
		jobFile(root, "web.nomad.hcl"))
	out := nomad(t, c, args...)
	if !strings.Contains(out.Stdout, "Deployment completed successfully") {
		t.Fatalf("nomad job run did not report a successful deployment:\n%s", out)
	}

	// nomad job status: two allocations running.
	status := nomad(t, c, "job", "status", job).Stdout
	if n := countRunningRows(status); n != 2 {
		t.Fatalf("nomad job status %s shows %d allocations running, want 2:\n%s", job, n, status)
	}
	allocs := running(jobAllocs(t, c, job))
	if len(allocs) != 2 {
		t.Fatalf("%d allocations running, want 2", len(allocs))
	}
	ports := map[int]string{} // host port -> alloc ID
	for _, a := range allocs {
		p := a.hostPort("http")
		if p == 0 {
			t.Fatalf("allocation %s has no http port", a.ID)
		}
		ports[p] = a.ID
	}
	if pots := potsOf(t, c, job); len(pots) != 2 {
		t.Errorf("pot ls shows %d pots of the job, want 2: %q", len(pots), pots)
	}

	// Consul DNS: one SRV record per instance, at the host port Nomad
	// allocated.
	eventually(t, 30*time.Second, "Consul DNS to answer an SRV record per instance", func() (bool, string) {
		got, answer := digSRV(t, c, "_web._tcp.service.consul")
		return sameInts(got, keys(ports)), answer
	})

	// haproxy answers from both instances.
	seen := map[string]int{}
	eventually(t, 45*time.Second, "haproxy to answer from both instances", func() (bool, string) {
		body, err := curl("http://" + c.HaproxyAddr + "/")
		if err != nil {
			return false, fmt.Sprintf("%v: %s", err, body)
		}
		for _, a := range allocs {
			if strings.Contains(body, "hello from alloc "+a.ID) {
				seen[a.ID]++
			}
		}
		return len(seen) == 2, fmt.Sprintf("answers so far: %v; last: %q", seen, body)
	})

	a := allocs[0]
	// nomad alloc logs: the request log on stdout, the start on stderr.
	waitLog(t, c, a.ID, "web", false, "GET / from", 10*time.Second)
	stderr := allocLogs(t, c, a.ID, "web", true)
	if !regexp.MustCompile(`listening on ` + regexp.QuoteMeta(potNetwork(t, c)) + `\d+\.\d+:8080 \(alloc ` + a.ID).MatchString(stderr) {
		t.Errorf("nomad alloc logs -stderr does not show the server starting on the pot's address:\n%s", stderr)
	}

	// nomad alloc exec: a command in the task's jail, with the task's
	// environment, in the jail's file system (its home is /root, so
	// ../etc/image-release is the image's file), and its exit code.
	execOut := nomad(t, c, "alloc", "exec", "-i=false", "-t=false", "-task", "web", a.ID,
		"/bin/sh", "-c", `echo "exec: alloc=$NOMAD_ALLOC_ID task=$NOMAD_TASK_NAME"; cat ../etc/image-release`).Stdout
	if !strings.Contains(execOut, "exec: alloc="+a.ID+" task=web") || !strings.Contains(execOut, cluster.ImageRelease) {
		t.Errorf("nomad alloc exec printed %q, want the alloc ID, the task name and the image's etc/image-release", execOut)
	}
	if out, err := c.Nomad(time.Minute, "alloc", "exec", "-i=false", "-t=false", a.ID, "/bin/sh", "-c", "exit 7"); err == nil || out.Code != 7 {
		t.Errorf("nomad alloc exec of `exit 7` exited %d (%v), want 7", out.Code, err)
	}

	// nomad alloc signal: the task sees SIGHUP and SIGUSR1.
	nomad(t, c, "alloc", "signal", "-s", "SIGHUP", a.ID)
	waitLog(t, c, a.ID, "web", false, "received signal SIGHUP", 10*time.Second)
	nomad(t, c, "alloc", "signal", "-s", "SIGUSR1", a.ID, "web")
	waitLog(t, c, a.ID, "web", false, "received signal SIGUSR1", 10*time.Second)

	// One instance stopped (scaled to 1): DNS and haproxy only have the
	// other; its pot is gone.
	nomad(t, c, "job", "scale", "-detach", job, "web", "1")
	var survivor alloc
	eventually(t, 60*time.Second, "one allocation to be stopped", func() (bool, string) {
		r := running(jobAllocs(t, c, job))
		var live []alloc
		for _, a := range r {
			if _, ok := ports[a.hostPort("http")]; ok {
				live = append(live, a)
			}
		}
		if len(r) == 1 && len(live) == 1 {
			survivor = live[0]
			return true, ""
		}
		return false, fmt.Sprintf("%d running", len(r))
	})
	eventually(t, 30*time.Second, "the stopped instance's pot to be destroyed", func() (bool, string) {
		pots := potsOf(t, c, job)
		return len(pots) == 1 && strings.Contains(pots[0], survivor.ID), strings.Join(pots, " ")
	})
	eventually(t, 30*time.Second, "Consul DNS to answer the remaining instance only", func() (bool, string) {
		got, answer := digSRV(t, c, "_web._tcp.service.consul")
		return sameInts(got, []int{survivor.hostPort("http")}), answer
	})
	streak := 0
	eventually(t, 45*time.Second, "10 answers in a row from the remaining instance", func() (bool, string) {
		body, err := curl("http://" + c.HaproxyAddr + "/")
		if err != nil || !strings.Contains(body, "hello from alloc "+survivor.ID) {
			streak = 0
			return false, fmt.Sprintf("%v: %q", err, body)
		}
		streak++
		return streak >= 10, ""
	})

	// nomad job stop: the job's pots are destroyed, DNS has no instance.
	nomad(t, c, "job", "stop", "-detach", job)
	waitNoPots(t, c, job, 60*time.Second)
	eventually(t, 30*time.Second, "Consul DNS to have no instance left", func() (bool, string) {
		got, answer := digSRV(t, c, "_web._tcp.service.consul")
		return len(got) == 0, answer
	})
}

// testBatch: example-jobs/batch.nomad.hcl, its exit code in nomad alloc
// status, then once more with exit code 0.
func testBatch(t *testing.T, c *cluster.Cluster, root string) {
	const job = "batch"
	t.Cleanup(func() { stopJob(t, c, job) })

	for _, tc := range []struct {
		code   int
		status string
	}{{3, "failed"}, {0, "complete"}} {
		args := append([]string{"job", "run"}, imageVars(c)...)
		nomad(t, c, append(args, "-var", "exit_code="+strconv.Itoa(tc.code), jobFile(root, "batch.nomad.hcl"))...)
		var a alloc
		eventually(t, 60*time.Second, "the batch allocation to be "+tc.status, func() (bool, string) {
			for _, x := range jobAllocs(t, c, job) {
				if x.ClientStatus == tc.status && x.TaskStates["report"].State == "dead" {
					if tc.code == 0 || x.TaskStates["report"].Failed {
						a = x
						return true, ""
					}
				}
			}
			return false, "not yet"
		})
		// What `nomad alloc status` shows.
		st := nomad(t, c, "alloc", "status", a.ID).Stdout
		if !regexp.MustCompile(`Terminated\s+Exit Code: ` + strconv.Itoa(tc.code) + `\b`).MatchString(st) {
			t.Errorf("nomad alloc status does not show `Terminated  Exit Code: %d`:\n%s", tc.code, st)
		}
		if !regexp.MustCompile(`Client Status\s+= ` + tc.status).MatchString(st) {
			t.Errorf("nomad alloc status does not show Client Status = %s:\n%s", tc.status, st)
		}
		stdout := allocLogs(t, c, a.ID, "report", false)
		if !regexp.MustCompile(`batch: running in pot batch_report_` + a.ID + `_\w+, alloc ` + a.ID + `, on Linux`).MatchString(stdout) {
			t.Errorf("nomad alloc logs: stdout lacks the task's line:\n%s", stdout)
		}
		// The job's meta: the key no sh can export is left out, an event
		// says so; the other reaches the task.
		if !strings.Contains(stdout, "batch: release r1\n") {
			t.Errorf("nomad alloc logs: stdout lacks NOMAD_META_release:\n%s", stdout)
		}
		left := false
		for _, ev := range a.TaskStates["report"].Events {
			left = left || strings.Contains(ev.DisplayMessage, "Environment variables left out of the jail") && strings.Contains(ev.DisplayMessage, "NOMAD_META_app.version")
		}
		if !left {
			t.Errorf("no task event names NOMAD_META_app.version as left out: %+v", a.TaskStates["report"].Events)
		}
		stderr := allocLogs(t, c, a.ID, "report", true)
		if !strings.Contains(stderr, fmt.Sprintf("batch: something went wrong, exiting %d", tc.code)) {
			t.Errorf("nomad alloc logs -stderr lacks the task's line:\n%s", stderr)
		}
		// The driver destroys the pot once the task has exited.
		waitNoPots(t, c, job, 30*time.Second)
	}
	js := nomad(t, c, "job", "status", job).Stdout
	if !regexp.MustCompile(`Status\s+= dead`).MatchString(js) {
		t.Errorf("nomad job status %s does not show Status = dead:\n%s", job, js)
	}
}

// testFiles: example-jobs/files.nomad.hcl, mounts, copy, env, template,
// extra_hosts and attributes, seen from inside the task and from the host.
func testFiles(t *testing.T, c *cluster.Cluster, root string) {
	const job = "files"
	t.Cleanup(func() { stopJob(t, c, job) })

	host := c.HostDir // the plugin's host_path_allow
	dataDir := filepath.Join(host, "data")
	sharedDir := filepath.Join(host, "shared")
	configFile := filepath.Join(host, "app.conf")
	for _, d := range []string{dataDir, sharedDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(t, configFile, "listen = 0.0.0.0:8080\n")
	mustWrite(t, filepath.Join(sharedDir, "README"), "shared, read-only\n")

	args := append([]string{"job", "run", "-detach"}, imageVars(c)...)
	nomad(t, c, append(args,
		"-var", "config_file="+configFile,
		"-var", "shared_dir="+sharedDir,
		"-var", "data_dir="+dataDir,
		jobFile(root, "files.nomad.hcl"))...)
	a := waitRunning(t, c, job, 1, 60*time.Second)[0]
	logs := waitLog(t, c, a.ID, "files", false, "ready", 30*time.Second)
	for _, want := range []string{
		"env: GREETING=hello from the job's env block",
		"env: NOMAD_TASK_DIR=/local",
		"template: rendered by Nomad for alloc " + a.ID,
		"copy: usr/local/etc/app.conf: listen = 0.0.0.0:8080",
		"mount_read_only: mnt/shared/README: shared, read-only",
		"mount_read_only: mnt/shared is read-only",
		"mount: appended to mnt/data/runs.log",
		"extra_hosts: 10.0.0.5 db.internal",
		"extra_hosts: 10.0.0.6 cache.internal",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("nomad alloc logs lacks %q:\n%s", want, logs)
		}
	}
	// On the host: the line written through the read-write mount; nothing
	// written through the read-only one.
	if b, err := os.ReadFile(filepath.Join(dataDir, "runs.log")); err != nil || !strings.Contains(string(b), a.ID) {
		t.Errorf("%s/runs.log = %q (%v), want the alloc ID written from the jail", dataDir, b, err)
	}
	if _, err := os.Stat(filepath.Join(sharedDir, "probe")); err == nil {
		t.Errorf("the task wrote into the read-only mount %s", sharedDir)
	}
	// pot get-attribute on the task's pot.
	pots := potsOf(t, c, job)
	if len(pots) != 1 {
		t.Fatalf("pot ls shows %q, want one pot of the job", pots)
	}
	for attr, want := range map[string]string{"procfs": "YES", "stop_timeout": "5"} {
		out, err := c.Pot("get-attribute", "-q", "-p", pots[0], "-A", attr)
		if err != nil || strings.TrimSpace(out.Stdout) != want {
			t.Errorf("pot get-attribute -p %s -A %s = %q (%v), want %s", pots[0], attr, strings.TrimSpace(out.Stdout), err, want)
		}
	}

	// Stopped with kill_signal SIGTERM: the script says so and exits; the
	// pot is destroyed and the host's folders are intact.
	// -detach: the deployment (min_healthy_time) may still be running,
	// and the CLI exits 1 when it sees it cancelled.
	nomad(t, c, "job", "stop", "-detach", job)
	waitNoPots(t, c, job, 30*time.Second)
	logs = allocLogs(t, c, a.ID, "files", false)
	if !strings.Contains(logs, "files: SIGTERM, exiting") {
		t.Errorf("the task did not log its SIGTERM:\n%s", logs)
	}
	for _, f := range []string{filepath.Join(dataDir, "runs.log"), filepath.Join(sharedDir, "README"), configFile} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after the pot was destroyed, the host file %s: %v", f, err)
		}
	}
}

// testBsdpotDialect: the jobs of example-jobs/bsdpot/, written in the
// bsdpot driver's dialect, run unchanged but for the image variables and
// the program (the web server, where they run nginx): each program prints
// the argv it got, which must be what that driver's users expect; the
// service answers on its host port (exported from the bridge, or, with
// network_mode "host", the host's own, with an event that port_map has no
// effect).
func testBsdpotDialect(t *testing.T, c *cluster.Cluster, root string) {
	for _, tc := range []struct {
		file, job, task string
		argv            string
		host            bool
	}{
		{"readme.nomad.hcl", "bsdpot-readme", "www1", `argv: ["-g","daemon off;"]`, false},
		{"nomad-docs.nomad.hcl", "bsdpot-nomad-docs", "nginx-pot", `argv: ["-g","daemon off;"]`, false},
		{"example-hcl.nomad.hcl", "bsdpot-example-hcl", "task1", `argv: ["-g","daemon off;"]`, true},
		{"quoted.nomad.hcl", "bsdpot-quoted", "quoted", `argv: ["a b"]`, false},
	} {
		t.Cleanup(func() { stopJob(t, c, tc.job) })
		args := append([]string{"job", "run", "-detach"}, imageVars(c)...)
		nomad(t, c, append(args, "-var", "nginx="+c.Webserver, "-var", "port=8080", jobFile(root, filepath.Join("bsdpot", tc.file)))...)
		a := waitRunning(t, c, tc.job, 1, slowerOnRealPot(time.Minute, 3))[0]
		waitLog(t, c, a.ID, tc.task, false, tc.argv, 30*time.Second)
		url := fmt.Sprintf("http://127.0.0.1:%d/", a.hostPort("http"))
		var body string
		eventually(t, 30*time.Second, tc.job+" to answer at "+url, func() (bool, string) {
			var err error
			body, err = curl(url)
			return err == nil && strings.Contains(body, "hello from alloc "+a.ID), fmt.Sprint(body, err)
		})
		if tc.host {
			ignored := false
			for _, al := range jobAllocs(t, c, tc.job) {
				for _, ev := range al.TaskStates[tc.task].Events {
					ignored = ignored || strings.HasPrefix(ev.DisplayMessage, "port_map has no effect with network_mode inherit (host)")
				}
			}
			if !ignored {
				t.Errorf("%s: no task event saying the port_map has no effect", tc.job)
			}
		}
		t.Logf("%s: %s, served at %s", tc.file, tc.argv, url)
		stopJob(t, c, tc.job)
		waitNoPots(t, c, tc.job, slowerOnRealPot(time.Minute, 3))
	}
}

// testKillTimeout: example-jobs/kill-timeout.nomad.hcl, a task ignoring
// SIGTERM is killed once its kill_timeout (5 s) has passed: Nomad's
// "Killing" event to its "Terminated" within kill_timeout + 0.5 s (issue
// 12), the SIGTERM sent once, not again by pot stop.
func testKillTimeout(t *testing.T, c *cluster.Cluster, root string) {
	const job = "kill-timeout"
	const killTimeout = 5 * time.Second
	t.Cleanup(func() { stopJob(t, c, job) })

	args := append([]string{"job", "run", "-detach"}, imageVars(c)...)
	nomad(t, c, append(args, jobFile(root, "kill-timeout.nomad.hcl"))...)
	a := waitRunning(t, c, job, 1, 60*time.Second)[0]
	waitLog(t, c, a.ID, "stubborn", false, "started; SIGTERM will be ignored", 30*time.Second)

	start := time.Now()
	nomad(t, c, "job", "stop", "-detach", job)
	waitNoPots(t, c, job, 60*time.Second)
	t.Logf("pot gone %s after nomad job stop", time.Since(start).Round(time.Millisecond))
	logs := allocLogs(t, c, a.ID, "stubborn", false)
	if n := strings.Count(logs, "got SIGTERM, ignoring it"); n != 1 {
		t.Errorf("the task logged %d SIGTERMs, want 1 (kill_signal; after kill_timeout a kill, not pot stop's SIGTERM):\n%s", n, logs)
	}
	var st string
	eventually(t, 30*time.Second, "nomad alloc status to show the task terminated", func() (bool, string) {
		st = nomad(t, c, "alloc", "status", a.ID).Stdout
		return strings.Contains(st, "Terminated"), st
	})
	for _, re := range []string{`Waiting 5s before force killing`, `Terminated\s+Exit Code: 137`} {
		if !regexp.MustCompile(re).MatchString(st) {
			t.Errorf("nomad alloc status does not match %q:\n%s", re, st)
		}
	}
	var killing, terminated int64
	for _, al := range jobAllocs(t, c, job) {
		if al.ID != a.ID {
			continue
		}
		for _, ev := range al.TaskStates["stubborn"].Events {
			switch ev.Type {
			case "Killing":
				killing = ev.Time
			case "Terminated":
				terminated = ev.Time
			}
		}
	}
	if killing == 0 || terminated == 0 {
		t.Fatalf("no Killing and Terminated events:\n%s", st)
	}
	took := time.Duration(terminated - killing)
	t.Logf("Killing to Terminated: %s (kill_timeout %s)", took.Round(time.Millisecond), killTimeout)
	if took < killTimeout || took > killTimeout+500*time.Millisecond {
		t.Errorf("the task was killed %s after Nomad's Killing event, want kill_timeout (%s) plus at most 0.5 s; Nomad's log of the allocation:\n%s",
			took.Round(time.Millisecond), killTimeout, c.NomadLogLines(a.ID))
	}
}

// digSRV is `dig @127.0.0.1 -p PORT NAME SRV +short`: the ports of the
// answers, sorted, and dig's output.
func digSRV(t *testing.T, c *cluster.Cluster, name string) ([]int, string) {
	t.Helper()
	out, err := exec.Command("dig", "@127.0.0.1", "-p", c.DNSPort(), name, "SRV", "+short", "+time=2", "+tries=1").CombinedOutput()
	if err != nil {
		return nil, fmt.Sprintf("dig: %v: %s", err, out)
	}
	var ports []int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line) // priority weight port target
		if len(f) != 4 {
			continue
		}
		p, err := strconv.Atoi(f[2])
		if err == nil {
			ports = append(ports, p)
		}
	}
	sort.Ints(ports)
	return ports, string(out)
}

// countRunningRows counts the rows of the Allocations table of
// `nomad job status` with desired "run" and status "running".
func countRunningRows(status string) int {
	n := 0
	inTable := false
	for _, line := range strings.Split(status, "\n") {
		if strings.HasPrefix(line, "Allocations") {
			inTable = true
			continue
		}
		f := strings.Fields(line)
		if inTable && len(f) >= 6 && f[4] == "run" && f[5] == "running" {
			n++
		}
	}
	return n
}

func keys(m map[int]string) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
