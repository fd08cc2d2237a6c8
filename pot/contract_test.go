// Contract tests: every method of the pot client run against a pot binary,
// asserting what a user of pot would see. The same tests run against potsim
// (cmd/potsim, the Linux stand-in) and against a real pot on FreeBSD, so a
// difference between the two shows up as a failing test on one of them.
//
// On Linux nothing needs to be set: the suite builds ../cmd/potsim once,
// gives every test a fresh POTSIM_ROOT and its own image server (httptest,
// serving IMAGE_TAG.xz and its .skein as `pot prepare` fetches them), and
// runs in parallel:
//
//	go test -race ./pot -run Contract
//
// On a FreeBSD host with pot installed and initialized (`pot init`, VNET and
// pf for public-bridge pots, kern.racct.enable=1 for GetRSS), as root, point
// the suite at pot and at an image server holding a FreeBSD image (any image
// with /bin/sh, printf, sleep and cat will do):
//
//	POT_CONTRACT_BIN=/usr/local/bin/pot \
//	POT_CONTRACT_IMAGE_URL=https://images.example.org/pots \
//	POT_CONTRACT_IMAGE=freebsd-base POT_CONTRACT_TAG=14.2 \
//	go test ./pot -run Contract -v
//
// POT_CONTRACT_IMAGE_URL is the base URL: pot fetches URL/IMAGE_TAG.xz. If
// pot.conf moves POT_TMP away from /tmp, set POT_CONTRACT_POT_TMP too (the
// main pid file is POT_TMP/pot_main_pid_NAME). Without the three image
// variables only the tests that need no pot run (Version, Config, errors
// about missing pots). Every pot a test makes has a unique name (ct + random
// hex) and is destroyed with -F when the test ends, also when it fails; the
// image pot IMAGE_TAG is pot's image cache and is left in place. A few checks
// are potsim-only (counting the image server's requests, connecting through
// an exported port, the image's own file); the test log says so on a real
// host. The cases that sign or alter images need an image server of the
// test's own (potsim, or pot's scripts on the FreeBSD emulation) and
// signify-openbsd; they skip on a real host.
//
// On other systems without POT_CONTRACT_BIN, the suite skips.
package pot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
)

// TestMain also lets the test binary act as a small TCP server inside a
// potsim pot (POT_CONTRACT_HELPER=echo): it listens on $_POT_IP:$POT_CONTRACT_PORT,
// greets every connection with its address and echoes what it reads.
func TestMain(m *testing.M) {
	if os.Getenv("POT_CONTRACT_HELPER") == "echo" {
		os.Exit(echoHelper())
	}
	code := m.Run()
	if potsimDir != "" {
		os.RemoveAll(potsimDir)
	}
	os.Exit(code)
}

func echoHelper() int {
	addr := net.JoinHostPort(os.Getenv("_POT_IP"), os.Getenv("POT_CONTRACT_PORT"))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo helper:", err)
		return 2
	}
	fmt.Println("listening on", addr)
	for {
		c, err := l.Accept()
		if err != nil {
			return 3
		}
		go func() {
			defer c.Close()
			fmt.Fprintf(c, "%s\n", os.Getenv("_POT_IP"))
			_, _ = io.Copy(c, c)
		}()
	}
}

// The target of the suite, decided once.
type contractTarget struct {
	bin    string // the pot binary (potsim when potsim is set)
	potsim bool
	skip   string // why the suite cannot run here
	err    error  // building potsim failed
	// The image of a real host (POT_CONTRACT_IMAGE_URL, _IMAGE, _TAG).
	imageURL, image, tag string
}

var (
	targetOnce sync.Once
	target     contractTarget
	potsimDir  string
)

func getTarget(t *testing.T) contractTarget {
	t.Helper()
	targetOnce.Do(func() {
		if bin := os.Getenv("POT_CONTRACT_BIN"); bin != "" {
			target = contractTarget{
				bin:      bin,
				imageURL: os.Getenv("POT_CONTRACT_IMAGE_URL"),
				image:    os.Getenv("POT_CONTRACT_IMAGE"),
				tag:      os.Getenv("POT_CONTRACT_TAG"),
			}
			return
		}
		if runtime.GOOS != "linux" {
			target.skip = "contract tests: set POT_CONTRACT_BIN (potsim runs on Linux only)"
			return
		}
		if _, err := os.Stat("/proc/self/stat"); err != nil {
			target.skip = "contract tests: potsim needs /proc"
			return
		}
		dir, err := os.MkdirTemp("", "pot-contract-")
		if err != nil {
			target.err = err
			return
		}
		potsimDir = dir
		// go test puts its own GOROOT/bin first in PATH.
		bin := filepath.Join(dir, "potsim")
		out, err := exec.Command("go", "build", "-o", bin, "../cmd/potsim").CombinedOutput()
		if err != nil {
			target.err = fmt.Errorf("building potsim: %v\n%s", err, out)
			return
		}
		target = contractTarget{bin: bin, potsim: true}
	})
	if target.skip != "" {
		t.Skip(target.skip)
	}
	if target.err != nil {
		t.Fatal(target.err)
	}
	return target
}

