package driver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/helper/uuid"
	"github.com/hashicorp/nomad/nomad/structs"
	"github.com/hashicorp/nomad/plugins/drivers"
	dtestutil "github.com/hashicorp/nomad/plugins/drivers/testutils"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

func TestFingerprintHealth(t *testing.T) {
	env := newTestEnv(t)
	d, _ := env.newDriver()
	fp := d.fingerprint(context.Background())
	if fp.Health != drivers.HealthStateHealthy || fp.Attributes["driver.pot.version"] == nil {
		t.Fatalf("potsim: %+v", fp)
	}
	if v, _ := fp.Attributes["driver.pot.version"].GetString(); v != "0.16.0" {
		t.Fatalf("driver.pot.version = %q", v)
	}

	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		bin    string
		health drivers.HealthState
		says   string
	}{
		{filepath.Join(dir, "missing"), drivers.HealthStateUndetected, "not found"},
		{script("broken", "echo 'cannot read config' >&2; exit 1"), drivers.HealthStateUnhealthy, "cannot read config"},
		{script("old", "echo 0.14.2"), drivers.HealthStateUnhealthy, "older than 0.15.0"},
	} {
		d.pot.Bin = c.bin
		fp := d.fingerprint(context.Background())
		if fp.Health != c.health || !strings.Contains(fp.HealthDescription, c.says) {
			t.Errorf("%s: %s %q", filepath.Base(c.bin), fp.Health, fp.HealthDescription)
		}
	}
}

// TestFingerprintNotInitialised: a pot that answers version but was never
// initialised (every other subcommand says to run `pot init`) makes the
// driver unhealthy, saying so; after pot init it is healthy again.
func TestFingerprintNotInitialised(t *testing.T) {
	if onRealPot {
		t.Skip("needs potsim: a fresh, uninitialised pot root")
	}
	env := newTestEnv(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	bin := filepath.Join(dir, "pot")
	script := "#!/bin/sh\nPOTSIM_ROOT=" + pot.ShellQuoteWord(root) + "\nexport POTSIM_ROOT\nexec " + pot.ShellQuoteWord(potsimBin) + ` "$@"` + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	d, h := env.newDriverWith(&hclspec.PluginConfig{PotBin: bin})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := h.Fingerprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case fp := <-ch:
		if fp.Health != drivers.HealthStateUnhealthy || !strings.Contains(fp.HealthDescription, "run `pot init`") ||
			!strings.Contains(fp.HealthDescription, "please run 'pot init'") {
			t.Fatalf("uninitialised pot: %s %q", fp.Health, fp.HealthDescription)
		}
		if v, _ := fp.Attributes["driver.pot.version"].GetString(); v != "0.16.0" {
			t.Errorf("driver.pot.version = %q", v)
		}
		t.Logf("uninitialised pot: %s %q", fp.Health, fp.HealthDescription)
	case <-time.After(5 * time.Second):
		t.Fatal("no fingerprint at once")
	}
	potsimInit(t, root)
	if fp := d.fingerprint(context.Background()); fp.Health != drivers.HealthStateHealthy {
		t.Fatalf("after pot init: %s %q", fp.Health, fp.HealthDescription)
	}
}

func TestFingerprintStream(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := h.Fingerprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case fp := <-ch:
		if fp.Health != drivers.HealthStateHealthy {
			t.Fatalf("first fingerprint: %+v", fp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no fingerprint at once")
	}
}

func TestEnvAndFilesReachTheJail(t *testing.T) {
	env := newTestEnv(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "greeting"), []byte("hello from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	volDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(volDir, "vol"), []byte("volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, h := env.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, HostPathAllow: []string{hostDir, volDir}})
	// potsim runs the command with the pot's root as its working folder:
	// jail paths are relative to it here.
	cfg, tc := env.task("files", `printf '%s|' "$TRICKY"; cat greeting/greeting copied/greeting vol/vol; echo; cat etc/hosts; test -d local && test -d alloc && test -d secrets && echo dirs-ok`)
	cfg.Env = map[string]string{"TRICKY": `$(echo pwned) ` + "`id` ; \"q\" 'q' \\"}
	cfg.Mounts = []*drivers.MountConfig{{HostPath: volDir, TaskPath: "/vol", Readonly: true}}
	tc.MountReadOnly = []string{hostDir + ":/greeting"}
	tc.Copy = []string{filepath.Join(hostDir, "greeting") + ":/copied/greeting"}
	tc.ExtraHosts = []string{"db.internal:10.1.2.3"}
	start(t, h, cfg, tc)
	res := waitResult(t, h, cfg.ID, 10*time.Second)
	if res.ExitCode != 0 {
		t.Fatalf("exit %+v", res)
	}
	logContains(t, cfg, "stdout", cfg.Env["TRICKY"]+"|hello from the hosthello from the hostvolume")
	logContains(t, cfg, "stdout", "10.1.2.3")
	logContains(t, cfg, "stdout", "dirs-ok")
}

