package pot

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pot start's starting window: pot start runs the command, sleeps half a
// second, writes the main pid file and only then marks the pot started.
// Until then pot stop refuses the pot (exit 1) and pot signal finds no main
// process (exit 3; with -f exit 0, nothing sent). The tests below enter the
// window by waiting for the task's first action (it writes "ready"), which
// is deterministic enough: the window lasts about 0.5 s after the command
// starts.

// inWindow logs whether the window was still open (no main pid file yet).
func (r *run) inWindow(what string) bool {
	r.e.t.Helper()
	_, err := os.Stat(r.e.mainPidFile(r.name))
	open := os.IsNotExist(err)
	r.e.t.Logf("%s: in pot start's starting window: %v", what, open)
	return open
}

// rawPot runs the pot binary with args and returns its stdout and exit
// status (no client logic in between).
func (e *potEnv) rawPot(args ...string) (string, int) {
	e.t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(e.ctx(), e.c.Bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("pot %q: %v", args, err)
	}
	e.t.Logf("pot %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out.String(), errb.String())
	return out.String(), code
}

// alive reports whether host process pid exists.
func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// Stop right after the task started (pot still "starting", which pot stop
// refuses) waits the window out, stops the pot, and the run ends with the
// command's own exit code.
func TestContractStopInStartingWindow(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: trapLoop("trap 'exit 9' TERM")})
	r := e.start(name)
	r.waitJailFile("ready")
	r.inWindow("Stop")
	begin := time.Now()
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatalf("Stop right after the task started: %v\n%s", err, r.output())
	}
	t.Logf("Stop took %s", time.Since(begin).Round(time.Millisecond))
	r.waitCode(9)
	if ok, err := e.c.IsRunning(e.ctx(), name); err != nil || ok {
		t.Fatalf("IsRunning after Stop = %v, %v", ok, err)
	}
}

// Signal to the main process right after the task started (no main pid
// file yet) is delivered once pot knows the main process, not dropped.
func TestContractSignalInStartingWindow(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: trapLoop("trap 'echo usr1 > sig.out; exit 7' USR1")})
	r := e.start(name)
	r.waitJailFile("ready")
	r.inWindow("Signal")
	begin := time.Now()
	if err := e.c.Signal(e.ctx(), name, SignalOptions{Signal: "USR1"}); err != nil {
		t.Fatalf("Signal right after the task started: %v\n%s", err, r.output())
	}
	t.Logf("Signal took %s", time.Since(begin).Round(time.Millisecond))
	// Delivered: the task exits at once (no need to wait out a timeout).
	st, err := r.wait(10 * time.Second)
	if err != nil || st.Code != 7 {
		t.Fatalf("Result %+v, %v; want code 7 (the trap of USR1)\n%s", st, err, r.output())
	}
	if got := e.readJail(name, "sig.out"); got != "usr1\n" {
		t.Fatalf("sig.out = %q", got)
	}
}

