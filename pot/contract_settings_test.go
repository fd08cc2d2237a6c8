package pot

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// argvScript writes the script's arguments, NUL-separated, to argv.out in
// the jail's root.
const argvScript = `for a in "$@"; do printf '%s\0' "$a"; done > argv.out`

// The command set by prepare -c reaches the process as exactly the argv
// given, whatever shell syntax it holds; a newline is refused before pot
// is called.
func TestContractPrepareArgv(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	argv := sh(argvScript, hostile...)

	byPrepare := e.prepare(PrepareOptions{Argv: argv})
	e.start(byPrepare).waitCode(0)
	if got := splitNUL(e.readJail(byPrepare, "argv.out")); !slices.Equal(got, hostile) {
		t.Fatalf("prepare -c: the process got\n%q\nwant\n%q", got, hostile)
	}
	e.noPwned(byPrepare)

	calls := e.potsimCalls("prepare")
	nl := PrepareOptions{URL: e.url, Image: e.image, Tag: e.tag, Name: uniqueName(), Alloc: "a1",
		Argv: []string{"/bin/sh", "-c", "exit 0\npot.attr.persistent=YES"}}
	e.destroyAtEnd(PotName(nl.Name, nl.Alloc))
	if _, err := e.c.Prepare(e.ctx(), nl); !errors.Is(err, ErrNewline) {
		t.Fatalf("prepare with a newline in the command: %v, want ErrNewline", err)
	}
	if e.tg.potsim && e.potsimCalls("prepare") != calls {
		t.Fatal("a command with a newline reached pot prepare")
	}
	pots, err := e.c.List(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(pots, PotName(nl.Name, nl.Alloc)) {
		t.Fatal("a prepare refused for its newline made a pot")
	}
}

// TestContractPrepareCommandLine: a command line (the bsdpot driver's jobs:
// command and args joined by spaces) is stored as given and parsed by the
// jail's sh, so each form those jobs use reaches the program as that
// driver's users expect: quotes group and go, one pair of double quotes
// around the whole line is not taken off (pot's _set_command would strip
// it from a bare -c).
func TestContractPrepareCommandLine(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	script := `/bin/sh -c 'for a in "$@"; do printf "%s\0" "$a"; done > argv.out' sh`
	for _, tc := range []struct {
		line string
		want []string
	}{
		// command = "nginx", args = ["-g", "'daemon off;'"] (bsdpot's README)
		{script + " -g 'daemon off;'", []string{"-g", "daemon off;"}},
		// args = ["'a b'"], and a $ kept by single quotes
		{script + " 'a b' '$HOME'", []string{"a b", "$HOME"}},
		// double quotes, at the line's end too
		{`"/bin/sh" -c 'for a in "$@"; do printf "%s\0" "$a"; done > argv.out' sh "x y"`, []string{"x y"}},
	} {
		name := e.prepare(PrepareOptions{CommandLine: tc.line})
		e.start(name).waitCode(0)
		if got := splitNUL(e.readJail(name, "argv.out")); !slices.Equal(got, tc.want) {
			t.Errorf("command line %s: the process got %q, want %q", tc.line, got, tc.want)
		}
	}
	if _, err := (PrepareOptions{URL: "u", Image: "i", Tag: "t", Name: "n", Alloc: "a", CommandLine: "a\nb"}).args(); !errors.Is(err, ErrNewline) {
		t.Errorf("a command line with a newline: %v, want ErrNewline", err)
	}
	if _, err := (PrepareOptions{URL: "u", Image: "i", Tag: "t", Name: "n", Alloc: "a", CommandLine: "a", Argv: []string{"b"}}).args(); err == nil {
		t.Error("Argv and CommandLine both set: no error")
	}
}

// Environment values reach the process literally, all set in one call; a
// second call replaces the first; newlines and bad names are refused before
// pot is called.
func TestContractSetEnv(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	var vars []EnvVar
	var refs []string
	for i, v := range hostile {
		n := fmt.Sprintf("CT_V%d", i)
		vars = append(vars, EnvVar{Name: n, Value: v})
		refs = append(refs, `"${`+n+`-<unset>}"`)
	}
	script := `printf '%s\0' ` + strings.Join(refs, " ") + " > env.out"
	name := e.prepare(PrepareOptions{Argv: sh(script)})
	if err := e.c.SetEnv(e.ctx(), name, vars); err != nil {
		t.Fatal(err)
	}
	e.start(name).waitCode(0)
	if got := splitNUL(e.readJail(name, "env.out")); !slices.Equal(got, hostile) {
		t.Fatalf("the process's environment:\n%q\nwant\n%q", got, hostile)
	}
	e.noPwned(name)

	// set-env replaces the pot's whole environment.
	if err := e.c.SetEnv(e.ctx(), name, []EnvVar{{Name: "CT_V0", Value: "only $this"}}); err != nil {
		t.Fatal(err)
	}
	e.start(name).waitCode(0)
	got := splitNUL(e.readJail(name, "env.out"))
	if len(got) != len(hostile) || got[0] != "only $this" || got[1] != "<unset>" {
		t.Fatalf("after a second set-env: %q, want [only $this <unset> ...]", got)
	}

	calls := e.potsimCalls("set-env")
	for _, bad := range []string{"a\nb", "a\rb", "x\npot.attr.persistent=YES"} {
		err := e.c.SetEnv(e.ctx(), name, []EnvVar{{Name: "CT_OK", Value: "fine"}, {Name: "CT_NL", Value: bad}})
		if !errors.Is(err, ErrNewline) {
			t.Fatalf("set-env with %q: %v, want ErrNewline", bad, err)
		}
	}
	for _, n := range []string{"", "1X", "A-B", "A B", "A=B"} {
		if err := e.c.SetEnv(e.ctx(), name, []EnvVar{{Name: n, Value: "v"}}); err == nil {
			t.Fatalf("set-env with the name %q succeeded", n)
		}
	}
	if e.tg.potsim && e.potsimCalls("set-env") != calls {
		t.Fatal("a refused environment reached pot set-env")
	}
}

// set-hosts entries end up in the jail's /etc/hosts; a second call
// replaces them; a bad address is pot's exit 1.
func TestContractSetHosts(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: sh("exit 0")})
	if err := e.c.SetHosts(e.ctx(), name, []Host{{"db.internal", "10.1.2.3"}, {"cache", "fd00::5"}}); err != nil {
		t.Fatal(err)
	}
	e.start(name).waitCode(0)
	hosts := hostLines(e.readJail(name, "etc/hosts"))
	for _, want := range []string{"10.1.2.3 db.internal", "fd00::5 cache"} {
		if !slices.Contains(hosts, want) {
			t.Fatalf("/etc/hosts of the jail has no line %q:\n%s", want, strings.Join(hosts, "\n"))
		}
	}
	if err := e.c.SetHosts(e.ctx(), name, []Host{{"api", "10.9.9.9"}}); err != nil {
		t.Fatal(err)
	}
	e.start(name).waitCode(0)
	hosts = hostLines(e.readJail(name, "etc/hosts"))
	if !slices.Contains(hosts, "10.9.9.9 api") || slices.Contains(hosts, "10.1.2.3 db.internal") {
		t.Fatalf("/etc/hosts after a second set-hosts:\n%s", strings.Join(hosts, "\n"))
	}

	err := e.c.SetHosts(e.ctx(), name, []Host{{"bad", "not-an-ip"}})
	wantPotError(t, "set-hosts with a bad address", err, 1, "not-an-ip")
	for _, h := range []Host{{"a:b", "10.0.0.1"}, {"", "10.0.0.1"}, {"a b", "10.0.0.1"}} {
		err := e.c.SetHosts(e.ctx(), name, []Host{h})
		var pe *Error
		if err == nil || errors.As(err, &pe) {
			t.Fatalf("set-hosts %+v: %v, want a refusal before calling pot", h, err)
		}
	}
	err = e.c.SetHosts(e.ctx(), name, []Host{{"nl", "10.0.0.1\npot.attr.persistent=YES"}})
	if !errors.Is(err, ErrNewline) {
		t.Fatalf("set-hosts with a newline: %v, want ErrNewline", err)
	}
}

