package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
)

// The test binary doubles as potsim (POTSIM_TEST_MAIN=1) and as a small TCP
// echo server to run inside a pot (ECHO_LISTEN=ADDR).
func TestMain(m *testing.M) {
	if os.Getenv("POTSIM_TEST_MAIN") == "1" || (len(os.Args) > 1 && os.Args[1] == jailExecCmd) {
		os.Exit(run(os.Args[1:]))
	}
	if addr := os.Getenv("ECHO_LISTEN"); addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(3)
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}
	os.Exit(m.Run())
}

type potsimEnv struct {
	t    *testing.T
	root string
	log  string
}

func newPotsimEnv(t *testing.T) *potsimEnv {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	d := t.TempDir()
	e := &potsimEnv{t: t, root: filepath.Join(d, "root"), log: filepath.Join(d, "calls")}
	// As an operator does before anything else.
	e.must("init")
	return e
}

// newUninitEnv is a potsim whose root was never initialised.
func newUninitEnv(t *testing.T) *potsimEnv {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	d := t.TempDir()
	return &potsimEnv{t: t, root: filepath.Join(d, "root"), log: filepath.Join(d, "calls")}
}

func (e *potsimEnv) cmd(args ...string) *exec.Cmd {
	c := exec.Command(os.Args[0], args...)
	c.Env = append(os.Environ(), "POTSIM_TEST_MAIN=1", "POTSIM_ROOT="+e.root, "POTSIM_CALL_LOG="+e.log)
	return c
}