// A pot start killed in the starting window leaves the pot "starting" for
// good, its command running: pot stop refuses it (exit 1), pot signal -f
// exits 0 and delivers nothing. Destroy(force) clears the status (doa) and
// removes the pot and its processes.
func TestContractStuckStarting(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: trapLoop("trap 'echo usr1 >> sig.out; exit 7' USR1")})
	r := e.start(name)
	pid, _ := strconv.Atoi(strings.TrimSpace(r.waitJailFile("ready")))
	// SIGKILL to pot start itself (its process group holds the jail's
	// command on FreeBSD: pot runs it as a background job of its sh).
	if err := r.p.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if st, err := r.wait(10 * time.Second); err != nil || st.Signal != int(syscall.SIGKILL) {
		t.Fatalf("Result after Kill: %+v, %v", st, err)
	}
	if !r.inWindow("Kill") {
		t.Fatalf("pot start wrote the main pid file before it was killed: the kill came after the starting window\n%s", r.output())
	}
	// Past the window: nothing will mark the pot started any more.
	time.Sleep(time.Second - time.Since(killed))
	if !alive(pid) {
		t.Fatalf("the task (pid %d) died with pot start", pid)
	}
	out, code := e.rawPot("stop", "-p", name)
	if code != 1 || !strings.Contains(out, "not in a state where it can be stopped") {
		t.Fatalf("pot stop of a pot stuck starting: exit %d, %q; want 1, not in a state where it can be stopped", code, out)
	}
	if _, code := e.rawPot("signal", "-p", name, "-s", "USR1"); code != 3 {
		t.Fatalf("pot signal of a pot stuck starting: exit %d, want 3 (no main pid file)", code)
	}
	if _, code := e.rawPot("signal", "-p", name, "-s", "USR1", "-f"); code != 0 {
		t.Fatalf("pot signal -f of a pot stuck starting: exit %d, want 0", code)
	}
	time.Sleep(300 * time.Millisecond)
	if !alive(pid) {
		t.Fatalf("the task (pid %d) is gone after pot signal -f", pid)
	}
	if _, err := os.Stat(e.jailPath(name, "sig.out")); !os.IsNotExist(err) {
		t.Fatalf("pot signal -f delivered the signal: sig.out %v", err)
	}
	if ok, err := e.c.IsRunning(e.ctx(), name); err != nil || !ok {
		t.Fatalf("IsRunning of a pot stuck starting = %v, %v", ok, err)
	}

	begin := time.Now()
	if err := e.c.Destroy(e.ctx(), name, true); err != nil {
		t.Fatalf("Destroy(force) of a pot stuck starting: %v", err)
	}
	t.Logf("Destroy(force) took %s", time.Since(begin).Round(time.Millisecond))
	pots, err := e.c.List(e.ctx())
	if err != nil || slices.Contains(pots, name) {
		t.Fatalf("ls -q after Destroy = %q, %v", pots, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the task (pid %d) outlived Destroy(force)", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pot stop does not wait for pot start, which writes last-run-stats when it
// sees the command's exit, maybe after stop has returned (potsim makes that
// certain with POTSIM_STATS_DELAY); Result still has the command's code.
func TestContractResultAfterStop(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	e.potsimEnv("POTSIM_STATS_DELAY=2s")
	name := e.prepare(PrepareOptions{Argv: trapLoop("trap 'exit 3' TERM")})
	r := e.start(name)
	r.waitJailFile("ready")
	r.waitMainPid()
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	rs, err := e.c.LastRunStats(e.ctx(), name)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.p.Done():
		t.Logf("pot start had ended when pot stop returned (last-run-stats %+v)", rs)
	default:
		t.Logf("pot start still running when pot stop returned (last-run-stats %+v)", rs)
	}
	if e.tg.potsim && rs.ExitCode != nil {
		t.Fatalf("potsim with POTSIM_STATS_DELAY: last-run-stats %d right after stop, want none yet", *rs.ExitCode)
	}
	r.waitCode(3)
	rs, err = e.c.LastRunStats(e.ctx(), name)
	if err != nil || rs.ExitCode == nil || *rs.ExitCode != 3 {
		t.Fatalf("last-run-stats after the run: %+v, %v", rs, err)
	}
}

// pot start's stdout: pot's own messages aside, jail(8)'s "NAME: created"
// comes first, then the command's output, then the empty line pot's
// set-status prints (the interfaces of the pot: none for inherit).
func TestContractStartOutput(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Network: NetworkInherit, Argv: sh("echo one; echo two")})
	r := e.start(name)
	r.waitCode(0)
	data, err := os.ReadFile(r.stdout)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if strings.HasPrefix(l, "###>") || strings.HasPrefix(l, "===>") || strings.HasPrefix(l, "=====>") {
			continue
		}
		got = append(got, l)
	}
	want := []string{name + ": created", "one", "two", ""}
	if !slices.Equal(got, want) {
		t.Fatalf("pot start's stdout without pot's messages: %q, want %q\nall of it: %q", got, want, data)
	}
}
