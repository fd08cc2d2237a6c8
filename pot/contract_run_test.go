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

// How a run ends, as Process.Result tells it: the command's own exit code
// (pot start exits 0 or 125, the code coming from last-run-stats), 128+N for
// a command killed by signal N, 127/126 for a command that cannot be run,
// and a StartError for a pot that cannot start at all.
func TestContractStartExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		argv []string
		code int
	}{
		{"exit0", sh("exit 0"), 0},
		{"exit3", sh("exit 3"), 3},
		{"killed", sh("kill -KILL $$"), 137},
		{"missing-program", []string{"/nonexistent/ct-no-such-program", "arg"}, 127},
		{"not-executable", []string{"/etc/passwd"}, 126},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newPotEnv(t)
			name := e.prepare(PrepareOptions{Argv: tc.argv})
			begin := time.Now()
			e.start(name).waitCode(tc.code)
			t.Logf("run took %s", time.Since(begin).Round(time.Millisecond))
			rs, err := e.c.LastRunStats(e.ctx(), name)
			if err != nil {
				t.Fatal(err)
			}
			if rs.ExitCode == nil || *rs.ExitCode != tc.code {
				t.Fatalf("last-run-stats %+v, want ExitCode %d", rs, tc.code)
			}
			if ok, err := e.c.IsRunning(e.ctx(), name); err != nil || ok {
				t.Fatalf("IsRunning after the run = %v, %v", ok, err)
			}
			pots, err := e.c.List(e.ctx())
			if err != nil || !slices.Contains(pots, name) {
				t.Fatalf("ls -q after the run = %q, %v: the pot should stay", pots, err)
			}
			// pot start's own exit status: 0 for exit 0, 125 otherwise.
			cmd := exec.Command(e.c.Bin, "start", "-p", name)
			out, err := cmd.CombinedOutput()
			status := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			want := 125
			if tc.code == 0 {
				want = 0
			}
			if status != want {
				t.Fatalf("pot start exited %d, want %d:\n%s", status, want, out)
			}
		})
	}
	t.Run("missing-pot", func(t *testing.T) {
		t.Parallel()
		e := newBareEnv(t)
		p, err := e.c.Start(uniqueName()+"_gone", StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.Done():
		case <-time.After(30 * time.Second):
			t.Fatal("pot start of a missing pot did not end")
		}
		st, err := p.Result()
		var se *StartError
		if !errors.As(err, &se) || se.ExitCode != 1 {
			t.Fatalf("start of a missing pot: %+v, %v; want a StartError with exit 1", st, err)
		}
		t.Logf("start of a missing pot: %v", err)
	})
}

// pot start runs in a process group of its own; while the pot runs, the
// main pid file holds the pid of the task's main process (the command
// exec'd by the jail's sh).
func TestContractProcessGroupAndPidFile(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: sh("echo $$ > main.pid; exec sleep 600")})
	r := e.start(name)
	if r.p.Name() != name || r.p.Pid() <= 0 {
		t.Fatalf("Process: name %q pid %d", r.p.Name(), r.p.Pid())
	}
	pgid, err := syscall.Getpgid(r.p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if pgid != r.p.Pid() || pgid == syscall.Getpgrp() {
		t.Fatalf("pot start (pid %d) is in process group %d; ours is %d", r.p.Pid(), pgid, syscall.Getpgrp())
	}
	mainPid := strings.TrimSpace(r.waitJailFile("main.pid"))
	e.waitRunning(name, true)
	if got := r.waitMainPid(); got != mainPid {
		t.Fatalf("%s holds %q, the task's main process is %s", e.mainPidFile(name), got, mainPid)
	}
	pid, _ := strconv.Atoi(mainPid)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the main process %d: %v", pid, err)
	}
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	r.waitCode(143)
	if _, err := os.Stat(e.mainPidFile(name)); !os.IsNotExist(err) {
		t.Fatalf("the main pid file outlived the run: %v", err)
	}
}

// trapLoop is a task that writes its pid to ready, runs the given traps and
// waits (interruptibly) forever.
func trapLoop(traps string) []string {
	return sh(traps + "; echo $$ > ready; while :; do sleep 1 & wait $!; done")
}

