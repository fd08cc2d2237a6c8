package driver

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"
	dtestutil "github.com/hashicorp/nomad/plugins/drivers/testutils"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
)

func TestBatchExitCodes(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	for _, code := range []int{0, 3} {
		cfg, tc := env.task("batch", "echo out-line; echo err-line >&2; exit "+strconv.Itoa(code))
		start(t, h, cfg, tc)
		res := waitResult(t, h, cfg.ID, 20*time.Second)
		if res.ExitCode != code || res.Err != nil {
			t.Fatalf("exit %d: got %+v", code, res)
		}
		logContains(t, cfg, "stdout", "out-line")
		logContains(t, cfg, "stderr", "err-line")
		// WaitTask may be called again after the exit: same result.
		if again := waitResult(t, h, cfg.ID, time.Second); again.ExitCode != code {
			t.Fatalf("second WaitTask: %+v", again)
		}
		st, err := h.InspectTask(cfg.ID)
		if err != nil || st.State != drivers.TaskStateExited || st.ExitResult.ExitCode != code {
			t.Fatalf("InspectTask: %+v %v", st, err)
		}
		if err := h.DestroyTask(cfg.ID, false); err != nil {
			t.Fatalf("DestroyTask: %v", err)
		}
		if err := h.DestroyTask(cfg.ID, true); err != nil {
			t.Fatalf("second DestroyTask: %v", err)
		}
	}
	if pots := env.taskPots(); len(pots) != 0 {
		t.Fatalf("pots left behind: %v", pots)
	}
}