// potEnv is one test's view of the target: a client, the image to prepare
// pots from, and on potsim a state root and an image server of its own.
type potEnv struct {
	t      *testing.T
	tg     contractTarget
	c      *Client
	dir    string // the test's scratch folder
	root   string // POTSIM_ROOT (potsim)
	calls  string // POTSIM_CALL_LOG (potsim)
	srv    *imageServer
	url    string
	image  string
	tag    string
	fsOnce sync.Once
	fs     string
	simEnv []string // potsim variables set by potsimEnv
}

const (
	simImage = "ctimg"
	simTag   = "1.0" // the file keeps the dot, the image pot is ctimg_1_0
	// imageMarker is a file of potsim's test image (absent on a real host).
	imageMarker = "etc/contract-image"
)

// newBareEnv is a client of the target that may not prepare pots (a real
// host without the image variables is enough). On potsim its root has been
// through `pot init`, as a real host's has.
func newBareEnv(t *testing.T) *potEnv {
	t.Helper()
	e := newUninitEnv(t)
	if e.tg.potsim {
		// The operator's `pot init`, once per root (a real host's pot is
		// initialised already).
		e.potInit()
	}
	return e
}

// potInit runs `pot init` (potsim only: on a real host it is the
// operator's, and changes the host's configuration).
func (e *potEnv) potInit() {
	e.t.Helper()
	if !e.tg.potsim {
		e.t.Fatal("pot init is run on potsim only")
	}
	if out, err := exec.Command(e.c.Bin, "init").CombinedOutput(); err != nil {
		e.t.Fatalf("pot init: %v\n%s", err, out)
	}
}

// newUninitEnv is newBareEnv without `pot init`: on potsim a fresh root that
// pot init has not made yet.
func newUninitEnv(t *testing.T) *potEnv {
	t.Helper()
	tg := getTarget(t)
	e := &potEnv{t: t, tg: tg, dir: t.TempDir()}
	bin := tg.bin
	if tg.potsim {
		// A fresh POTSIM_ROOT per test. t.Setenv would forbid t.Parallel,
		// so each test gets a wrapper that sets it and execs potsim (same
		// pid, so Start's process is still pot start itself).
		e.root = filepath.Join(e.dir, "root")
		e.calls = filepath.Join(e.dir, "calls")
		bin = filepath.Join(e.dir, "pot")
		e.writeWrapper(bin)
	}
	e.c = New(bin, nil)
	e.c.CallTimeout = time.Minute
	e.c.PrepareTimeout = 5 * time.Minute
	return e
}