// pot set-hosts makes its temp file under a fixed name (POT_TMP/
// pot-set-hosts): while it exists set-hosts exits 1, so two at once
// collide. The client runs them one at a time. Not parallel: on a real host
// POT_TMP is shared with the other tests.
func TestContractSetHostsTempFile(t *testing.T) {
	e := newPotEnv(t)
	names := make([]string, 6)
	for i := range names {
		names[i] = e.prepare(PrepareOptions{Argv: sh("exit 0")})
	}
	tmp := filepath.Join(filepath.Dir(e.mainPidFile(names[0])), "pot-set-hosts")
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := e.rawPot("set-hosts", "-p", names[0], "-H", "db:10.0.0.1")
	os.Remove(tmp)
	if code != 1 {
		t.Fatalf("set-hosts while %s exists: exit %d (%q), want 1", tmp, code, out)
	}
	// Many at once, as concurrent task starts do.
	var wg sync.WaitGroup
	errs := make([]error, len(names)*3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.c.SetHosts(e.ctx(), names[i%len(names)], []Host{{fmt.Sprintf("h%d", i%len(names)), "10.0.0.1"}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent set-hosts %d: %v", i, err)
		}
	}
	if _, err := os.Stat(tmp); err == nil {
		t.Fatalf("set-hosts left %s behind", tmp)
	}
}

func hostLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		}
	}
	return out
}