// pot runs potsim and returns stdout, stderr and the exit status.
func (e *potsimEnv) pot(args ...string) (string, string, int) {
	e.t.Helper()
	c := e.cmd(args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("potsim %q: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (e *potsimEnv) must(args ...string) string {
	e.t.Helper()
	out, errs, code := e.pot(args...)
	if code != 0 {
		e.t.Fatalf("potsim %q: exit %d\nstdout: %s\nstderr: %s", args, code, out, errs)
	}
	return out
}

func writeTarImage(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	writeImage(t, path, buf.Bytes())
}

// writeImage writes an image file as pot export leaves it on an image
// server: the image and its .skein (imagehash's stand-in, which potsim's
// import checks).
func writeImage(t *testing.T, path string, body []byte) {
	t.Helper()
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := imagehash.WriteSkein(path); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// status is the pot's status as set-status keeps it ("" for none).
func (e *potsimEnv) status(name string) string {
	data, _ := os.ReadFile(filepath.Join(e.root, "tmp", "pot_status_"+name))
	v := strings.TrimPrefix(strings.TrimSpace(string(data)), "pot.status=")
	st, _, _ := strings.Cut(v, ",")
	return st
}

// waitStarted waits for the end of pot start's starting window.
func (e *potsimEnv) waitStarted(name string) {
	e.t.Helper()
	waitFor(e.t, name+" to be started", func() bool { return e.status(name) == "started" })
}

func TestEndToEndBatch(t *testing.T) {
	e := newPotsimEnv(t)
	imgDir := t.TempDir()
	writeTarImage(t, filepath.Join(imgDir, "img_1.2.xz"), map[string]string{"hello.txt": "from image\n"})
	url := "file://" + imgDir

	if out := e.must("version", "-q"); out != "0.16.0\n" {
		t.Errorf("version -q = %q", out)
	}
	if out := e.must("config", "-q", "-g", "fs_root"); strings.TrimSpace(out) != e.root {
		t.Errorf("fs_root = %q", out)
	}
	cmd := `'/bin/sh' '-c' 'echo "A=$A" "$_POT_NAME"; cat hello.txt; echo err >&2; exit 3'`
	e.must("prepare", "-U", url, "-p", "img", "-t", "1.2", "-a", "a.1", "-n", "job", "-c", cmd, "-N", "inherit")
	if out := e.must("ls", "-q"); out != "img_1_2\njob_a_1\n" {
		t.Errorf("ls -q = %q", out)
	}
	e.must("set-env", "-p", "job_a_1", "-E", `A=\$x "q" `+"\\`")
	out, errs, code := e.pot("start", "-p", "job_a_1")
	if code != 125 {
		t.Fatalf("start exit %d, want 125\n%s%s", code, out, errs)
	}
	// jail(8)'s "NAME: created" before the command's output; the empty line
	// after it is what set-status stopping prints (no interfaces).
	wantOut := "===>  Starting the pot job_a_1\njob_a_1: created\nA=$x \"q\" ` job_a_1\nfrom image\n\n###>  job_a_1 reported application error\n"
	if out != wantOut || errs != "err\n" {
		t.Errorf("start stdout %q stderr %q", out, errs)
	}
	if out := e.must("last-run-stats", "-p", "job_a_1"); out != "{ \"ExitCode\": 3 }\n" {
		t.Errorf("last-run-stats = %q", out)
	}
	if out := e.must("last-run-stats", "-p", "img_1_2"); out != "{}\n" {
		t.Errorf("last-run-stats of a pot that never ran = %q", out)
	}
	if _, _, code := e.pot("info", "-q", "-r", "-p", "job_a_1"); code != 1 {
		t.Errorf("info -r of a stopped pot: %d", code)
	}

	// The image is imported once: a second prepare works without it.
	if err := os.Remove(filepath.Join(imgDir, "img_1.2.xz")); err != nil {
		t.Fatal(err)
	}
	e.must("prepare", "-U", url, "-p", "img", "-t", "1.2", "-a", "b", "-n", "job", "-c", "true")
	if _, _, code := e.pot("prepare", "-U", url, "-p", "img", "-t", "1.2", "-a", "b", "-n", "job"); code != 1 {
		t.Errorf("prepare of an existing pot: exit %d", code)
	}
	if _, errs, code := e.pot("prepare", "-U", url, "-p", "other", "-t", "1", "-a", "c", "-n", "job"); code != 1 || !strings.Contains(errs, url+"/other_1.xz") {
		t.Errorf("prepare of a missing image: exit %d, stderr %q", code, errs)
	}
	if _, _, code := e.pot("start", "-p", "job_b"); code != 0 {
		t.Errorf("start of `true`: exit %d", code)
	}

	e.must("destroy", "-F", "-p", "job_a_1")
	e.must("destroy", "-p", "job_b", "-F")
	e.must("destroy", "-p", "img_1_2")
	if out := e.must("ls", "-q"); out != "" {
		t.Errorf("ls -q after destroy = %q", out)
	}
	if _, _, code := e.pot("destroy", "-p", "img_1_2"); code != 1 {
		t.Errorf("destroy of a missing pot: exit %d", code)
	}
	calls, _ := os.ReadFile(e.log)
	if n := strings.Count(string(calls), "prepare\n"); n != 4 {
		t.Errorf("call log has %d prepare lines:\n%s", n, calls)
	}
}

func TestEndToEndService(t *testing.T) {
	e := newPotsimEnv(t)
	imgDir := t.TempDir()
	writeImage(t, filepath.Join(imgDir, "svc_1.xz"), []byte("opaque"))
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostPort := l.Addr().(*net.TCPAddr).Port
	l.Close()

	self, _ := filepath.Abs(os.Args[0])
	e.must("prepare", "-U", "file://"+imgDir, "-p", "svc", "-t", "1", "-a", "x", "-n", "svc",
		"-c", shSingleQuote(self), "-N", "public-bridge", "-i", "auto", "-e", fmt.Sprintf("7777:%d", hostPort))
	env := e.must("info", "-E", "-p", "svc_x")
	if env != "export _POT_NAME=svc_x\nexport _POT_IP=127.192.0.2\n" {
		t.Errorf("info -E = %q", env)
	}
	e.must("set-env", "-p", "svc_x", "-E", "ECHO_LISTEN=127.192.0.2:7777")
	e.must("set-attribute", "-p", "svc_x", "-A", "stop_timeout", "-V", "2")

	start := e.cmd("start", "-p", "svc_x")
	stdout, _ := start.StdoutPipe()
	start.Stderr = os.Stderr
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if lines.Text() == "listening" {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	e.waitStarted("svc_x")
	if _, _, code := e.pot("info", "-q", "-r", "-p", "svc_x"); code != 0 {
		t.Errorf("info -r of a running pot: %d", code)
	}
	if out := e.must("ps", "-q"); out != "svc_x\n" {
		t.Errorf("ps -q = %q", out)
	}
	if out := e.must("info", "-E", "-p", "svc_x"); !strings.Contains(out, "export _POT_JID=") {
		t.Errorf("info -E of a running pot = %q", out)
	}

	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", hostPort), 5*time.Second)
	if err != nil {
		t.Fatalf("forwarded port: %v", err)
	}
	_, _ = c.Write([]byte("ping\n"))
	reply, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if reply != "ping\n" {
		t.Errorf("echo through the forwarded port = %q", reply)
	}

	var rss struct {
		ResourceUsage struct {
			MemoryStats struct{ RSS, Swap int64 }
			CpuStats    struct {
				TotalTicks float64
				Percent    int64
			}
		}
	}
	if err := json.Unmarshal([]byte(e.must("get-rss", "-p", "svc_x", "-J")), &rss); err != nil {
		t.Fatalf("get-rss -J: %v", err)
	}
	if rss.ResourceUsage.MemoryStats.RSS <= 0 {
		t.Errorf("RSS = %d", rss.ResourceUsage.MemoryStats.RSS)
	}

	out, _, code := e.pot("exec", "-p", "svc_x", "-e", "V=1", "/bin/sh", "-c", `echo "$V $USER"; exit 7`)
	if code != 7 || out != "1 root\n" {
		t.Errorf("exec: exit %d, %q", code, out)
	}
	if _, _, code := e.pot("signal", "-p", "svc_x", "-s", "NOSIG"); code != 1 {
		t.Errorf("signal with a bad name: exit %d", code)
	}
	e.must("signal", "-p", "svc_x", "-s", "SIGTERM")
	waitErr := start.Wait()
	if ee, ok := waitErr.(*exec.ExitError); !ok || ee.ExitCode() != 125 {
		t.Errorf("start after SIGTERM: %v", waitErr)
	}
	if out := e.must("last-run-stats", "-p", "svc_x"); out != "{ \"ExitCode\": 143 }\n" {
		t.Errorf("last-run-stats = %q", out)
	}
	waitFor(t, "pot to stop", func() bool { _, _, code := e.pot("info", "-q", "-r", "-p", "svc_x"); return code == 1 })
	if out := e.must("ps", "-q"); out != "" {
		t.Errorf("ps -q = %q", out)
	}
	if _, _, code := e.pot("get-rss", "-p", "svc_x", "-J"); code != 1 {
		t.Errorf("get-rss of a stopped pot: exit %d", code)
	}
	e.must("stop", "-p", "svc_x")
	e.must("destroy", "-F", "-p", "svc_x")
}

func TestEndToEndStop(t *testing.T) {
	e := newPotsimEnv(t)
	imgDir := t.TempDir()
	writeImage(t, filepath.Join(imgDir, "i_1.xz"), nil)
	e.must("prepare", "-U", "file://"+imgDir, "-p", "i", "-t", "1", "-a", "s", "-n", "p",
		"-c", `/bin/sh -c 'sleep 100 & sleep 100; exit 0'`)
	if _, _, code := e.pot("stop", "-p", "p_s"); code != 1 {
		t.Errorf("stop of a pot that never started: exit %d", code)
	}
	if _, _, code := e.pot("stop", "-p", "nopot"); code != 0 {
		t.Errorf("stop of no pot: exit %d", code)
	}
	start := e.cmd("start", "-p", "p_s")
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pot to run", func() bool { _, _, code := e.pot("info", "-q", "-r", "-p", "p_s"); return code == 0 })
	if _, _, code := e.pot("start", "-p", "p_s"); code != 0 {
		t.Errorf("start of a running pot: exit %d", code)
	}
	if _, _, code := e.pot("destroy", "-p", "p_s"); code != 1 {
		t.Errorf("destroy of a running pot without -F: exit %d", code)
	}
	e.waitStarted("p_s")
	e.must("stop", "-p", "p_s")
	// pot stop does not wait for pot start, which then finds the pot
	// stopping (exit 0) or already stopped (exit 125: 143 is not 0).
	if err := start.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 {
			t.Errorf("start after stop: %v", err)
		}
	}
	if out := e.must("last-run-stats", "-p", "p_s"); out != "{ \"ExitCode\": 143 }\n" {
		t.Errorf("last-run-stats = %q", out)
	}
	if _, _, code := e.pot("info", "-q", "-r", "-p", "p_s"); code != 1 {
		t.Errorf("still running after stop")
	}
	e.must("stop", "-p", "p_s") // stopped -> stopping is allowed
}

// pot start's starting window: the command runs for half a second while the
// status is still "starting" and the main pid file is not written; pot stop
// refuses the pot, pot signal finds no main process (exit 3; -f: 0, nothing
// sent). A pot start killed in the window leaves the pot "starting" for
// good, until set-status doa.
func TestEndToEndStartingWindow(t *testing.T) {
	e := newPotsimEnv(t)
	imgDir := t.TempDir()
	writeImage(t, filepath.Join(imgDir, "i_1.xz"), nil)
	e.must("prepare", "-U", "file://"+imgDir, "-p", "i", "-t", "1", "-a", "w", "-n", "p",
		"-c", `/bin/sh -c 'trap "echo usr1 >> sig.out" USR1; echo $$ > ready; while :; do sleep 1 & wait $!; done'`)
	if out, _, code := e.pot("set-status", "-p", "p_w", "-s", "started"); code != 1 || out != "" {
		t.Errorf("set-status started of a pot never started: exit %d, %q", code, out)
	}
	// An unknown status is reported, and then taken as none: the same as
	// that of a pot that never ran.
	if out, _, code := e.pot("set-status", "-p", "p_w", "-s", "nosuch"); code != 2 || !strings.Contains(out, "nosuch is not a valid status") {
		t.Errorf("set-status nosuch: exit %d, %q", code, out)
	}
	ready := filepath.Join(e.root, "jails", "p_w", "m", "ready")
	pidFile := filepath.Join(e.root, "tmp", "pot_main_pid_p_w")
	start := e.cmd("start", "-p", "p_w")
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	waitFor(t, "the command to run", func() bool { return fileExists(ready) })
	if got := e.status("p_w"); got != "starting" || fileExists(pidFile) {
		t.Fatalf("in the window: status %q, pid file %v", got, fileExists(pidFile))
	}
	out, _, code := e.pot("stop", "-p", "p_w")
	if code != 1 || !strings.Contains(out, "###>  pot p_w is not in a state where it can be stopped") {
		t.Errorf("stop in the window: exit %d, %q", code, out)
	}
	out, errs, code := e.pot("signal", "-p", "p_w", "-s", "USR1")
	if code != 3 || !strings.Contains(out, "###>  Sending signal failed") || !strings.Contains(errs, "Cannot open pidfile") {
		t.Errorf("signal in the window: exit %d, %q, %q", code, out, errs)
	}
	if out, _, code := e.pot("signal", "-p", "p_w", "-s", "USR1", "-f"); code != 0 || !strings.Contains(out, "===>  Sending signal failed") {
		t.Errorf("signal -f in the window: exit %d, %q", code, out)
	}
	if d := time.Since(begin); d > 400*time.Millisecond {
		t.Logf("the window checks took %s: some may have run after it", d)
	}
	e.waitStarted("p_w")
	if took := time.Since(begin); took < 400*time.Millisecond {
		t.Errorf("the window lasted %s, want about 0.5 s", took)
	}
	if !fileExists(pidFile) {
		t.Error("no main pid file once started")
	}
	if _, err := os.Stat(filepath.Join(e.root, "jails", "p_w", "m", "sig.out")); err == nil {
		t.Error("signal -f in the window delivered the signal")
	}
	// Killed in the window: stuck in "starting", the command still runs.
	if err := start.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = start.Wait()
	e.must("stop", "-p", "p_w")
	if err := os.Remove(ready); err != nil {
		t.Fatal(err)
	}
	start = e.cmd("start", "-p", "p_w")
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the command to run again", func() bool { return fileExists(ready) })
	if err := start.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = start.Wait()
	time.Sleep(700 * time.Millisecond)
	if got := e.status("p_w"); got != "starting" {
		t.Fatalf("status after pot start was killed in the window: %q", got)
	}
	if _, _, code := e.pot("info", "-q", "-r", "-p", "p_w"); code != 0 {
		t.Error("the jail of a killed pot start does not run")
	}
	if _, _, code := e.pot("stop", "-p", "p_w"); code != 1 {
		t.Errorf("stop of a stuck pot: exit %d", code)
	}
	if out, _, code := e.pot("destroy", "-F", "-p", "p_w"); code != 1 || !strings.Contains(out, "not in a state where it can be stopped") {
		t.Errorf("destroy -F of a stuck pot: exit %d, %q", code, out)
	}
	if _, _, code := e.pot("set-status", "-p", "p_w", "-s", "starting"); code != 2 {
		t.Errorf("set-status to the current status: exit %d", code)
	}
	e.must("set-status", "-p", "p_w", "-s", "doa")
	e.must("destroy", "-F", "-p", "p_w")
	if fileExists(filepath.Join(e.root, "jails", "p_w")) {
		t.Error("the pot outlived destroy -F")
	}
	if _, _, code := e.pot("set-status", "-p", "p_w", "-s", "doa"); code != 1 {
		t.Errorf("set-status of no pot: exit %d", code)
	}
}

// pot stop does not wait for pot start: with POTSIM_STATS_DELAY the command's
// exit code reaches last-run-stats after stop has returned, and pot start,
// finding the pot already stopped, exits 125 for the 143 of SIGTERM.
func TestEndToEndStopDoesNotWaitForStart(t *testing.T) {
	e := newPotsimEnv(t)
	imgDir := t.TempDir()
	writeImage(t, filepath.Join(imgDir, "i_1.xz"), nil)
	e.must("prepare", "-U", "file://"+imgDir, "-p", "i", "-t", "1", "-a", "l", "-n", "p", "-c", "sleep 100")
	start := e.cmd("start", "-p", "p_l")
	start.Env = append(start.Env, "POTSIM_STATS_DELAY=3s")
	var out bytes.Buffer
	start.Stdout = &out
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	e.waitStarted("p_l")
	begin := time.Now()
	e.must("stop", "-p", "p_l")
	if took := time.Since(begin); took > 2500*time.Millisecond {
		t.Fatalf("stop took %s: it waited for pot start", took)
	}
	if got := e.must("last-run-stats", "-p", "p_l"); got != "{}\n" {
		t.Errorf("last-run-stats right after stop = %q, want {} (not yet written)", got)
	}
	if got := e.status("p_l"); got != "stopped" {
		t.Errorf("status after stop = %q", got)
	}
	err := start.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 {
		t.Errorf("start after a finished stop: %v, want exit 125\n%s", err, out.String())
	}
	if got := e.must("last-run-stats", "-p", "p_l"); got != "{ \"ExitCode\": 143 }\n" {
		t.Errorf("last-run-stats = %q", got)
	}
	if got := e.status("p_l"); got != "stopped" {
		t.Errorf("status after pot start's clean-up = %q", got)
	}
	want := "===>  Starting the pot p_l\np_l: created\n\n###>  p_l reported application error\n"
	if out.String() != want {
		t.Errorf("start stdout %q, want %q", out.String(), want)
	}
}