func TestRefusedMounts(t *testing.T) {
	env := newTestEnv(t)
	dir := t.TempDir()
	_, h := env.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin, HostPathAllow: []string{dir}})
	cfg, tc := env.task("propagation", "true")
	cfg.Mounts = []*drivers.MountConfig{{HostPath: dir, TaskPath: "/data", PropagationMode: structs.VolumeMountPropagationBidirectional}}
	encode(t, cfg, tc)
	allocDir(t, h, cfg, false)
	if _, _, err := h.StartTask(cfg); err == nil || !strings.Contains(err.Error(), "propagation_mode") {
		t.Fatalf("bidirectional mount: %v", err)
	}
	if pots := env.taskPots(); len(pots) != 0 {
		t.Fatalf("pots left behind: %v", pots)
	}
}

func TestImportEvent(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	events := taskEvents(t, h)
	cfg, tc := env.task("events", "true")
	// An image no test imported before (pot's root may be shared).
	tc.Pot = testImage + "-" + uuid.Generate()[:8]
	start(t, h, cfg, tc)
	select {
	case ev := <-events:
		if ev.TaskID != cfg.ID || !strings.Contains(ev.Message, "Importing image "+tc.Pot) {
			t.Fatalf("event: %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no task event while the image was imported")
	}
}

func TestBridgeNetworkAndPorts(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	hostPort := freePort(t)
	cfg, tc := env.task("web", "")
	tc.NetworkMode = "public-bridge"
	tc.PortMap = map[string]string{"http": "8080"}
	tc.Args = []string{"-c", webServerCmd(t, 8080)}
	cfg.Resources.Ports = &structs.AllocatedPorts{{Label: "http", Value: hostPort, HostIP: "127.0.0.1"}}
	encode(t, cfg, tc)
	allocDir(t, h, cfg, true)
	_, network, err := h.StartTask(cfg)
	if err != nil {
		t.Fatalf("StartTask: %v", err)
	}
	if network == nil || !strings.HasPrefix(network.IP, env.network) || network.PortMap["http"] != 8080 {
		t.Fatalf("DriverNetwork: %+v", network)
	}
	for _, addr := range []string{net.JoinHostPort(network.IP, "8080"), fmt.Sprintf("127.0.0.1:%d", hostPort)} {
		body := httpGet(t, "http://"+addr+"/")
		if !strings.Contains(body, "hello") {
			t.Fatalf("%s answered %q", addr, body)
		}
	}
	st, err := h.InspectTask(cfg.ID)
	if err != nil || st.NetworkOverride == nil || st.NetworkOverride.IP != network.IP {
		t.Fatalf("InspectTask network: %+v %v", st, err)
	}
}

// webServerCmd is the shell command of a task serving HTTP on its pot's
// address ($_POT_IP, from pot's start script) at port: e2e/webserver.
func webServerCmd(t *testing.T, port int) string {
	if webServer == "" {
		t.Skip("POT_DRIVER_TEST_WEBSERVER names no web server in the image")
	}
	return fmt.Sprintf("exec '%s' -port %d", webServer, port)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGroupDNSBecomesResolvConf(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("dns", `cat etc/resolv.conf`)
	cfg.DNS = &drivers.DNSConfig{Servers: []string{"192.0.2.53"}, Searches: []string{"service.consul"}, Options: []string{"ndots:2"}}
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 10*time.Second); res.ExitCode != 0 {
		t.Fatalf("exit %+v", res)
	}
	logContains(t, cfg, "stdout", "nameserver 192.0.2.53\nsearch service.consul\noptions ndots:2\n")

	cfg, tc = env.task("dns-twice", "true")
	cfg.DNS = &drivers.DNSConfig{Servers: []string{"192.0.2.53"}}
	tc.DNS = "off"
	encode(t, cfg, tc)
	allocDir(t, h, cfg, false)
	if _, _, err := h.StartTask(cfg); err == nil || !strings.Contains(err.Error(), "dns") {
		t.Fatalf("two resolvers: %v", err)
	}
}

func TestAliasNetworkAdvertisesItsAddress(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("alias", `echo "ip=$_POT_IP"; sleep 30`)
	tc.NetworkMode = "alias"
	tc.IP = "127.194.0.7"
	tc.AutoAdvertise = true
	encode(t, cfg, tc)
	allocDir(t, h, cfg, true)
	_, network, err := h.StartTask(cfg)
	if err != nil {
		t.Fatalf("StartTask: %v", err)
	}
	if network == nil || network.IP != "127.194.0.7" || !network.AutoAdvertise {
		t.Fatalf("DriverNetwork %+v", network)
	}
	logContains(t, cfg, "stdout", "ip=127.194.0.7")
}

func TestPrivateBridgeNeedsItsBridge(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	cfg, tc := env.task("private", "true")
	tc.NetworkMode = "private-bridge"
	tc.Bridge = "nosuchbridge"
	encode(t, cfg, tc)
	allocDir(t, h, cfg, false)
	_, _, err := h.StartTask(cfg)
	if err == nil || !strings.Contains(err.Error(), "nosuchbridge") {
		t.Fatalf("missing bridge: %v", err)
	}
	if pots := env.taskPots(); len(pots) != 0 {
		t.Fatalf("pots left behind: %v", pots)
	}
}

// TestEnvNamesNomadAllows: Nomad allows meta keys such as "app.version"
// (NOMAD_META_app.version), which no sh can export: the task runs without
// them, one task event naming them; the others reach the jail.
func TestEnvNamesNomadAllows(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	events := taskEvents(t, h)
	cfg, tc := env.task("metadots", `echo "meta=$NOMAD_META_owner"`)
	cfg.Env = map[string]string{"NOMAD_META_app.version": "1.2", "NOMAD_META_owner": "ops", "a-b": "x"}
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 20*time.Second); res.ExitCode != 0 {
		t.Fatalf("exit %+v", res)
	}
	logContains(t, cfg, "stdout", "meta=ops")
	want := "Environment variables left out of the jail (pot exports shell variable names only): NOMAD_META_app.version, a-b"
	if ev := waitEvent(events, cfg.ID, 10*time.Second, func(m string) bool { return m == want }); ev == nil {
		t.Fatalf("no task event %q", want)
	}
}