// set-attribute takes pot's and the jail's attributes; an unknown one, a
// bad value or a missing pot is exit 1 with pot's message.
func TestContractSetAttribute(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: sh("exit 0")})
	for _, a := range [][2]string{{"stop_timeout", "1"}, {"persistent", "NO"}, {"no-rc-script", "YES"}, {"exec_stop", "/bin/true"}} {
		if err := e.c.SetAttribute(e.ctx(), name, a[0], a[1]); err != nil {
			t.Fatalf("set-attribute %s=%s: %v", a[0], a[1], err)
		}
	}
	err := e.c.SetAttribute(e.ctx(), name, "no-such-attribute", "YES")
	wantPotError(t, "set-attribute of an unknown attribute", err, 1, "no-such-attribute")
	err = e.c.SetAttribute(e.ctx(), name, "persistent", "maybe")
	wantPotError(t, "set-attribute persistent=maybe", err, 1)
	err = e.c.SetAttribute(e.ctx(), name, "stop_timeout", "soon")
	wantPotError(t, "set-attribute stop_timeout=soon", err, 1, "soon")
	err = e.c.SetAttribute(e.ctx(), uniqueName()+"_gone", "stop_timeout", "1")
	wantPotError(t, "set-attribute of a missing pot", err, 1)
	// The pot still starts after the refused calls.
	e.start(name).waitCode(0)
}