// writeWrapper writes the potsim wrapper script at bin: it sets the test's
// POTSIM_ROOT and POTSIM_CALL_LOG (and any potsimEnv) and execs potsim.
func (e *potEnv) writeWrapper(bin string) {
	e.t.Helper()
	script := "#!/bin/sh\n" +
		"POTSIM_ROOT=" + ShellQuoteWord(e.root) + "\n" +
		"POTSIM_CALL_LOG=" + ShellQuoteWord(e.calls) + "\n" +
		"export POTSIM_ROOT POTSIM_CALL_LOG\n"
	for _, kv := range e.simEnv {
		k, v, _ := strings.Cut(kv, "=")
		script += k + "=" + ShellQuoteWord(v) + "\nexport " + k + "\n"
	}
	script += "exec " + ShellQuoteWord(e.tg.bin) + ` "$@"` + "\n"
	// No fork may inherit the file while it is open for writing, or
	// running it fails with ETXTBSY: write a new file and rename it.
	tmp := bin + ".new"
	syscall.ForkLock.Lock()
	err := os.WriteFile(tmp, []byte(script), 0o755)
	syscall.ForkLock.Unlock()
	if err == nil {
		err = os.Rename(tmp, bin)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

// potsimEnv sets potsim's own variables (VAR=VALUE) for every later call of
// this test's client; nothing on a real pot.
func (e *potEnv) potsimEnv(kv ...string) {
	e.t.Helper()
	if !e.tg.potsim {
		return
	}
	e.simEnv = append(e.simEnv, kv...)
	e.writeWrapper(e.c.Bin)
}

// newPotEnv is a client that can prepare pots: on potsim with its own image
// server, on a real host with the image given by the environment (the test
// skips without it).
func newPotEnv(t *testing.T) *potEnv {
	t.Helper()
	e := newBareEnv(t)
	if e.tg.potsim {
		e.srv = newImageServer(t)
		e.srv.put(simImage, simTag, testImage(t), nil)
		e.url, e.image, e.tag = e.srv.URL(), simImage, simTag
		return e
	}
	if e.tg.imageURL == "" || e.tg.image == "" || e.tg.tag == "" {
		t.Skip("set POT_CONTRACT_IMAGE_URL, POT_CONTRACT_IMAGE and POT_CONTRACT_TAG to run the tests that prepare pots")
	}
	e.url, e.image, e.tag = e.tg.imageURL, e.tg.image, e.tg.tag
	return e
}

func (e *potEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	e.t.Cleanup(cancel)
	return ctx
}

// fsRoot is pot's fs_root.
func (e *potEnv) fsRoot() string {
	e.t.Helper()
	e.fsOnce.Do(func() {
		v, err := e.c.Config(context.Background(), "fs_root")
		if err != nil {
			e.t.Fatalf("config fs_root: %v", err)
		}
		e.fs = v
	})
	if e.fs == "" {
		e.t.Fatal("no fs_root")
	}
	return e.fs
}

// jailPath is the host path of path p inside the pot's file system
// (fs_root/jails/NAME/m/p): a jail's processes start in its root, so a
// relative path written by the task lands here.
func (e *potEnv) jailPath(name, p string) string {
	return filepath.Join(e.fsRoot(), "jails", name, "m", filepath.Clean("/"+p))
}

// mainPidFile is where pot keeps the main pid of a non-persistent pot:
// POT_TMP/pot_main_pid_NAME (POT_TMP is /tmp unless pot.conf changes it; say
// so with POT_CONTRACT_POT_TMP).
func (e *potEnv) mainPidFile(name string) string {
	if e.tg.potsim {
		return filepath.Join(e.root, "tmp", "pot_main_pid_"+name)
	}
	dir := os.Getenv("POT_CONTRACT_POT_TMP")
	if dir == "" {
		dir = "/tmp"
	}
	return filepath.Join(dir, "pot_main_pid_"+name)
}

// waitMainPid waits until pot start has written the main pid file (pot
// writes it half a second after starting the command) and returns it.
func (r *run) waitMainPid() string {
	r.e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if data, err := os.ReadFile(r.e.mainPidFile(r.name)); err == nil && strings.TrimSpace(string(data)) != "" {
			return strings.TrimSpace(string(data))
		}
		if time.Now().After(deadline) {
			r.e.t.Fatalf("pot %s: no main pid file %s\n%s", r.name, r.e.mainPidFile(r.name), r.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStatus waits until pot's status file (POT_TMP/pot_status_NAME, its
// last pot.status= line, "STATUS,INTERFACES") says status.
func (r *run) waitStatus(status string) {
	r.e.t.Helper()
	file := filepath.Join(filepath.Dir(r.e.mainPidFile(r.name)), "pot_status_"+r.name)
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(file)
		last := ""
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "pot.status="); ok {
				last, _, _ = strings.Cut(v, ",")
			}
		}
		if last == status {
			return
		}
		if time.Now().After(deadline) {
			r.e.t.Fatalf("pot %s: status %q, want %q\n%s", r.name, last, status, r.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// potsimCalls counts the calls of a pot subcommand so far (potsim only).
func (e *potEnv) potsimCalls(sub string) int {
	data, _ := os.ReadFile(e.calls)
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if l == sub {
			n++
		}
	}
	return n
}

func uniqueName() string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "ct" + hex.EncodeToString(b)
}

// prepare makes a pot (filling in the image, a unique name and an
// allocation) and destroys it when the test ends.
func (e *potEnv) prepare(o PrepareOptions) string {
	e.t.Helper()
	if o.URL == "" {
		o.URL, o.Image, o.Tag = e.url, e.image, e.tag
	}
	if o.Name == "" {
		o.Name = uniqueName()
	}
	if o.Alloc == "" {
		o.Alloc = "a1"
	}
	want := PotName(o.Name, o.Alloc)
	e.destroyAtEnd(want)
	name, err := e.c.Prepare(e.ctx(), o)
	if err != nil {
		e.t.Fatalf("prepare %s: %v", want, err)
	}
	if name != want {
		e.t.Fatalf("Prepare returned %q, want %q", name, want)
	}
	return name
}

// destroyAtEnd destroys the pot (-F) when the test ends, if it exists.
func (e *potEnv) destroyAtEnd(name string) {
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pots, err := e.c.List(ctx)
		if err == nil && !slices.Contains(pots, name) {
			return
		}
		if err := e.c.Destroy(ctx, name, true); err != nil {
			e.t.Errorf("cleanup: destroy %s: %v", name, err)
		}
	})
}

// sh is the argv of a /bin/sh script with positional parameters.
func sh(script string, args ...string) []string {
	return append([]string{"/bin/sh", "-c", script, "sh"}, args...)
}

// run is one `pot start` of a test.
type run struct {
	e              *potEnv
	name           string
	p              *Process
	stdout, stderr string
}

// start runs `pot start` with its output in files (as the driver does with
// Nomad's log fifos); if the run has not ended when the test does, the pot is
// stopped.
func (e *potEnv) start(name string) *run {
	e.t.Helper()
	r := &run{e: e, name: name,
		stdout: filepath.Join(e.dir, name+".stdout"), stderr: filepath.Join(e.dir, name+".stderr")}
	out, err := os.OpenFile(r.stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.OpenFile(r.stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	defer errf.Close()
	// The tasks announce themselves with a ready file: one left by an
	// earlier run must not be taken for this run's.
	if err := os.Remove(e.jailPath(name, "ready")); err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	p, err := e.c.Start(name, StartOptions{Stdout: out, Stderr: errf})
	if err != nil {
		e.t.Fatalf("start %s: %v", name, err)
	}
	r.p = p
	e.t.Cleanup(func() {
		select {
		case <-p.Done():
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = e.c.Stop(ctx, name)
		select {
		case <-p.Done():
		case <-time.After(30 * time.Second):
			_ = p.Kill()
			e.t.Errorf("cleanup: pot start -p %s did not end after pot stop", name)
		}
	})
	return r
}

// output is what pot start printed so far, for failure messages.
func (r *run) output() string {
	o, _ := os.ReadFile(r.stdout)
	se, _ := os.ReadFile(r.stderr)
	return fmt.Sprintf("stdout:\n%s\nstderr:\n%s", o, se)
}

// wait waits for the run's end and returns its result.
func (r *run) wait(timeout time.Duration) (ExitStatus, error) {
	r.e.t.Helper()
	select {
	case <-r.p.Done():
	case <-time.After(timeout):
		r.e.t.Fatalf("pot %s: still running after %s\n%s", r.name, timeout, r.output())
	}
	return r.p.Result()
}

// waitCode waits for the run's end and checks its exit code.
func (r *run) waitCode(want int) {
	r.e.t.Helper()
	st, err := r.wait(30 * time.Second)
	if err != nil {
		r.e.t.Fatalf("pot %s: Result: %v\n%s", r.name, err, r.output())
	}
	if st.Code != want || st.Signal != 0 {
		r.e.t.Fatalf("pot %s: Result %+v, want code %d\n%s", r.name, st, want, r.output())
	}
}

// waitJailFile waits until the task has written path (relative to the jail's
// root) and returns its content.
func (r *run) waitJailFile(path string) string {
	r.e.t.Helper()
	full := r.e.jailPath(r.name, path)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if data, err := os.ReadFile(full); err == nil && len(data) > 0 {
			return string(data)
		}
		select {
		case <-r.p.Done():
			st, err := r.p.Result()
			r.e.t.Fatalf("pot %s ended (%+v, %v) before writing %s\n%s", r.name, st, err, path, r.output())
		default:
		}
		if time.Now().After(deadline) {
			r.e.t.Fatalf("pot %s: %s not written\n%s", r.name, path, r.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readJail reads a file of the pot's file system.
func (e *potEnv) readJail(name, path string) string {
	e.t.Helper()
	data, err := os.ReadFile(e.jailPath(name, path))
	if err != nil {
		e.t.Fatalf("pot %s: %v", name, err)
	}
	return string(data)
}

// waitRunning waits until IsRunning says want.
func (e *potEnv) waitRunning(name string, want bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := e.c.IsRunning(e.ctx(), name)
		if err != nil {
			e.t.Fatalf("IsRunning %s: %v", name, err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("IsRunning %s stayed %v", name, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// splitNUL splits printf '%s\0' output.
func splitNUL(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\x00"), "\x00")
}

// wantPotError checks that err is pot exiting with code and that the
// error's message holds every one of msgs.
func wantPotError(t *testing.T, what string, err error, code int, msgs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want pot's exit status %d", what, code)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: error %v (%T) is not a *pot.Error", what, err, err)
	}
	if pe.ExitCode != code {
		t.Fatalf("%s: exit status %d, want %d: %v", what, pe.ExitCode, code, err)
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Fatalf("%s: error %q does not mention %q", what, err, m)
		}
	}
	t.Logf("%s: %v", what, err)
}

// hostile are arguments and values a shell would mangle or run.
var hostile = []string{
	"$(touch pwned-cmdsubst)",
	"`touch pwned-backquote`",
	"a; touch pwned-semicolon",
	"x && touch pwned-and",
	"x | touch pwned-pipe",
	`"double quoted"`,
	"'single quoted'",
	"it's",
	`'\''`,
	"two  spaces",
	" leading and trailing ",
	"",
	"*",
	"?",
	"[a-z]",
	`back\slash`,
	`C:\dir\n`,
	`\`,
	`no newline\c`,
	"$HOME",
	"${PATH}",
	"$$",
	"$1",
	"~",
	"#not a comment",
	"--",
	"-c",
	"-n",
	">redirect",
	"<in",
	"tab\there",
	"!bang",
	"{a,b}",
	"ünïcödé ✓",
}

// noPwned checks that no hostile word was run as a command in the jail
// (whose commands start in / or, for pot exec, in root's home).
func (e *potEnv) noPwned(name string) {
	e.t.Helper()
	for _, dir := range []string{"/", "/root"} {
		matches, _ := filepath.Glob(e.jailPath(name, dir+"/pwned-*"))
		if len(matches) > 0 {
			e.t.Fatalf("a hostile value was run by a shell: %v", matches)
		}
		if _, err := os.Stat(e.jailPath(name, dir+"/redirect")); err == nil {
			e.t.Fatalf("a hostile value was run by a shell: %s/redirect exists", dir)
		}
	}
}

// imageServer serves images as pot fetches them: URL/IMAGE_TAG.xz, its
// .skein (the hash pot checks) and, where it has them, its .meta and
// .skein.sig; it counts the requests.
type imageServer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
}

func newImageServer(t *testing.T) *imageServer {
	s := &imageServer{files: map[string][]byte{}, hits: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		body, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *imageServer) URL() string { return s.srv.URL }

// put serves body as the image IMAGE_TAG with its .skein, made as pot
// export makes it from the image and its .meta (with imagehash's stand-in
// for Skein-1024, which potsim and the emulation's skein1024 compute), and
// the .meta unless it is nil (pot then hashes an empty one).
func (s *imageServer) put(image, tag string, body, meta []byte) {
	name := ImageFile(image, tag)
	s.putFile(name, body)
	s.putFile(name+".skein", imagehash.Skein(body, meta))
	if meta != nil {
		s.putFile(name+".meta", meta)
	}
}

// putFile serves body as URL/NAME: a signature, an image changed after
// its .skein was made.
func (s *imageServer) putFile(name string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files["/"+name] = body
}

// file is what the server serves as URL/NAME.
func (s *imageServer) file(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files["/"+name]
}

// requests counts the requests of the image IMAGE_TAG.xz itself.
func (s *imageServer) requests(image, tag string) int { return s.fileRequests(ImageFile(image, tag)) }

// fileRequests counts the requests of URL/NAME.
func (s *imageServer) fileRequests(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits["/"+name]
}

// testImage is potsim's image: a root file system as a tar archive (potsim
// takes an uncompressed one for IMAGE_TAG.xz) with a marker file.
func testImage(t *testing.T) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"etc/", "root/", "tmp/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
			t.Fatal(err)
		}
	}
	body := "pot contract image\n"
	if err := tw.WriteHeader(&tar.Header{Name: imageMarker, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// freePort returns a port nothing listens on now (tcp or udp).
func freePort(t *testing.T, proto string) uint16 {
	t.Helper()
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}