// taskEvents is the driver's event stream, until the test ends.
func taskEvents(t *testing.T, h *dtestutil.DriverHarness) <-chan *drivers.TaskEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	events, err := h.TaskEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// waitEvent is the first event of task id whose message matches, nil if
// none comes within limit.
func waitEvent(events <-chan *drivers.TaskEvent, id string, limit time.Duration, match func(string) bool) *drivers.TaskEvent {
	timeout := time.After(limit)
	for {
		select {
		case ev := <-events:
			if ev.TaskID == id && match(ev.Message) {
				return ev
			}
		case <-timeout:
			return nil
		}
	}
}

// TestCommandNotFound: a task whose program is not in the jail ends as sh
// does (127), and a task event names the program and where it was looked
// for: the jail's file system, not the host's (the test binary exists on
// the host only; on pot's scripts, where jails are chroots). A program that is there but exits 127 itself gets no
// such event.
func TestCommandNotFound(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	events := taskEvents(t, h)
	hostOnly, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, command string
		want          string // in the event; "" for no event
	}{
		{"absent", "/no/such/program", `Command "/no/such/program" cannot run in the jail (exit code 127): no such file in the jail's file system; looked at /no/such/program (the jail's root is `},
		{"hostonly", hostOnly, fmt.Sprintf("Command %q cannot run in the jail (exit code 127): no such file in the jail's file system; looked at %s (the jail's root is ", hostOnly, hostOnly)},
		{"bare", "no-such-program", `Command "no-such-program" cannot run in the jail (exit code 127): no such file in the jail's file system; looked at `},
		{"exits127", "", ""},
	} {
		if tc.name == "hostonly" && !onRealPot {
			// potsim's jails are not chroots: the host's program runs.
			continue
		}
		cfg, task := env.task(tc.name, "exit 127")
		if tc.command != "" {
			task.Command, task.Args = tc.command, nil
		}
		start(t, h, cfg, task)
		res := waitResult(t, h, cfg.ID, 20*time.Second)
		if res.ExitCode != 127 {
			t.Errorf("%s: exit %+v, want 127 (sh's not found)", tc.name, res)
			continue
		}
		ev := waitEvent(events, cfg.ID, time.Second, func(m string) bool { return strings.HasPrefix(m, "Command ") })
		switch {
		case tc.want == "" && ev != nil:
			t.Errorf("%s: an event for a program that is there: %q", tc.name, ev.Message)
		case tc.want != "" && ev == nil:
			t.Errorf("%s: no task event naming the program; want %q", tc.name, tc.want)
		case tc.want != "" && !strings.HasPrefix(ev.Message, tc.want):
			t.Errorf("%s: event %q, want it to start %q", tc.name, ev.Message, tc.want)
		case ev != nil:
			t.Logf("%s: event: %s", tc.name, ev.Message)
		}
	}
}