// mount-in makes a host folder the jail's folder: the task reads and writes
// it, and on the host it is under fs_root/jails/NAME/m/JAILPATH while the pot
// runs. A missing folder, a relative mount point and a folder already
// mounted in the pot are refused (exit 1).
func TestContractMountIn(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "hello"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ro := t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "file"), []byte("read only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := e.prepare(PrepareOptions{Argv: sh(
		`cat mnt/data/hello > mount.out && echo from-the-jail > mnt/data/back && cat srv/ro/file > ro.out; echo ready > ready; exec sleep 600`)})
	if err := e.c.MountIn(e.ctx(), name, MountOptions{HostDir: host, JailPath: "/mnt/data"}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.MountIn(e.ctx(), name, MountOptions{HostDir: ro, JailPath: "/srv/ro", ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	err := e.c.MountIn(e.ctx(), name, MountOptions{HostDir: filepath.Join(host, "missing"), JailPath: "/mnt/missing"})
	wantPotError(t, "mount-in of a missing folder", err, 1)
	err = e.c.MountIn(e.ctx(), name, MountOptions{HostDir: host, JailPath: "mnt/relative"})
	wantPotError(t, "mount-in on a relative mount point", err, 1)
	err = e.c.MountIn(e.ctx(), name, MountOptions{HostDir: host, JailPath: "/mnt/again"})
	wantPotError(t, "mount-in of a folder already mounted", err, 1)

	r := e.start(name)
	r.waitJailFile("ready")
	if got := e.readJail(name, "mount.out"); got != "from the host\n" {
		t.Fatalf("the task read %q from the mounted folder (%s)", got, r.output())
	}
	if got := e.readJail(name, "ro.out"); got != "read only\n" {
		t.Fatalf("the task read %q from the read-only mount", got)
	}
	if got := e.readJail(name, "mnt/data/hello"); got != "from the host\n" {
		t.Fatalf("fs_root/jails/%s/m/mnt/data/hello = %q while running", name, got)
	}
	back, err := os.ReadFile(filepath.Join(host, "back"))
	if err != nil || string(back) != "from-the-jail\n" {
		t.Fatalf("what the task wrote is not in the host folder: %q, %v", back, err)
	}
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	r.waitCode(143)
	if data, err := os.ReadFile(filepath.Join(host, "hello")); err != nil || string(data) != "from the host\n" {
		t.Fatalf("the host folder changed after stop: %q, %v", data, err)
	}
}

// copy-in copies a host file and a folder (-c making missing parents) into
// the pot; the task sees them. A running pot needs -F.
func TestContractCopyIn(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "ct.conf"), []byte("key=value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "tree", "sub", "file"), []byte("deep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := e.prepare(PrepareOptions{Argv: sh(`cat etc/ct.conf opt/ct/tree/sub/file > copy.out; echo ready > ready; exec sleep 600`)})
	if err := e.c.CopyIn(e.ctx(), name, CopyOptions{Source: filepath.Join(src, "ct.conf"), Destination: "/etc/ct.conf"}); err != nil {
		t.Fatal(err)
	}
	if err := e.c.CopyIn(e.ctx(), name, CopyOptions{Source: filepath.Join(src, "tree"), Destination: "/opt/ct/tree", CreateParents: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.readJail(name, "opt/ct/tree/sub/file"); got != "deep\n" {
		t.Fatalf("copied folder: %q", got)
	}
	err := e.c.CopyIn(e.ctx(), name, CopyOptions{Source: filepath.Join(src, "missing"), Destination: "/etc/missing"})
	wantPotError(t, "copy-in of a missing file", err, 1)
	err = e.c.CopyIn(e.ctx(), name, CopyOptions{Source: filepath.Join(src, "ct.conf"), Destination: "etc/relative"})
	wantPotError(t, "copy-in to a relative destination", err, 1)

	r := e.start(name)
	r.waitJailFile("ready")
	if got := e.readJail(name, "copy.out"); got != "key=value\ndeep\n" {
		t.Fatalf("the task read %q", got)
	}
	late := CopyOptions{Source: filepath.Join(src, "ct.conf"), Destination: "/etc/late.conf"}
	err = e.c.CopyIn(e.ctx(), name, late)
	wantPotError(t, "copy-in to a running pot without -F", err, 1)
	late.Force = true
	if err := e.c.CopyIn(e.ctx(), name, late); err != nil {
		t.Fatalf("copy-in -F to a running pot: %v", err)
	}
	if got := e.readJail(name, "etc/late.conf"); got != "key=value\n" {
		t.Fatalf("copy-in -F: %q", got)
	}
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	r.waitCode(143)
}

// Exported ports (prepare -e, then export-ports replacing them) forward a
// host port to the task's port on its own address: a TCP client through the
// host port reaches a server the task runs on $_POT_IP:PORT (the suite's
// own test binary: on potsim the host's, on pot's scripts a static copy in
// the image, POT_CONTRACT_JAIL_HELPER), on a public and on a private
// bridge; where the suite has a LAN (fbsdemu's wire) a client on it reaches
// the server too, at the host's external address (pf's rdr), and is
// refused once the pot stops.
func TestContractExportPorts(t *testing.T) {
	t.Parallel()
	t.Run("public-bridge", func(t *testing.T) {
		t.Parallel()
		testExportPorts(t, newPotEnv(t), PrepareOptions{Network: NetworkPublicBridge, IP: "auto"})
	})
	t.Run("private-bridge", func(t *testing.T) {
		t.Parallel()
		e := newPotEnv(t)
		bridge := "b" + uniqueName()[2:8]
		if _, code := e.rawPot("create-private-bridge", "-B", bridge, "-S", "4"); code != 0 {
			t.Fatalf("create-private-bridge -B %s exited %d", bridge, code)
		}
		t.Cleanup(func() { _ = os.Remove(filepath.Join(e.fsRoot(), "bridges", bridge)) })
		testExportPorts(t, e, PrepareOptions{Network: NetworkPrivateBridge, Bridge: bridge, IP: "auto"})
	})
}

// jailServer is the argv of a task serving echoHelper, or nil when the
// target's jails cannot run the suite's binary.
func (e *potEnv) jailServer() []string {
	if e.tg.potsim {
		exe, err := os.Executable()
		if err != nil {
			e.t.Fatal(err)
		}
		return []string{exe}
	}
	if h := os.Getenv("POT_CONTRACT_JAIL_HELPER"); h != "" {
		return []string{h}
	}
	return nil
}

func testExportPorts(t *testing.T, e *potEnv, o PrepareOptions) {
	potPort := freePort(t, "tcp")
	h1 := freePort(t, "tcp")
	argv := e.jailServer()
	reach := argv != nil
	if !reach {
		argv = sh("echo ready > ready; exec sleep 600")
	}
	o.Argv = argv
	o.Ports = []Port{{PotPort: potPort, HostPort: h1}}
	name := e.prepare(o)
	if err := e.c.SetEnv(e.ctx(), name, []EnvVar{
		{Name: "POT_CONTRACT_HELPER", Value: "echo"},
		{Name: "POT_CONTRACT_PORT", Value: strconv.Itoa(int(potPort))},
	}); err != nil {
		t.Fatal(err)
	}
	info, err := e.c.Info(e.ctx(), name)
	if err != nil {
		t.Fatal(err)
	}
	ip := info.IPs()[0]

	r := e.start(name)
	if reach {
		e.echoThrough(r, h1, ip)
	} else {
		r.waitJailFile("ready")
		t.Log("set POT_CONTRACT_JAIL_HELPER to a static build of this package inside the image to test the connection")
	}
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	r.waitCode(143)
	e.lanClosed(h1, "after pot stop")
}

// echoThrough connects to the host port until the task's server answers
// with its address, then checks the echo: on the host (127.0.0.1, pot's
// localhost tunnel) and, where there is a LAN (the wire of fbsdemu), from
// it to the host's external address, as a client on the LAN reaches an
// exported port through pf's rdr rule.
func (e *potEnv) echoThrough(r *run, hostPort uint16, potIP string) {
	e.t.Helper()
	port := strconv.Itoa(int(hostPort))
	e.echoVia(r, fmt.Sprintf("host port %d", hostPort), potIP, func() (net.Conn, error) {
		return net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), time.Second)
	})
	netns, extAddr := e.lanPath()
	if netns == "" {
		e.t.Logf("the LAN path (pf's rdr on the external interface) is not tested here: %s is not set or the target is potsim", wireNetnsEnv)
		return
	}
	lan := net.JoinHostPort(extAddr, port)
	e.echoVia(r, "the LAN's "+lan, potIP, func() (net.Conn, error) {
		return dialInNetns(netns, "tcp", lan, time.Second)
	})
}

// echoVia dials until the task's server greets with its address, then
// checks the echo.
func (e *potEnv) echoVia(r *run, via, potIP string, dial func() (net.Conn, error)) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-r.p.Done():
			e.t.Fatalf("the pot ended before its server answered\n%s", r.output())
		default:
		}
		c, err := dial()
		if err != nil {
			last = err
			time.Sleep(20 * time.Millisecond)
			continue
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		greeting, err := br.ReadString('\n')
		if err != nil {
			// The forwarder accepted, but the server does not listen yet.
			c.Close()
			last = err
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if strings.TrimSpace(greeting) != potIP {
			c.Close()
			e.t.Fatalf("through %s: greeting %q, want the pot's address %s", via, greeting, potIP)
		}
		fmt.Fprintf(c, "ping %s\n", via)
		echo, err := br.ReadString('\n')
		c.Close()
		if err != nil || echo != fmt.Sprintf("ping %s\n", via) {
			e.t.Fatalf("through %s: echo %q, %v", via, echo, err)
		}
		e.t.Logf("%s reached the task's server on %s", via, potIP)
		return
	}
	e.t.Fatalf("no answer through %s: %v\n%s", via, last, r.output())
}

// The LAN of pot's host where the suite has one: fbsdemu's wire, a network
// namespace standing for another host on the external interface's network.
const (
	wireNetnsEnv = "FBSDEMU_WIRE_NETNS"
	extIfAddrEnv = "FBSDEMU_EXTIF_ADDR"
)

// lanPath is the wire's network namespace and the host's external address
// seen from it, or "" where there is no LAN to test from (potsim, which
// applies no pf rules; a FreeBSD host).
func (e *potEnv) lanPath() (netns, extAddr string) {
	netns, extAddr = os.Getenv(wireNetnsEnv), os.Getenv(extIfAddrEnv)
	if e.tg.potsim || netns == "" || extAddr == "" {
		return "", ""
	}
	return netns, extAddr
}

// lanClosed checks that a client on the LAN is refused at the host port
// (pot stop flushes the pot's rdr anchor and ends its tunnel): a rule left
// behind would redirect to an address nothing answers on, a tunnel left
// would accept. A no-op where there is no LAN.
func (e *potEnv) lanClosed(hostPort uint16, when string) {
	e.t.Helper()
	netns, extAddr := e.lanPath()
	if netns == "" {
		return
	}
	addr := net.JoinHostPort(extAddr, strconv.Itoa(int(hostPort)))
	// The tunnel's ncat ends a moment after pot stop has signalled it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialInNetns(netns, "tcp", addr, time.Second)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if err == nil {
			c.Close()
			err = errors.New("connected")
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: a client on the LAN is not refused at %s: %v", when, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get-rss reports a running pot's usage and fails (exit 1) for one that
// does not run.
func TestContractRSS(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: sh("echo ready > ready; exec sleep 600")})
	_, err := e.c.GetRSS(e.ctx(), name)
	wantPotError(t, "get-rss of a pot that does not run", err, 1)

	r := e.start(name)
	r.waitJailFile("ready")
	u, err := e.c.GetRSS(e.ctx(), name)
	if err != nil && !e.tg.potsim && strings.Contains(err.Error(), "rctl") {
		t.Skipf("get-rss on this host: %v", err)
	}
	if err != nil {
		t.Fatalf("get-rss of a running pot: %v", err)
	}
	if u.MemoryStats.RSS == 0 {
		t.Fatalf("get-rss of a running pot: RSS 0 (%+v)", u)
	}
	t.Logf("get-rss: %+v", *u)
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatal(err)
	}
	r.waitCode(143)
	_, err = e.c.GetRSS(e.ctx(), name)
	wantPotError(t, "get-rss after stop", err, 1)
}