func TestStopBySignalWithinTimeout(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("service", `trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	start(t, h, cfg, tc)
	logContains(t, cfg, "stdout", "ready")
	if err := h.DestroyTask(cfg.ID, false); err == nil {
		t.Fatal("DestroyTask without force accepted a running task")
	}
	begin := time.Now()
	// No kill_signal in the job: the default must reach a shell task.
	if err := h.StopTask(cfg.ID, 10*time.Second, ""); err != nil {
		t.Fatalf("StopTask: %v", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("StopTask took %s though the task exits on SIGTERM", took)
	}
	res := waitResult(t, h, cfg.ID, 5*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("exit: %+v", res)
	}
	logContains(t, cfg, "stdout", "got-term")
	// StopTask again is harmless.
	if err := h.StopTask(cfg.ID, time.Second, "SIGTERM"); err != nil {
		t.Fatalf("second StopTask: %v", err)
	}
}

// TestStopKillsAfterTimeout: a task ignoring its kill signal is killed once
// its timeout has passed — not asked again with pot stop's SIGTERM and the
// pot's stop_timeout grace (which the job sets long here): Nomad's
// kill_timeout is the time before a force kill.
func TestStopKillsAfterTimeout(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("stubborn", `trap 'echo ignored' TERM INT; echo ready; while :; do sleep 0.05; done`)
	tc.Attributes = []string{"stop_timeout:30"}
	start(t, h, cfg, tc)
	logContains(t, cfg, "stdout", "ready")
	const timeout = 1 * time.Second
	begin := time.Now()
	if err := h.StopTask(cfg.ID, timeout, "SIGTERM"); err != nil {
		t.Fatalf("StopTask: %v", err)
	}
	took := time.Since(begin)
	res := waitResult(t, h, cfg.ID, 5*time.Second)
	t.Logf("StopTask returned %s after the call, timeout %s", took.Round(time.Millisecond), timeout)
	if took < timeout {
		t.Fatalf("stopped after %s, before its %s timeout", took, timeout)
	}
	if limit := timeout + killGrace(); took > limit {
		t.Fatalf("stopped after %s; timeout %s: want at most %s", took.Round(time.Millisecond), timeout, limit)
	}
	if res.ExitCode == 0 && res.Signal == 0 {
		t.Fatalf("a killed task reported success: %+v", res)
	}
	// Told once (StopTask's signal); pot stop's SIGTERM would show a second.
	if n := strings.Count(readLog(t, cfg, "stdout"), "ignored"); n != 1 {
		t.Errorf("the task logged %d SIGTERMs, want 1 (the kill must not ask again)", n)
	}
}

func TestSignalObservedByTask(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("signal", `trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.05; done`)
	start(t, h, cfg, tc)
	logContains(t, cfg, "stdout", "ready")
	if err := h.SignalTask(cfg.ID, "SIGUSR1"); err != nil {
		t.Fatalf("SignalTask: %v", err)
	}
	logContains(t, cfg, "stdout", "got-usr1")
	if err := h.SignalTask(cfg.ID, "SIGBOGUS"); err == nil {
		t.Fatal("an unknown signal was accepted")
	}
}

func TestExec(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("exec", `echo ready; while :; do sleep 0.05; done`)
	start(t, h, cfg, tc)
	logContains(t, cfg, "stdout", "ready")

	res, err := h.ExecTask(cfg.ID, []string{"/bin/sh", "-c", "echo from-exec $NOMAD_TASK_NAME; exit 7"}, 10*time.Second)
	if err != nil {
		t.Fatalf("ExecTask: %v", err)
	}
	if res.ExitResult.ExitCode != 7 || !strings.Contains(string(res.Stdout), "from-exec exec") {
		t.Fatalf("ExecTask: exit %d stdout %q", res.ExitResult.ExitCode, res.Stdout)
	}
	begin := time.Now()
	if _, err := h.ExecTask(cfg.ID, []string{"/bin/sleep", "30"}, 500*time.Millisecond); err == nil {
		t.Fatal("ExecTask past its timeout succeeded")
	}
	if time.Since(begin) > 5*time.Second {
		t.Fatal("ExecTask did not honour its timeout")
	}

	dtestutil.TestExecTaskStreamingBasicResponses(t, h, cfg.ID)
	code, stdout, _ := dtestutil.ExecTask(t, h, cfg.ID, "tty >/dev/null && echo is-a-tty; stty size", true, "")
	if code != 0 || !strings.Contains(stdout, "is-a-tty") {
		t.Fatalf("exec with tty: exit %d, %q", code, stdout)
	}
}

func TestStats(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("stats", `echo ready; while :; do :; done`)
	start(t, h, cfg, tc)
	logContains(t, cfg, "stdout", "ready")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := h.TaskStats(ctx, cfg.ID, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("TaskStats: %v", err)
	}
	for i := 0; i < 3; i++ {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatal("stats stream closed")
			}
			if u.ResourceUsage.MemoryStats.RSS == 0 {
				t.Fatalf("sample %d: no RSS: %+v", i, u.ResourceUsage.MemoryStats)
			}
			if i == 2 && u.ResourceUsage.CpuStats.Percent <= 0 {
				t.Fatalf("a busy loop shows no CPU: %+v", u.ResourceUsage.CpuStats)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no stats")
		}
	}
}

func TestRecoverRunningTask(t *testing.T) {
	env := newTestEnv(t)
	d1, h1 := env.newDriver()
	cfg, tc := env.task("recover", `trap 'echo after-recovery; exit 9' USR1; echo ready; while :; do sleep 0.05; done`)
	handle := start(t, h1, cfg, tc)
	logContains(t, cfg, "stdout", "ready")
	// The first driver goes away; the jail keeps running.
	d1.Shutdown()

	_, h2 := env.newDriver()
	// After a client restart the driver config is gone: recovery must not
	// need it.
	handle = handle.Copy()
	handle.Config.EncodeConcreteDriverConfig(struct{}{})
	if err := h2.RecoverTask(handle); err != nil {
		t.Fatalf("RecoverTask: %v", err)
	}
	if err := h2.RecoverTask(handle); err != nil {
		t.Fatalf("second RecoverTask: %v", err)
	}
	st, err := h2.InspectTask(cfg.ID)
	if err != nil || st.State != drivers.TaskStateRunning {
		t.Fatalf("recovered task: %+v %v", st, err)
	}
	if err := h2.SignalTask(cfg.ID, "SIGUSR1"); err != nil {
		t.Fatalf("SignalTask: %v", err)
	}
	begin := time.Now()
	res := waitResult(t, h2, cfg.ID, 10*time.Second)
	if res.ExitCode != 9 {
		t.Fatalf("recovered exit: %+v", res)
	}
	// The task's output still reaches Nomad's logs after the driver changed.
	logContains(t, cfg, "stdout", "after-recovery")
	t.Logf("recovered exit reported after %s", time.Since(begin))
	if err := h2.DestroyTask(cfg.ID, true); err != nil {
		t.Fatalf("DestroyTask: %v", err)
	}
	if pots := env.taskPots(); len(pots) != 0 {
		t.Fatalf("pots left behind: %v", pots)
	}

	// A task whose pot is gone cannot be recovered.
	_, h3 := env.newDriver()
	if err := h3.RecoverTask(handle); err == nil {
		t.Fatal("recovered a task whose pot is gone")
	}
}

func TestStartFailuresLeaveNoPot(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()

	cfg, tc := env.task("missing-image", "true")
	tc.Tag = "0.0"
	encode(t, cfg, tc)
	allocDir(t, h, cfg, true)
	_, _, err := h.StartTask(cfg)
	if err == nil || !strings.Contains(err.Error(), "404") && !strings.Contains(strings.ToLower(err.Error()), "not found") {
		t.Fatalf("404 image: %v", err)
	}

	cfg, tc = env.task("bad-config", "true")
	tc.Attributes = []string{"children:yes\npot.cmd=evil"}
	encode(t, cfg, tc)
	allocDir(t, h, cfg, true)
	if _, _, err := h.StartTask(cfg); err == nil || !strings.Contains(err.Error(), "attributes") {
		t.Fatalf("bad config: %v", err)
	}

	cfg, tc = env.task("bad-command", "true")
	tc.Command = "/nonexistent/program"
	tc.Args = nil
	start(t, h, cfg, tc)
	res := waitResult(t, h, cfg.ID, 10*time.Second)
	if res.ExitCode == 0 {
		t.Fatalf("a missing program exited 0: %+v", res)
	}
	if err := h.DestroyTask(cfg.ID, true); err != nil {
		t.Fatal(err)
	}
	if pots := env.taskPots(); len(pots) != 0 {
		t.Fatalf("pots left behind: %v", pots)
	}
}

func TestSameTaskNameInTwoAllocs(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	var ids []string
	for i := 0; i < 2; i++ {
		cfg, tc := env.task("web", `echo ready; while :; do sleep 0.05; done`)
		start(t, h, cfg, tc)
		logContains(t, cfg, "stdout", "ready")
		ids = append(ids, cfg.ID)
	}
	if pots := env.taskPots(); len(pots) != 2 {
		t.Fatalf("want two pots, have %v", pots)
	}
	for _, id := range ids {
		if err := h.StopTask(id, time.Second, "SIGTERM"); err != nil {
			t.Fatal(err)
		}
		if err := h.DestroyTask(id, true); err != nil {
			t.Fatal(err)
		}
	}
	if pots := env.taskPots(); len(pots) != 0 {
		t.Fatalf("pots left behind: %v", pots)
	}
}

// TestStartWaitsForTheJail: StartTask returns once the task's jail exists.
// pot start first sets up the pot's network and mounts — seconds on a
// loaded host; here a pot whose start takes 2 s to get there — and until
// its jail is created pot ps, exec and the stats know nothing of the task
// that Nomad would already call running.
func TestStartWaitsForTheJail(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriverWith(&hclspec.PluginConfig{PotBin: slowPot(t, "start", 2*time.Second)})
	cfg, tc := env.task("slowstart", "echo ready; exec sleep 60")
	begin := time.Now()
	start(t, h, cfg, tc)
	took := time.Since(begin)
	st, err := h.InspectTask(cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	name := st.DriverAttributes["pot_name"]
	running, err := env.client.ListRunning(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(running, name) {
		t.Fatalf("StartTask returned after %s, but pot ps does not list %s: %q", took.Round(time.Millisecond), name, running)
	}
	if took < 2*time.Second {
		t.Fatalf("StartTask returned after %s, before pot start could have made the jail", took)
	}
	if err := h.StopTask(cfg.ID, 5*time.Second, "SIGTERM"); err != nil {
		t.Fatal(err)
	}
}

// TestDestroyTaskNotHeld: DestroyTask of a task the driver does not hold —
// its jail ended while the agent was down, so RecoverTask failed and Nomad
// destroys it; or a plugin that lost it — destroys that task's pot at once
// (it waited for the orphan sweep), and only that one; a second call is
// harmless.
func TestDestroyTaskNotHeld(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	ctx := context.Background()
	potOf := func(cfg *drivers.TaskConfig) string {
		t.Helper()
		st, err := h.InspectTask(cfg.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st.DriverAttributes["pot_name"]
	}
	lost, tc := env.task("lost", "sleep 60")
	start(t, h, lost, tc)
	// The same task name in another alloc: not the task's pot.
	other, tc2 := env.task("lost", "sleep 60")
	start(t, h, other, tc2)
	lostPot, otherPot := potOf(lost), potOf(other)

	_, fresh := env.newDriver() // a plugin that holds neither
	for i := 0; i < 2; i++ {
		if err := fresh.DestroyTask(lost.ID, true); err != nil {
			t.Fatalf("DestroyTask %d: %v", i+1, err)
		}
	}
	all, err := env.client.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(all, lostPot) || !slices.Contains(all, otherPot) {
		t.Fatalf("after DestroyTask of %s by a plugin not holding it: pots %q (want %s gone, %s kept)", lost.ID, all, lostPot, otherPot)
	}
	if err := fresh.DestroyTask("not-a-task-id", true); err != nil {
		t.Fatalf("DestroyTask of a malformed ID: %v", err)
	}
}

// TestRetriedStart: when the plugin exits during StartTask, Nomad starts
// the task again under the same ID; the pot the first start made (named
// from the ID) is no task's and goes, and the retried start runs.
func TestRetriedStart(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("retried", `echo second start; sleep 60`)
	name, alloc := potNameParts(cfg)
	left := env.preparePot(name, alloc, "echo first start")
	start(t, h, cfg, tc)
	st, err := h.InspectTask(cfg.ID)
	if err != nil || st.State != drivers.TaskStateRunning || st.DriverAttributes["pot_name"] != left {
		t.Fatalf("retried start: %+v %v (the earlier start's pot was %s)", st, err, left)
	}
	logContains(t, cfg, "stdout", "second start")
}

// TestStartTaskTwiceAtOnce: a second StartTask of a task whose first is
// under way is refused and leaves the first one's pot alone (the pot's
// name comes from the task ID: the second start used to find it, take it
// for one an earlier plugin left, and destroy it).
func TestStartTaskTwiceAtOnce(t *testing.T) {
	env := newTestEnv(t)
	// prepare takes a second: the second start comes while the first is
	// in it.
	_, h := env.newDriverWith(&hclspec.PluginConfig{PotBin: slowPot(t, "prepare", time.Second)})
	cfg, tc := env.task("twice", "echo started; sleep 30")
	encode(t, cfg, tc)
	allocDir(t, h, cfg, true)
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, _, err := h.StartTask(cfg)
			errs <- err
		}()
		time.Sleep(300 * time.Millisecond)
	}
	var failed []error
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0].Error(), "already") {
		t.Fatalf("StartTask twice at once: errors %v, want one saying the task is being started already", failed)
	}
	st, err := h.InspectTask(cfg.ID)
	if err != nil || st.State != drivers.TaskStateRunning {
		t.Fatalf("the first start's task: %+v %v, want it running", st, err)
	}
	if !slices.Contains(env.taskPots(), st.DriverAttributes["pot_name"]) {
		t.Fatalf("the first start's pot %s is gone: %v", st.DriverAttributes["pot_name"], env.taskPots())
	}
	logContains(t, cfg, "stdout", "started")
}