// TestEnvTooLong: a value longer than pot's set-env can pass (one argument
// of exec) fails the start up front, naming the variable, not to be
// retried; so does an environment too long in all.
func TestEnvTooLong(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"BIG": strings.Repeat("x", 200<<10)}, "invalid task config: environment variable BIG: 204804 bytes as pot passes it on, more than the 131071 one argument may have"},
		{map[string]string{"A": strings.Repeat("a", 100<<10), "B": strings.Repeat("b", 100<<10), "C": strings.Repeat("c", 100<<10)}, "invalid task config: the environment is"},
	} {
		cfg, tc := env.task("bigenv", "true")
		cfg.Env = c.env
		err := env.startFails(h, cfg, tc, c.want)
		if structs.IsRecoverable(err) {
			t.Errorf("%q: a recoverable error: %v", c.want, err)
		}
	}
}

// TestBsdpotCommandLines: command and args as the bsdpot driver's jobs write
// them are joined into the jail's command line, which its sh parses, so
// each form of that driver's README, example.hcl and Nomad's docs page
// reaches the program as it did there; exact_args passes each element
// unchanged instead.
func TestBsdpotCommandLines(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	// The program: sh printing each argument it got as [ARG].
	const prog = `/bin/sh -c 'printf "[%s]" "$@"' sh`
	for _, tc := range []struct {
		name    string
		command string
		args    []string
		exact   bool
		want    string
	}{
		{"readme", "/bin/sh", []string{"-c", `'printf "[%s]" "$@"'`, "sh", "-g", "'daemon off;'"}, false, "[-g][daemon off;]"},
		{"nomad-docs", "/bin/sh", []string{"-c", `'printf "[%s]" "$@"'`, "sh", "-g 'daemon off;'"}, false, "[-g][daemon off;]"},
		{"example-hcl", prog + " -g 'daemon off;'", nil, false, "[-g][daemon off;]"},
		{"quoted", prog, []string{"'a b'"}, false, "[a b]"},
		{"exact", "/bin/sh", []string{"-c", `printf "[%s]" "$@"`, "sh", "-g", "'daemon off;'", "a b"}, true, "[-g]['daemon off;'][a b]"},
	} {
		cfg, task := env.task(tc.name, "")
		task.Command, task.Args, task.ExactArgs = tc.command, tc.args, tc.exact
		start(t, h, cfg, task)
		if res := waitResult(t, h, cfg.ID, 20*time.Second); res.ExitCode != 0 {
			t.Errorf("%s: exit %+v", tc.name, res)
			continue
		}
		if got := readLog(t, cfg, "stdout"); !strings.Contains(got, tc.want) {
			t.Errorf("%s: command %q args %q: the program printed %q, want %q", tc.name, tc.command, tc.args, got, tc.want)
		}
	}
}