// pot signal reaches the task's main process (by default, by pid and by
// name pattern), names with or without SIG; a bad name or a pot that does
// not run is exit 1 (unless -f).
func TestContractSignal(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: trapLoop(
		"trap 'echo usr2 >> sig.out' USR2; trap 'echo usr1 >> sig.out; exit 7' USR1")})
	err := e.c.Signal(e.ctx(), name, SignalOptions{Signal: "USR1"})
	wantPotError(t, "signal to a pot that does not run", err, 1)
	if err := e.c.Signal(e.ctx(), name, SignalOptions{Signal: "USR1", Force: true}); err != nil {
		t.Fatalf("signal -f to a pot that does not run: %v", err)
	}
	if err := e.c.Signal(e.ctx(), name, SignalOptions{}); err == nil {
		t.Fatal("signal without a signal succeeded")
	}
	if err := e.c.Signal(e.ctx(), name, SignalOptions{Signal: "USR1", PID: 1, Pattern: "sh"}); err == nil {
		t.Fatal("signal with a pid and a pattern succeeded")
	}

	r := e.start(name)
	pid, _ := strconv.Atoi(strings.TrimSpace(r.waitJailFile("ready")))
	err = e.c.Signal(e.ctx(), name, SignalOptions{Signal: "NOSUCHSIG"})
	wantPotError(t, "signal NOSUCHSIG", err, 1)

	waitSig := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			data, _ := os.ReadFile(e.jailPath(name, "sig.out"))
			if string(data) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("sig.out = %q, want %q\n%s", data, want, r.output())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := e.c.Signal(e.ctx(), name, SignalOptions{Signal: "SIGUSR2", PID: pid}); err != nil {
		t.Fatalf("signal -P %d: %v", pid, err)
	}
	waitSig("usr2\n")
	if err := e.c.Signal(e.ctx(), name, SignalOptions{Signal: "USR2", Pattern: "^sh$"}); err != nil {
		t.Fatalf("signal -m: %v", err)
	}
	waitSig("usr2\nusr2\n")
	r.waitMainPid() // the main process is found through it
	if err := e.c.Signal(e.ctx(), name, SignalOptions{Signal: "USR1"}); err != nil {
		t.Fatalf("signal to the main process: %v", err)
	}
	r.waitCode(7)
	waitSig("usr2\nusr2\nusr1\n")
}

// pot stop sends SIGTERM to the jail and SIGKILL after its stop_timeout: a
// task that ignores SIGTERM ends with 137 about a second after stop with
// stop_timeout=1.
// TestContractKillJail: Kill removes a running jail at once, its processes
// killed without a SIGTERM, however long the pot's own stop_timeout
// (stop_timeout set to 0 on the running pot is what pot stop hands to
// jail -r).
func TestContractKillJail(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: trapLoop("trap 'echo term >> term.out' TERM")})
	if err := e.c.SetAttribute(e.ctx(), name, "stop_timeout", "30"); err != nil {
		t.Fatal(err)
	}
	r := e.start(name)
	r.waitJailFile("ready")
	r.waitStatus("started")
	begin := time.Now()
	if err := e.c.Kill(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	t.Logf("kill of a pot with stop_timeout=30 took %s", took.Round(time.Millisecond))
	if took >= 5*time.Second {
		t.Fatalf("kill took %s, want well under the pot's 30 s stop_timeout", took)
	}
	r.waitCode(137)
	if got, err := os.ReadFile(e.jailPath(name, "term.out")); err == nil || !os.IsNotExist(err) {
		t.Fatalf("the task saw a SIGTERM before the kill: term.out %q, %v", got, err)
	}
	if ok, err := e.c.IsRunning(e.ctx(), name); err != nil || ok {
		t.Fatalf("IsRunning after the kill = %v, %v", ok, err)
	}
}

