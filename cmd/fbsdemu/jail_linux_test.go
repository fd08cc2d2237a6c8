package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jailTestEnv is a test's emulated machine: the tools on PATH, a state
// folder, a cgroup tree of its own, a jail root made of busybox, and a
// private mount and network namespace (kept by a holder process) that
// every command runs in.
type jailTestEnv struct {
	t      *testing.T
	dir    string
	root   string
	env    []string
	holder *exec.Cmd
}

func newJailTestEnv(t *testing.T) *jailTestEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, p := range []string{"/bin/busybox", cgroup2Root + "/cgroup.procs"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("needs %s", p)
		}
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare")
	}
	dir, env := toolsDir(t)
	cg := filepath.Join(cgroup2Root, "fbsdemu-test-"+strconv.Itoa(os.Getpid())+"-"+filepath.Base(filepath.Dir(dir))+filepath.Base(dir))
	t.Cleanup(func() { removeCgroupTree(cg) })
	e := &jailTestEnv{t: t, dir: dir, root: filepath.Join(dir, "root"), env: append(env, cgroupEnv+"="+cg)}
	for _, d := range []string{"bin", "tmp", "etc", "dev", "root"} {
		if err := os.MkdirAll(filepath.Join(e.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.root, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"sh", "sleep", "cat", "cp", "mkdir", "env", "printf", "echo", "ls", "true", "pwd"} {
		if err := os.Symlink("busybox", filepath.Join(e.root, "bin", n)); err != nil {
			t.Fatal(err)
		}
	}
	e.holder = exec.Command("unshare", "-m", "-n", "--propagation", "private", "sleep", "100000")
	if err := e.holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.holder.Process.Kill()
		_ = e.holder.Wait()
	})
	self, _ := os.Readlink("/proc/self/ns/mnt")
	for i := 0; ; i++ {
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", e.holder.Process.Pid))
		if ns != "" && ns != self {
			break
		}
		if i > 200 {
			t.Fatal("unshare did not enter a mount namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Kill whatever a failed test leaves in the jails before the folders go.
	t.Cleanup(func() { e.sh("for j in $(jls jid); do jail -q -f /dev/null -R $j; done") })
	return e
}

// sh runs a bash script inside the namespaces; it returns the combined
// output and exit status.
func (e *jailTestEnv) sh(script string) (string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pid := strconv.Itoa(e.holder.Process.Pid)
	c := exec.CommandContext(ctx, "nsenter", "--mount=/proc/"+pid+"/ns/mnt", "--net=/proc/"+pid+"/ns/net", "--", "bash", "-c", "R="+e.root+"; D="+e.dir+"\n"+script)
	c.Env = e.env
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		e.t.Fatalf("timeout: %s\n%s", script, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("%s: %v", script, err)
	}
	return string(out), code
}

// must runs a script that must succeed.
func (e *jailTestEnv) must(script string) string {
	e.t.Helper()
	out, code := e.sh(script)
	if code != 0 {
		e.t.Fatalf("%s\nexit %d: %s", script, code, out)
	}
	return out
}

func (e *jailTestEnv) cgroupGone(jid int) bool {
	for _, v := range e.env {
		if cg, ok := strings.CutPrefix(v, cgroupEnv+"="); ok {
			_, err := os.Stat(filepath.Join(cg, strconv.Itoa(jid)))
			return os.IsNotExist(err)
		}
	}
	return false
}

// pot's start sequence: a nopersist jail kept up by exec.start's sleep,
// the command entered with jexec in the background, the sleep killed with
// pkill -j; the jail goes when the command ends.
func TestJailPotStartSequence(t *testing.T) {
	e := newJailTestEnv(t)
	out := e.must(`
printf 'echo $$ >/tmp/tinirc.pid\nsleep 1\nexit 7\n' >$R/tmp/tinirc   # no #! line
chmod a+x $R/tmp/tinirc
sleep 1234 >/dev/null 2>&1 &  # the same command outside the jail
host=$!
jail -c name=web host.hostname=web.local path=$R nopersist mount.devfs exec.clean allow.raw_sockets allow.set_hostname=false exec.start="sh -c 'sleep 1234&'" >$D/log 2>&1 || { cat $D/log; exit 1; }
cat $D/log
jls -j web >/dev/null && echo running
test -c $R/dev/null && echo devfs
jexec web /tmp/tinirc &
wait_pid=$!
sleep 0.5
echo "injail=$(pgrep -f -j web '^sleep 1234$' | wc -l)"
pkill -f -j web "^sleep 1234$"; echo "pkill=$?"
sleep 0.2
kill -0 $host && echo host-sleep-alive
echo "injail=$(pgrep -f -j web '^sleep 1234$' | wc -l)"
jls -j web >/dev/null && echo still-running
wait $wait_pid; echo "exit=$?"
[ "$(cat $R/tmp/tinirc.pid)" = "$wait_pid" ] && echo same-pid
jls -j web; echo "jls=$?"
ls $R/dev | wc -l
pkill -f -j web x; echo "pkill-gone=$?"
kill $host
`)
	want := `web: created
running
devfs
injail=1
pkill=0
host-sleep-alive
injail=0
still-running
exit=7
same-pid
jls: jail "web" not found
jls=1
0
pkill: Invalid jail ID ` + "`web'" + `
pkill-gone=2
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if !e.cgroupGone(1) {
		t.Error("the jail's cgroup is left")
	}
}

// copy-in.sh: a throwaway jail running one command in the foreground.
func TestJailCommand(t *testing.T) {
	e := newJailTestEnv(t)
	out := e.must(`
echo hello >$R/tmp/a
jail -c path=$R command=/bin/cp /tmp/a /tmp/b; echo "cp=$?"
cat $R/tmp/b
jail -c path=$R command=/bin/sh -c 'exit 3'; echo "sh=$?"
jls | wc -l
`)
	if want := "cp=0\nhello\nsh=3\n1\n"; out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if !e.cgroupGone(1) || !e.cgroupGone(2) {
		t.Error("a throwaway jail's cgroup is left")
	}
}

// stop.sh: jail -f- -q -r with exec.stop and stop.timeout, against a
// process that ignores SIGTERM.
func TestJailRemoveStopTimeout(t *testing.T) {
	e := newJailTestEnv(t)
	e.must(`jail -c name=db path=$R persist >/dev/null
jexec db sh -c 'trap "" TERM; echo $$ >/tmp/stubborn; while :; do sleep 0.1; done' >/dev/null 2>&1 &
jexec db sleep 1000 >/dev/null 2>&1 &
sleep 0.3`)
	start := time.Now()
	out := e.must(`
stubborn=$(cat $R/tmp/stubborn)
(
echo "db {"
printf "  %s=%s;\n" exec.stop '"echo stopped from $(echo inside) >/tmp/stopped"'
printf "  %s=%s;\n" stop.timeout 2
echo "}"
) | jail -f- -q -r db; echo "r=$?"
cat $R/tmp/stopped
{ ! kill -0 $stubborn 2>/dev/null || grep -q '^State:.*Z' /proc/$stubborn/status; } && echo stubborn-gone
jls -j db 2>&1
jail -r db; echo "again=$?"
`)
	took := time.Since(start)
	want := "r=0\nstopped from inside\nstubborn-gone\njls: jail \"db\" not found\njail: db: not found\nagain=1\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if took < 2*time.Second || took > 10*time.Second {
		t.Errorf("removal took %v, want stop.timeout (2s) and a little", took)
	}
	if !e.cgroupGone(1) {
		t.Error("the jail's cgroup is left")
	}
	// stop.timeout=0: no waiting at all; a plain -r prints "NAME: removed".
	e.must(`jail -c name=q path=$R persist >/dev/null; jexec q sh -c 'trap "" TERM; while :; do sleep 0.1; done' >/dev/null 2>&1 & sleep 0.2`)
	start = time.Now()
	out = e.must(`echo 'q { stop.timeout = 0; }' >$D/jail.conf; jail -f $D/jail.conf -r q`)
	if took := time.Since(start); took > 3*time.Second || out != "q: removed\n" {
		t.Errorf("stop.timeout=0: %q after %v", out, took)
	}
}

func TestJlsFormats(t *testing.T) {
	e := newJailTestEnv(t)
	out := e.must(`
jail -c name=alpha host.hostname=alpha.example path=$R ip4.addr=10.1.2.3 persist osrelease=14.3-RELEASE >/dev/null
jail -qc name=beta host.hostname=beta path=/ persist
jls
jls -N
jls -j beta jid
jls -j 1 name host.hostname
jls -n -j alpha name path persist ip4.addr osrelease
jls -q -j alpha -n exec.start 2>&1 || true
jls -v -j alpha
jls -j gamma; echo "missing=$?"
jls -j 7; echo "missing=$?"
`)
	want := "" +
		"   JID  IP Address      Hostname                      Path\n" +
		"     1  10.1.2.3        alpha.example                 " + e.root + "\n" +
		"     2                  beta                          /\n" +
		" JID             IP Address      Hostname                      Path\n" +
		" alpha           10.1.2.3        alpha.example                 " + e.root + "\n" +
		" beta                            beta                          /\n" +
		"2\n" +
		"alpha alpha.example\n" +
		"name=alpha path=" + e.root + " persist ip4.addr=10.1.2.3 osrelease=14.3-RELEASE\n" +
		"jls: unknown parameter: exec.start\n" +
		"   JID  Hostname                      Path\n" +
		"        Name                          State\n" +
		"        CPUSetID\n" +
		"        IP Address(es)\n" +
		"     1  alpha.example                 " + e.root + "\n" +
		"        alpha                         ACTIVE\n" +
		"        2\n" +
		"        10.1.2.3\n" +
		"jls: jail \"gamma\" not found\nmissing=1\n" +
		"jls: jail 7 not found\nmissing=1\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestJexecStatusPidAndShellFallback(t *testing.T) {
	e := newJailTestEnv(t)
	out := e.must(`
jail -qc name=x path=$R persist
jexec x sh -c 'exit 42'; echo "status=$?"
jexec x sh -c 'echo $$ >/tmp/pid; sleep 0.2' & p=$!; wait $p
[ "$(cat $R/tmp/pid)" = "$p" ] && echo same-pid
printf 'echo script args: "$@"\n' >$R/tmp/noshebang; chmod +x $R/tmp/noshebang
jexec x /tmp/noshebang a b
jexec x /nonexistent; echo "missing=$?"
jexec y true; echo "nojail=$?"
jexec x pwd
HOME=/elsewhere jexec -l x env | sort | grep -E '^(HOME|PATH|SHELL|USER)='
jexec -l -U root x sh -c 'pwd; echo $USER'
`)
	want := "status=42\nsame-pid\nscript args: a b\n" +
		"jexec: execvp: /nonexistent: No such file or directory\nmissing=1\n" +
		"jexec: jail \"y\" not found\nnojail=1\n" +
		"/\n" +
		"HOME=/root\nPATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin:/root/bin\nSHELL=/bin/sh\nUSER=root\n" +
		"/root\nroot\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestJailVnet(t *testing.T) {
	e := newJailTestEnv(t)
	out := e.must(`
ip link add vjt0a type veth peer name vjt0b
jail -qc name=v path=$R persist vnet vnet.interface=vjt0b
ip link show vjt0b >/dev/null 2>&1 || echo moved
nsenter --net=$FBSDEMU_STATE/jails/netns/1 ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' '; echo
jexec v sleep 100 >/dev/null 2>&1 & p=$!; sleep 0.3
[ "$(readlink /proc/$p/ns/net)" = "$(readlink $FBSDEMU_STATE/jails/netns/1 2>/dev/null || stat -L -c 'net:[%i]' $FBSDEMU_STATE/jails/netns/1)" ] && echo in-vnet
[ "$(readlink /proc/$p/ns/net)" != "$(readlink /proc/self/ns/net)" ] && echo not-host-net
jail -q -r v
ip link show vjt0b >/dev/null 2>&1 && echo back
ip link del vjt0a
`)
	if want := "moved\nlo vjt0b \nin-vnet\nnot-host-net\nback\n"; out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}

func TestPgrepPkillKillall(t *testing.T) {
	e := newJailTestEnv(t)
	out := e.must(`
gone() { ! kill -0 $1 2>/dev/null || grep -q '^State:.*Z' /proc/$1/status; }
a=$(sleep 2345 >/dev/null 2>&1 & echo $!)   # not this shell's jobs: no "Killed" notes
b=$(sleep 2346 >/dev/null 2>&1 & echo $!)
sleep 0.1
[ "$(pgrep -f '^sleep 2345$')" = "$a" ] && echo exact-f
[ "$(pgrep -f 'sleep 234[56]' | tr '\n' ' ')" = "$a $b " ] && echo regex
[ "$(pgrep -n -f 'sleep 234[56]')" = "$b" ] && echo newest
[ "$(pgrep -o -f 'sleep 234[56]')" = "$a" ] && echo oldest
pgrep -l -f 'sleep 2345' | sed "s/^$a /PID /"
pgrep -x -f 'sleep 234'; echo "x=$?"
echo $a >$D/pidfile
[ "$(pgrep -F $D/pidfile -f sleep)" = "$a" ] && echo pidfile
pgrep -f 'pgrep -f unique-zzz'; echo "self=$?"
pgrep -q -f 'sleep 2345'; echo "q=$? $(pgrep -q -f 'sleep 2345')"
pgrep; echo "usage=$?"
pgrep -j none -f 'sleep 2345' >/dev/null && echo none
pgrep -j any -f 'sleep 2345'; echo "any=$?"
pkill -TERM -l -f '^sleep 2345$' | sed "s/ $a$/ PID/"
pkill -SIGKILL -f '^sleep 2346$'; echo "kill=$?"
sleep 0.1
gone $a && echo a-gone
gone $b && echo b-gone
pkill -15 -f '^sleep 2345$'; echo "nothing=$?"
pkill -F $D/nonexistent; echo "nopidfile=$?"
killall -l | xargs | wc -w
`)
	if !strings.HasPrefix(out, "exact-f\nregex\nnewest\noldest\nPID sleep 2345\nx=1\npidfile\nself=1\nq=0 \nusage: pgrep") {
		t.Fatalf("got:\n%s", out)
	}
	rest := out[strings.Index(out, "usage=2\n"):]
	wantRest := "usage=2\nnone\nany=1\nkill -15 PID\nkill=0\na-gone\nb-gone\nnothing=1\npkill: Cannot open pidfile `" + e.dir + "/nonexistent': No such file or directory\nnopidfile=3\n31\n"
	if rest != wantRest {
		t.Errorf("got:\n%s\nwant:\n%s", rest, wantRest)
	}
	out = e.must("killall -l")
	if want := "HUP INT QUIT ILL TRAP ABRT EMT FPE KILL BUS SEGV SYS PIPE ALRM TERM URG STOP \nTSTP CONT CHLD TTIN TTOU IO XCPU XFSZ VTALRM PROF WINCH INFO USR1 USR2 \n"; out != want {
		t.Errorf("killall -l:\n%q\nwant\n%q", out, want)
	}
}

func TestRctl(t *testing.T) {
	e := newJailTestEnv(t)
	out := e.must(`
rctl -a jail:web:memoryuse:deny=1g,jail:web:maxproc:deny=50 jail:other:openfiles:deny=100
rctl -a jail:web:memoryuse:deny=512m   # replaces the other deny
rctl -a jail:web:memoryuse:log=1073741824 jail:web:pcpu:deny=150
rctl -l jail:web
echo --
rctl -h
echo --
rctl -l jail::maxproc
rctl -r jail:web:memoryuse; echo "r=$?"
rctl -l jail:web
rctl -r jail:web; echo "r=$?"
rctl -r jail:nothing; echo "r=$?"
rctl -l jail:web | wc -l
`)
	want := "jail:web:maxproc:deny=50\njail:web:memoryuse:deny=536870912\njail:web:memoryuse:log=1073741824\njail:web:pcpu:deny=150\n--\n" +
		"jail:other:openfiles:deny=100\njail:web:maxproc:deny=50\njail:web:memoryuse:deny=512M\njail:web:memoryuse:log=1.0G\njail:web:pcpu:deny=150\n--\n" +
		"jail:web:maxproc:deny=50\nr=0\njail:web:maxproc:deny=50\njail:web:pcpu:deny=150\nr=0\nr=0\n0\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	for _, c := range []struct{ rule, msg string }{
		{"jail:web:bogus:deny=1", "rctl: failed to add rule 'jail:web:bogus:deny=1': Invalid argument\n"},
		{"jail:web:memoryuse:explode=1", "rctl: failed to add rule 'jail:web:memoryuse:explode=1': Invalid argument\n"},
		{"jail:web:cputime:deny=10", "rctl: failed to add rule 'jail:web:cputime:deny=10': Operation not supported\n"},
		{"jail:web:memoryuse", "rctl: failed to add rule 'jail:web:memoryuse': Invalid argument\n"},
	} {
		out, code := e.sh("rctl -a " + c.rule)
		if code != 1 || out != c.msg {
			t.Errorf("rctl -a %s: exit %d %q, want 1 %q", c.rule, code, out, c.msg)
		}
	}
	// Usage of a jail with a process.
	out = e.must(`jail -qc name=web path=$R persist
jexec web sleep 100 >/dev/null 2>&1 &
sleep 0.3
rctl -u jail:web; echo --; rctl -hu jail:web | grep -E '^(memoryuse|maxproc)='`)
	usage, human, _ := strings.Cut(out, "--\n")
	vals := map[string]int64{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(usage), "\n") {
		k, v, _ := strings.Cut(line, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("bad usage line %q", line)
		}
		vals[k] = n
		order = append(order, k)
	}
	if strings.Join(order, " ") != strings.Join(rctlResources, " ") {
		t.Errorf("usage resources %v, want %v", order, rctlResources)
	}
	if vals["memoryuse"] <= 0 || vals["vmemoryuse"] < vals["memoryuse"] || vals["maxproc"] != 1 || vals["nthr"] != 1 || vals["openfiles"] < 3 {
		t.Errorf("usage: %v", vals)
	}
	if !regexp.MustCompile(`^memoryuse=[0-9.]+[KM]\nmaxproc=1\n$`).MatchString(human) {
		t.Errorf("rctl -hu: %q", human)
	}
	out, code := e.sh("rctl -u jail:nope")
	if code != 1 || out != "rctl: failed to show resource consumption for 'jail:nope': No such process\n" {
		t.Errorf("rctl -u of a missing jail: %d %q", code, out)
	}
	// kern.racct.enable=0
	out, code = e.sh(`echo '{"kern.racct.enable": "0"}' >$FBSDEMU_STATE/sysctl.json; rctl -l jail:web`)
	if code != 1 || out != "rctl: RACCT/RCTL support not present in kernel; see rctl(8) for details\n" {
		t.Errorf("racct disabled: %d %q", code, out)
	}
}

func TestHumanizeNumber(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1.0K", 1023: "1.0K", 1024: "1.0K", 1536: "1.5K",
		10 * 1024: "10K", 536870912: "512M", 1073741824: "1.0G", 999 * 1024: "999K", 1000 * 1024: "1.0M"} {
		if got := humanizeNumber(n); got != want {
			t.Errorf("humanizeNumber(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCpusetJail(t *testing.T) {
	e := newJailTestEnv(t)
	if len(onlineCPUs()) < 2 {
		t.Skip("needs 2 CPUs")
	}
	out := e.must(`
jail -qc name=c path=$R persist
jexec c sleep 100 >/dev/null 2>&1 & p=$!; sleep 0.2
cpuset -g -j c | grep -v domain
cpuset -l 1 -j 1; echo "l=$?"
grep Cpus_allowed_list /proc/$p/status
cpuset -g -j c
jexec c sleep 100 >/dev/null 2>&1 & q=$!; sleep 0.2
grep Cpus_allowed_list /proc/$q/status
cpuset -g -j c | grep -F -v domain | cut -f 2 -d ':' | tr -d '[:blank:]'
cpuset -l 0-1 -j c
grep Cpus_allowed_list /proc/$q/status
cpuset -l 1-0 -j c; echo "bad=$?"
cpuset -g -j nope; echo "nope=$?"
`)
	n := len(onlineCPUs())
	all := make([]string, n)
	for i := range all {
		all[i] = strconv.Itoa(i)
	}
	want := "jail 1 mask: " + strings.Join(all, ", ") + "\nl=0\nCpus_allowed_list:\t1\njail 1 mask: 1\njail 1 domain policy: first-touch mask: 0\n" +
		"Cpus_allowed_list:\t1\n1\nCpus_allowed_list:\t0-1\n" +
		"cpuset: Malformed cpu-list 1-0\nbad=1\ncpuset: jail \"nope\" not found\nnope=1\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}
