package driver

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/helper/testlog"
	"github.com/hashicorp/nomad/helper/uuid"
	"github.com/hashicorp/nomad/nomad/structs"
	"github.com/hashicorp/nomad/plugins/base"
	"github.com/hashicorp/nomad/plugins/drivers"
	dtestutil "github.com/hashicorp/nomad/plugins/drivers/testutils"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// The driver tests run the real plugin through Nomad's gRPC harness against
// potsim, the pot stand-in, built once for the package — or, with
// POT_DRIVER_TEST_BIN, against that pot (pot's own scripts on the FreeBSD
// emulation: make test-realpot), whose images are the exported image
// POT_DRIVER_TEST_IMAGE (IMAGE_TAG.xz beside its .skein and .meta).
// Tasks that serve HTTP run e2e/webserver: built here for potsim (whose
// jails see the host's files), POT_DRIVER_TEST_WEBSERVER in the image on
// pot's scripts.
var (
	potsimBin string
	onRealPot bool
	webServer string
)

func TestMain(m *testing.M) {
	if bin := os.Getenv("POT_DRIVER_TEST_BIN"); bin != "" {
		potsimBin, onRealPot = bin, true
		webServer = os.Getenv("POT_DRIVER_TEST_WEBSERVER")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "potsim-bin-")
	if err != nil {
		panic(err)
	}
	potsimBin = filepath.Join(dir, "potsim")
	webServer = filepath.Join(dir, "webserver")
	for out, pkg := range map[string]string{potsimBin: "../cmd/potsim", webServer: "../e2e/webserver"} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", pkg, err)
			os.RemoveAll(dir)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testEnv is one potsim root with an image server in front of it, on a
// machine with ZFS: the emulation's zfs and zpool first on PATH, pot's
// ZFS root zroot/pot there, where potsim keeps its pots' datasets (on pot's
// scripts: the emulated machine's own).
type testEnv struct {
	t        *testing.T
	emu      *emulation.Machine // nil on pot's scripts
	root     string
	network  string // prefix of the pot network's addresses, "127.N."
	imageURL string
	client   *pot.Client
}

const (
	testImage = "freebsd-base"
	testTag   = "14.3"
)

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	// Not t.TempDir: a jail's last writes may land while it is removed.
	root, err := os.MkdirTemp("", "potsim-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50 && os.RemoveAll(root) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	// potsim is started by the driver, which passes its own environment on.
	t.Setenv("POTSIM_ROOT", root)
	var emu *emulation.Machine
	if !onRealPot {
		emu = emulation.New(t, "zfs", "zpool")
		emu.Setenv(t)
		emu.Pool("zroot", "zroot/pot/jails")
		potsimInit(t, root)
	}
	// The harness makes two folders per alloc dir with os.MkdirTemp and
	// removes neither: keep them in a folder of the test's.
	tmp, err := os.MkdirTemp("", "driver-test-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50 && os.RemoveAll(tmp) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Setenv("TMPDIR", tmp)
	// A pot network of its own, so pots of other potsim roots on this
	// machine (benchmarks, e2e) never share an address with ours.
	network := fmt.Sprintf("127.%d.", 200+rand.IntN(50))
	t.Setenv("POTSIM_NETWORK", network+"0.0/16")
	if onRealPot {
		// The pot network is pot's own: the first half of its gateway.
		gw, err := pot.New(potsimBin, nil).Config(context.Background(), "gateway")
		if f := strings.Split(gw, "."); err != nil || len(f) != 4 {
			t.Fatalf("pot config gateway: %q %v", gw, err)
		} else {
			network = f[0] + "." + f[1] + "."
		}
	}
	image := testImageTar(t)
	imageSkein := imagehash.Skein(image, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// pot fetches IMAGE_TAG.xz with the tag's dots kept, its
		// .skein and .meta (potsim's image has none). Other images
		// named testImage-SOMETHING are the same file system.
		if !strings.HasPrefix(r.URL.Path, "/"+testImage) {
			http.NotFound(w, r)
			return
		}
		if onRealPot {
			for _, ext := range []string{".xz", ".xz.skein", ".xz.meta"} {
				if strings.HasSuffix(r.URL.Path, "_"+testTag+ext) {
					http.ServeFile(w, r, strings.TrimSuffix(os.Getenv("POT_DRIVER_TEST_IMAGE"), ".xz")+ext)
					return
				}
			}
		} else if strings.HasSuffix(r.URL.Path, "_"+testTag+".xz") {
			_, _ = w.Write(image)
			return
		} else if strings.HasSuffix(r.URL.Path, "_"+testTag+".xz.skein") {
			// The hash potsim checks, as pot does (no .meta: hashed as
			// an empty one).
			_, _ = w.Write(imageSkein)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	e := &testEnv{t: t, emu: emu, root: root, network: network, imageURL: srv.URL, client: pot.New(potsimBin, nil)}
	// The test's drivers shut down after every task's cleanup and the
	// check below.
	t.Cleanup(func() {
		for _, d := range testDrivers(t) {
			d.Shutdown()
		}
	})
	// Runs after every task's cleanup: a test destroys what it makes (a
	// real pot's root may hold pots of before the test).
	before := e.taskPots()
	t.Cleanup(func() {
		var left []string
		for _, p := range e.taskPots() {
			if !slices.Contains(before, p) {
				left = append(left, p)
			}
		}
		if len(left) > 0 {
			t.Errorf("pots left behind when the test ended: %v", left)
		}
	})
	return e
}

// potsimInit runs potsim's `pot init` on root, as an operator initialises
// pot before anything else. Without POTSIM_CALL_LOG: call counts are the
// driver's.
func potsimInit(tb testing.TB, root string) {
	tb.Helper()
	cmd := exec.Command(potsimBin, "init")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POTSIM_ROOT=") && !strings.HasPrefix(kv, "POTSIM_CALL_LOG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "POTSIM_ROOT="+root)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("potsim init (POTSIM_ROOT=%s): %v\n%s", root, err, out)
	}
}

// testImageTar is the image's file system: a base system's folders (potsim
// unpacks a tar where pot would receive a ZFS stream).
func testImageTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"bin/", "etc/", "tmp/", "usr/", "usr/local/", "var/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []struct {
		name string
		mode int64
		body string
	}{
		{"etc/resolv.conf", 0o644, "# image's resolv.conf\n"},
		// The base system's sh, which the tests' tasks run: potsim runs
		// the host's (its jails are not chroots), but the driver looks
		// for a program that cannot run in the jail's own file system.
		{"bin/sh", 0o755, "#!/bin/sh\n# stands for FreeBSD's sh\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// taskPots lists the pots that are not image cache pots.
func (e *testEnv) taskPots() []string {
	e.t.Helper()
	names, err := e.client.List(context.Background())
	if err != nil {
		e.t.Fatalf("potsim ls: %v", err)
	}
	var out []string
	for _, n := range names {
		// Image pots and, on a real pot, pots of others (the contract
		// suite's image) are not the tests' tasks.
		if !isTestImagePot(n) && (!onRealPot || driverPotName.MatchString(n)) {
			out = append(out, n)
		}
	}
	return out
}

// isTestImagePot: the image pots of testImage and its testImage-X variants.
func isTestImagePot(n string) bool {
	return strings.HasPrefix(n, testImage) && strings.HasSuffix(n, "_"+strings.ReplaceAll(testTag, ".", "_")) && !driverPotName.MatchString(n)
}

func (e *testEnv) newDriver() (*Driver, *dtestutil.DriverHarness) {
	e.t.Helper()
	return e.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin})
}

func (e *testEnv) newDriverWith(cfg *hclspec.PluginConfig) (*Driver, *dtestutil.DriverHarness) {
	e.t.Helper()
	d := New(testlog.HCLogger(e.t))
	h := dtestutil.NewDriverHarness(e.t, d)
	addTestDriver(e.t, d)
	var data []byte
	if err := base.MsgPackEncode(&data, cfg); err != nil {
		e.t.Fatal(err)
	}
	if err := h.SetConfig(&base.Config{PluginConfig: data}); err != nil {
		e.t.Fatalf("SetConfig: %v", err)
	}
	return d, h
}

// task returns a task config running script through /bin/sh in the pot.
func (e *testEnv) task(name, script string) (*drivers.TaskConfig, *hclspec.TaskConfig) {
	allocID := uuid.Generate()
	cfg := &drivers.TaskConfig{
		ID:      fmt.Sprintf("%s/%s/%s", allocID, name, uuid.Generate()[:8]),
		AllocID: allocID,
		JobName: "test-job",
		JobID:   "test-job",
		Name:    name,
		Resources: &drivers.Resources{
			NomadResources: &structs.AllocatedTaskResources{
				Memory: structs.AllocatedMemoryResources{MemoryMB: 128},
				Cpu:    structs.AllocatedCpuResources{CpuShares: 100},
			},
			LinuxResources: &drivers.LinuxResources{MemoryLimitBytes: 128 << 20, CPUShares: 100},
		},
	}
	tc := &hclspec.TaskConfig{
		Image:       e.imageURL,
		Pot:         testImage,
		Tag:         testTag,
		Command:     "/bin/sh",
		Args:        []string{"-c", script},
		ExactArgs:   true,
		NetworkMode: "inherit",
	}
	return cfg, tc
}

func encode(t *testing.T, cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) {
	t.Helper()
	if err := cfg.EncodeConcreteDriverConfig(tc); err != nil {
		t.Fatal(err)
	}
}

// start starts the task through the harness with logs enabled.
func start(t *testing.T, h *dtestutil.DriverHarness, cfg *drivers.TaskConfig, tc *hclspec.TaskConfig) *drivers.TaskHandle {
	t.Helper()
	encode(t, cfg, tc)
	allocDir(t, h, cfg, true)
	handle, _, err := h.StartTask(cfg)
	if err != nil {
		t.Fatalf("StartTask: %v", err)
	}
	return handle
}

// allocDir builds the task's alloc dir (MkAllocDir). When the test ends the
// task is destroyed — through the drivers themselves (the one that recovered
// it may not be the one that started it; the harness's cleanup of another
// alloc dir may have closed its gRPC connection by then) — and only then is
// the alloc dir removed.
func allocDir(t *testing.T, h *dtestutil.DriverHarness, cfg *drivers.TaskConfig, logs bool) {
	t.Helper()
	cleanup := h.MkAllocDir(cfg, logs)
	t.Cleanup(func() {
		if logs && t.Failed() {
			// What the task printed says why, often (a jail's program
			// has no other way to tell).
			for _, stream := range []string{"stdout", "stderr"} {
				p := filepath.Join(cfg.AllocDir, "alloc", "logs", cfg.Name+"."+stream+".0")
				if b, err := os.ReadFile(p); err == nil {
					t.Logf("the task's %s:\n%s", stream, b)
				}
			}
		}
		for _, d := range testDrivers(t) {
			if d.ctx.Err() != nil {
				continue // shut down by the test (a plugin restart)
			}
			if err := d.DestroyTask(cfg.ID, true); err != nil {
				t.Errorf("cleanup: DestroyTask %s: %v", cfg.ID, err)
			}
		}
		cleanup()
	})
}

// The drivers each test made, for its cleanups.
var (
	testDriversMu sync.Mutex
	testDriverMap = map[*testing.T][]*Driver{}
)

func addTestDriver(t *testing.T, d *Driver) {
	testDriversMu.Lock()
	defer testDriversMu.Unlock()
	testDriverMap[t] = append(testDriverMap[t], d)
}

func testDrivers(t *testing.T) []*Driver {
	testDriversMu.Lock()
	defer testDriversMu.Unlock()
	return slices.Clone(testDriverMap[t])
}

func waitResult(t *testing.T, h *dtestutil.DriverHarness, id string, within time.Duration) *drivers.ExitResult {
	t.Helper()
	ch, err := h.WaitTask(context.Background(), id)
	if err != nil {
		t.Fatalf("WaitTask: %v", err)
	}
	select {
	case res := <-ch:
		if res == nil {
			t.Fatal("WaitTask sent a nil result")
		}
		return res
	case <-time.After(within):
		t.Fatalf("task %s did not exit within %s", id, within)
	}
	return nil
}

// killGrace is what a kill may add to a task's kill_timeout: half a second
// (issue 12), and on pot's scripts, where the kill is two pot commands
// (set-attribute, stop) of 0.1–0.5 s each on a loaded 2-core machine, a
// second (measured 0.37–0.60 s). The e2e suite holds Nomad's own events to
// half a second on both. Either bound fails a stop that asks again (pot
// stop's SIGTERM and stop_timeout: seconds).
func killGrace() time.Duration {
	if onRealPot {
		return time.Second
	}
	return 500 * time.Millisecond
}

// readLog is the task's log of stream as logmon has written it so far.
func readLog(t *testing.T, cfg *drivers.TaskConfig, stream string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.TaskDir().LogDir, cfg.Name+"."+stream+".0"))
	if err != nil {
		t.Fatalf("reading the task's %s: %v", stream, err)
	}
	return string(b)
}

// logContains waits until the task's stdout log (written by Nomad's logmon
// from the fifo) contains want.
func logContains(t *testing.T, cfg *drivers.TaskConfig, stream, want string) {
	t.Helper()
	path := filepath.Join(cfg.TaskDir().LogDir, cfg.Name+"."+stream+".0")
	deadline := time.Now().Add(10 * time.Second)
	var got []byte
	for time.Now().Before(deadline) {
		got, _ = os.ReadFile(path)
		if strings.Contains(string(got), want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s log %s: want %q, have %q", stream, path, want, got)
}