func TestContractStopEscalation(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: trapLoop("trap 'echo term >> term.out' TERM")})
	if err := e.c.SetAttribute(e.ctx(), name, "stop_timeout", "1"); err != nil {
		t.Fatal(err)
	}
	r := e.start(name)
	r.waitJailFile("ready")
	begin := time.Now()
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	t.Logf("stop with stop_timeout=1 took %s", took.Round(time.Millisecond))
	if took < time.Second || took >= 5*time.Second {
		t.Fatalf("stop took %s, want between 1 s (stop_timeout) and 5 s", took)
	}
	r.waitCode(137)
	rs, err := e.c.LastRunStats(e.ctx(), name)
	if err != nil {
		t.Fatal(err)
	}
	if rs.ExitCode == nil || *rs.ExitCode != 137 {
		t.Fatalf("last-run-stats %+v, want 137", rs)
	}
	if got := e.readJail(name, "term.out"); !strings.HasPrefix(got, "term\n") {
		t.Fatalf("the task did not see SIGTERM before SIGKILL: term.out %q", got)
	}
	if ok, err := e.c.IsRunning(e.ctx(), name); err != nil || ok {
		t.Fatalf("IsRunning after stop = %v, %v", ok, err)
	}
}

// Attach from another client to the pot start process of a run: Done fires
// promptly when the task exits and Result has its code; attaching to a pot
// that does not run, or to a pid that is gone, fails.
func TestContractAttach(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: sh(
		"echo ready > ready; while [ ! -e go ]; do sleep 0.02; done; exit 5")})
	other := New(e.c.Bin, nil)
	if _, err := other.Attach(e.ctx(), name, os.Getpid()); err == nil {
		t.Fatal("Attach to a pot that never ran succeeded")
	}
	r := e.start(name)
	r.waitJailFile("ready")
	e.waitRunning(name, true)

	gone := exec.Command("/bin/sh", "-c", "exit 0")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Attach(e.ctx(), name, gone.Process.Pid); err == nil {
		t.Fatal("Attach to a pid that is gone succeeded")
	}

	a, err := other.Attach(e.ctx(), name, r.p.Pid())
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if a.Pid() != r.p.Pid() || a.Name() != name {
		t.Fatalf("attached Process: pid %d name %q", a.Pid(), a.Name())
	}
	select {
	case <-a.Done():
		t.Fatal("the attached Process is done while the task runs")
	case <-time.After(100 * time.Millisecond):
	}
	if err := os.WriteFile(e.jailPath(name, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	trigger := time.Now()
	var ownedAt, attachedAt time.Duration
	owned, attached := r.p.Done(), a.Done()
	timeout := time.After(10 * time.Second)
	for owned != nil || attached != nil {
		select {
		case <-owned:
			ownedAt, owned = time.Since(trigger), nil
		case <-attached:
			attachedAt, attached = time.Since(trigger), nil
		case <-timeout:
			t.Fatalf("not both done 10 s after the task was told to exit (owned %s, attached %s)\n%s", ownedAt, attachedAt, r.output())
		}
	}
	t.Logf("task told to exit -> owned Done %s, attached Done %s (latency of the attached wait over the owned: %s)",
		ownedAt.Round(time.Millisecond), attachedAt.Round(time.Millisecond), (attachedAt - ownedAt).Round(time.Millisecond))
	// The end is pot start's exit, after pot's own clean-up; what Attach
	// adds (an exit event, then last-run-stats) must stay small.
	if attachedAt-ownedAt > time.Second {
		t.Fatalf("the attached Process saw the end %s after the owned one", attachedAt-ownedAt)
	}
	if e.tg.potsim && attachedAt > 3*time.Second {
		t.Fatalf("the attached Process took %s to see the end", attachedAt)
	}
	st, err := a.Result()
	if err != nil || st.Code != 5 {
		t.Fatalf("attached Result %+v, %v; want code 5", st, err)
	}
	r.waitCode(5)
	if _, err := other.Attach(e.ctx(), name, r.p.Pid()); err == nil {
		t.Fatal("Attach after the run ended succeeded")
	}
}

// Process.Kill ends pot start, not the jail: Result tells the signal, the
// pot keeps running until pot stop.
func TestContractKill(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: sh("echo ready > ready; exec sleep 600")})
	r := e.start(name)
	r.waitJailFile("ready")
	r.waitMainPid()
	// Killed once pot has marked the pot started (a start killed before
	// that is TestContractStuckStarting): pot writes the pid file first
	// and the status after it, with another process (lockf pot set-status).
	r.waitStatus("started")
	// Nobody removes the main pid file of a pot start that was killed.
	t.Cleanup(func() { os.Remove(e.mainPidFile(name)) })
	if err := r.p.Kill(); err != nil {
		t.Fatal(err)
	}
	st, err := r.wait(10 * time.Second)
	if err != nil || st.Signal != int(syscall.SIGKILL) || st.Code != 128+int(syscall.SIGKILL) {
		t.Fatalf("Result after Kill: %+v, %v", st, err)
	}
	e.waitRunning(name, true)
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	e.waitRunning(name, false)
}

