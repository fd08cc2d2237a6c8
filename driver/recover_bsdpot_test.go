package driver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"
	pstructs "github.com/hashicorp/nomad/plugins/shared/structs"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

// bsdpotDriverTaskState is the bsdpot driver 0.10's TaskState as that
// driver declares it (driver/driver.go of bsdpot/nomad-pot-driver), to
// encode a handle exactly as it does: no codec tags, handle version 2.
type bsdpotDriverTaskState struct {
	ReattachConfig *pstructs.ReattachConfig
	TaskConfig     *drivers.TaskConfig
	StartedAt      time.Time
	ContainerName  string
	PID            int
}

// startAsBsdpot does what the bsdpot driver 0.10 did for a task: `pot
// prepare` naming the pot TASKNAME_8HEX_ALLOCID from the task ID, the
// command line in double quotes, then `pot start NAME` as its own child
// (here the test's), its output into a file. It returns that driver's
// handle, and the output file.
func startAsBsdpot(t *testing.T, env *testEnv, cfg *drivers.TaskConfig, line string) (*drivers.TaskHandle, string, string) {
	t.Helper()
	parts := strings.Split(cfg.ID, "/")
	name, err := env.client.Prepare(context.Background(), pot.PrepareOptions{
		URL: env.imageURL, Image: testImage, Tag: testTag,
		Name: parts[1], Alloc: parts[2] + "_" + parts[0], CommandLine: line, Network: pot.NetworkInherit,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.client.Destroy(context.Background(), name, true) })
	if want := parts[1] + "_" + parts[2] + "_" + parts[0]; name != want {
		t.Fatalf("pot %s, want the bsdpot driver's name %s", name, want)
	}
	out := filepath.Join(t.TempDir(), "pot-start.out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(env.client.Bin, "start", name)
	cmd.Env = env.client.Env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The old plugin's child: reaped by it (here, by the test).
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	handle := drivers.NewTaskHandle(2)
	handle.Config = cfg
	handle.State = drivers.TaskStateRunning
	if err := handle.SetDriverState(&bsdpotDriverTaskState{
		TaskConfig: cfg, StartedAt: time.Now(), ContainerName: env.imageURL, PID: cmd.Process.Pid,
	}); err != nil {
		t.Fatal(err)
	}
	return handle, name, out
}

// fileContains waits until the file holds want.
func fileContains(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: want %q, have %q", path, want, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRecoverBsdpotHandle: a client whose tasks the bsdpot driver 0.10
// started, restarted with this driver, keeps them: RecoverTask takes that
// driver's handle and reattaches to its pot; inspect, stats, exec, signal,
// the exit code, stop and destroy all work. A handle whose pot start is
// gone is refused, saying why.
func TestRecoverBsdpotHandle(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	const script = `'trap "echo got-usr1; exit 7" USR1; echo bsdpot-ready; while :; do sleep 0.05; done'`

	cfg, tc := env.task("www1", "")
	tc.Command, tc.Args, tc.ExactArgs = "/bin/sh", []string{"-c", script}, false
	encode(t, cfg, tc)
	allocDir(t, h, cfg, false)
	handle, name, out := startAsBsdpot(t, env, cfg, "/bin/sh -c "+script)
	fileContains(t, out, "bsdpot-ready")

	if err := h.RecoverTask(handle); err != nil {
		t.Fatalf("RecoverTask of the bsdpot driver's handle: %v", err)
	}
	st, err := h.InspectTask(cfg.ID)
	if err != nil || st.State != drivers.TaskStateRunning || st.DriverAttributes["pot_name"] != name {
		t.Fatalf("recovered task: %+v %v", st, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stats, err := h.TaskStats(ctx, cfg.ID, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("TaskStats: %v", err)
	}
	select {
	case u := <-stats:
		if u == nil || u.ResourceUsage == nil {
			t.Fatalf("stats: %+v", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no stats of the recovered task")
	}
	res, err := h.ExecTask(cfg.ID, []string{"/bin/sh", "-c", "echo from-exec"}, 10*time.Second)
	if err != nil || !strings.Contains(string(res.Stdout), "from-exec") {
		t.Fatalf("ExecTask: %+v %v", res, err)
	}
	if err := h.SignalTask(cfg.ID, "SIGUSR1"); err != nil {
		t.Fatalf("SignalTask: %v", err)
	}
	if r := waitResult(t, h, cfg.ID, 15*time.Second); r.ExitCode != 7 {
		t.Fatalf("exit of the recovered task: %+v, want 7", r)
	}
	fileContains(t, out, "got-usr1")
	if err := h.DestroyTask(cfg.ID, true); err != nil {
		t.Fatalf("DestroyTask: %v", err)
	}
	if names, _ := env.client.List(context.Background()); slices.Contains(names, name) {
		t.Fatalf("pot %s left after DestroyTask", name)
	}

	// Stopped by this driver: signal, then the kill after the timeout.
	cfg, tc = env.task("www2", "")
	tc.Command, tc.Args, tc.ExactArgs = "/bin/sh", []string{"-c", `'trap "" TERM; echo bsdpot-ready; while :; do sleep 0.05; done'`}, false
	encode(t, cfg, tc)
	allocDir(t, h, cfg, false)
	handle, name, out = startAsBsdpot(t, env, cfg, "/bin/sh -c "+tc.Args[1])
	fileContains(t, out, "bsdpot-ready")
	if err := h.RecoverTask(handle); err != nil {
		t.Fatalf("RecoverTask: %v", err)
	}
	if err := h.StopTask(cfg.ID, time.Second, "SIGTERM"); err != nil {
		t.Fatalf("StopTask: %v", err)
	}
	if r := waitResult(t, h, cfg.ID, 10*time.Second); r.ExitCode == 0 {
		t.Fatalf("a killed task reported success: %+v", r)
	}
	if err := h.DestroyTask(cfg.ID, false); err != nil {
		t.Fatalf("DestroyTask: %v", err)
	}
	if names, _ := env.client.List(context.Background()); slices.Contains(names, name) {
		t.Fatalf("pot %s left after DestroyTask", name)
	}

	// Its pot start gone: refused, with the reason; Nomad restarts it.
	cfg, tc = env.task("www3", "")
	tc.ExactArgs = false
	tc.Command, tc.Args = "/bin/sh", []string{"-c", `'echo bsdpot-ready; sleep 60'`}
	encode(t, cfg, tc)
	handle, _, out = startAsBsdpot(t, env, cfg, "/bin/sh -c 'echo bsdpot-ready; sleep 60'")
	fileContains(t, out, "bsdpot-ready")
	var bs bsdpotDriverTaskState
	if err := handle.GetDriverState(&bs); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(bs.PID, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(bs.PID, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	err = h.RecoverTask(handle)
	if err == nil || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("RecoverTask with the pot start gone: %v, want it to say so", err)
	}
	t.Logf("refused: %v", err)
}