// TestPortMapWithHostNetwork: bsdpot's example.hcl sets network_mode "host"
// and a port_map; the task runs (the jail shares the host's network) and
// an event says the port_map has no effect.
func TestPortMapWithHostNetwork(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	events := taskEvents(t, h)
	cfg, tc := env.task("hostports", "echo ran")
	tc.NetworkMode = "host"
	tc.PortMap = hclspec.MapStrStr{"http": "80"}
	cfg.Resources.Ports = &structs.AllocatedPorts{{Label: "http", Value: freePort(t), HostIP: "127.0.0.1"}}
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 20*time.Second); res.ExitCode != 0 {
		t.Fatalf("exit %+v", res)
	}
	logContains(t, cfg, "stdout", "ran")
	want := "port_map has no effect with network_mode inherit (host)"
	if ev := waitEvent(events, cfg.ID, 10*time.Second, func(m string) bool { return strings.HasPrefix(m, want) }); ev == nil {
		t.Fatalf("no task event %q", want)
	} else {
		t.Logf("event: %s", ev.Message)
	}
}

// TestImportProgress: an image that takes a while to download shows its
// progress in task events, bytes so far of the total, never two within
// progressEvery; the task then runs from the image pot imported (the
// download is pot's to check).
func TestImportProgress(t *testing.T) {
	env := newTestEnv(t)
	_, h := env.newDriver()
	events := taskEvents(t, h)
	var image []byte
	var err error
	if onRealPot {
		if image, err = os.ReadFile(os.Getenv("POT_DRIVER_TEST_IMAGE")); err != nil {
			t.Fatal(err)
		}
	} else {
		image = testImageTar(t)
	}
	const chunks = 12 // one a second: a 12 s download
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, ".xz"):
			w.Header().Set("Content-Length", strconv.Itoa(len(image)))
			for i := 0; i < chunks; i++ {
				_, _ = w.Write(image[i*len(image)/chunks : (i+1)*len(image)/chunks])
				w.(http.Flusher).Flush()
				time.Sleep(time.Second)
			}
		case onRealPot && (strings.HasSuffix(r.URL.Path, ".xz.skein") || strings.HasSuffix(r.URL.Path, ".xz.meta")):
			// pot hashes the image with its .meta.
			http.ServeFile(w, r, os.Getenv("POT_DRIVER_TEST_IMAGE")+path.Ext(r.URL.Path))
		case strings.HasSuffix(r.URL.Path, ".xz.skein"):
			// potsim's image has no .meta: hashed as an empty one.
			_, _ = w.Write(imagehash.Skein(image, nil))
		default:
			http.NotFound(w, r)
		}
	}))
	defer slow.Close()
	cfg, tc := env.task("progress", "echo ran")
	tc.Image = slow.URL
	tc.Pot = testImage + "-" + uuid.Generate()[:8] // not imported before
	start(t, h, cfg, tc)
	if res := waitResult(t, h, cfg.ID, 30*time.Second); res.ExitCode != 0 {
		t.Fatalf("exit %+v", res)
	}
	logContains(t, cfg, "stdout", "ran")
	var got []*drivers.TaskEvent
	for {
		ev := waitEvent(events, cfg.ID, time.Second, func(m string) bool { return strings.HasPrefix(m, "Downloading image "+tc.Pot) })
		if ev == nil {
			break
		}
		got = append(got, ev)
	}
	if len(got) < 2 {
		t.Fatalf("%d progress events for a 12 s download, want at least 2: %v", len(got), got)
	}
	total := "of " + byteSize(int64(len(image)))
	for i, ev := range got {
		t.Logf("%s %s", ev.Timestamp.Format("15:04:05.000"), ev.Message)
		if !strings.Contains(ev.Message, total) {
			t.Errorf("event %q does not give the total (%s)", ev.Message, total)
		}
		if i > 0 && ev.Timestamp.Sub(got[i-1].Timestamp) < progressEvery {
			t.Errorf("two progress events %s apart, want at least %s", ev.Timestamp.Sub(got[i-1].Timestamp), progressEvery)
		}
	}
}