// pot exec runs an exact argv in the running jail, adds -e variables
// literally, passes the command's exit status through and gives it a
// terminal with -t; it fails (exit 1) for a pot that does not run.
func TestContractExec(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: sh("echo ready > ready; exec sleep 600")})
	run := func(o ExecOptions) (string, int) {
		t.Helper()
		cmd, err := e.c.ExecCommand(e.ctx(), name, o)
		if err != nil {
			t.Fatalf("ExecCommand %q: %v", o.Argv, err)
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err = cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("pot exec %q: %v", o.Argv, err)
		}
		if errb.Len() > 0 {
			t.Logf("pot exec %q stderr: %s", o.Argv, errb.String())
		}
		return out.String(), code
	}
	out, code := run(ExecOptions{Argv: []string{"/bin/sh", "-c", "exit 0"}})
	if code != 1 {
		t.Fatalf("pot exec in a pot that does not run: exit %d (%q), want 1", code, out)
	}

	r := e.start(name)
	r.waitJailFile("ready")

	out, code = run(ExecOptions{Argv: sh(`for a in "$@"; do printf '%s\0' "$a"; done`, hostile...)})
	if got := splitNUL(out); code != 0 || !slices.Equal(got, hostile) {
		t.Fatalf("pot exec argv (exit %d):\n%q\nwant\n%q", code, got, hostile)
	}
	var env []EnvVar
	var refs []string
	for i, v := range hostile {
		n := "CT_E" + strconv.Itoa(i)
		env = append(env, EnvVar{Name: n, Value: v})
		refs = append(refs, `"${`+n+`-<unset>}"`)
	}
	out, code = run(ExecOptions{Env: env, Argv: sh(`printf '%s\0' ` + strings.Join(refs, " "))})
	if got := splitNUL(out); code != 0 || !slices.Equal(got, hostile) {
		t.Fatalf("pot exec -e (exit %d):\n%q\nwant\n%q", code, got, hostile)
	}
	e.noPwned(name)
	if _, code = run(ExecOptions{Argv: sh("exit 42")}); code != 42 {
		t.Fatalf("pot exec of exit 42: exit %d", code)
	}
	const ttyTest = `if [ -t 0 ] && [ -t 1 ]; then echo is-a-tty; else echo no-tty; fi`
	if out, code = run(ExecOptions{Argv: sh(ttyTest)}); code != 0 || strings.TrimSpace(out) != "no-tty" {
		t.Fatalf("pot exec without -t: %q, exit %d", out, code)
	}
	if out, code = run(ExecOptions{TTY: true, Argv: sh(ttyTest)}); code != 0 || !strings.Contains(out, "is-a-tty") {
		t.Fatalf("pot exec -t: %q, exit %d", out, code)
	}
	if _, code = run(ExecOptions{TTY: true, Argv: sh("exit 3")}); code != 3 {
		t.Fatalf("pot exec -t of exit 3: exit %d", code)
	}
	for _, bad := range []ExecOptions{
		{},
		{Argv: []string{""}},
		{Argv: []string{"/bin/true"}, HostUser: "root", PotUser: "root"},
		{Argv: []string{"/bin/true"}, Env: []EnvVar{{Name: "1BAD", Value: "x"}}},
		{Argv: []string{"/bin/true", "nul\x00byte"}},
	} {
		if _, err := e.c.ExecCommand(e.ctx(), name, bad); err == nil {
			t.Fatalf("ExecCommand %+v succeeded", bad)
		}
	}
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	r.waitCode(143)
}
