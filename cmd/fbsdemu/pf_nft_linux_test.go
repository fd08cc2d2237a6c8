package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// machineBinary builds fbsdemu for `fbsdemu run`, outside /tmp (the
// machine has a /tmp of its own, where the program would be missing).
func machineBinary(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, p := range []string{"ip", "bash"} {
		if hostPath(p) == "" {
			t.Skipf("needs %s", p)
		}
	}
	dir, err := os.MkdirTemp("/var/tmp", "fbsdemu-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "fbsdemu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runMachine runs a bash script as the command of `fbsdemu run`.
func runMachine(t *testing.T, bin, script string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, bin, "run", "--", "bash", "-c", script)
	c.Dir = filepath.Dir(bin)
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("timeout:\n%s", out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// An rdr anchor loaded by pfctl makes a port of the machine's em0 reach a
// listener from the wire (a client on the LAN), only while pf is enabled
// and until the anchor is flushed, as pot's start.sh and stop.sh use it.
// The wire leaves nothing behind.
func TestPfRdrFromTheWire(t *testing.T) {
	bin := machineBinary(t)
	nft := hostPath("nft")
	if nft == "" {
		t.Skip("needs nft (apt-get install nftables)")
	}
	runNetns, _ := os.ReadDir("/run/netns")
	out, code := runMachine(t, bin, `
emu=`+bin+`
lan() { $emu wire -- ncat "$FBSDEMU_EXTIF_ADDR" 32768 </dev/null 2>&1; echo "lan=$?"; }
echo "forwarding=$(cat /proc/sys/net/ipv4/ip_forward) ext=$FBSDEMU_EXTIF_ADDR"
$emu wire -- ip -4 -o addr show | awk '{print "wire", $2, $4}'
ip addr add 10.192.0.3/32 dev lo
ncat -lk 8080 -c 'echo through rdr' >/dev/null 2>&1 &
for i in $(seq 100); do sockstat -4 -l -p 8080 | grep -q ':8080 ' && break; sleep 0.05; done
lan
echo 'rdr pass on em0 proto tcp from any to (em0) port 32768 -> 10.192.0.3 port 8080' >/tmp/rdr
pfctl -a pot-rdr/web -f /tmp/rdr; echo "load=$?"
lan
pfctl -e 2>&1
lan
pfctl -d 2>&1
lan
nft list tables
pfctl -e 2>&1
nft list tables
pfctl -a pot-rdr/web -s nat
pfctl -a pot-rdr/web -F nat -q; echo "flush=$?"
lan
echo "wire-netns=$(stat -L -c %i "$FBSDEMU_WIRE_NETNS")"
`)
	refused := "Ncat: dial tcp 198.18.0.2:32768: connect: connection refused.\nlan=1\n"
	want := "forwarding=1 ext=198.18.0.2\n" +
		"wire lo 127.0.0.1/8\nwire em0peer 198.18.0.1/24\n" +
		refused +
		"load=0\n" +
		refused +
		"pf enabled\n" +
		"through rdr\nlan=0\n" +
		"pf disabled\n" +
		refused +
		"pf enabled\n" +
		"table ip fbsdemu_pf\n" +
		"rdr pass on em0 proto tcp from any to (em0) port 32768 -> 10.192.0.3 port 8080\n" +
		"flush=0\n" +
		refused
	m := regexp.MustCompile(`wire-netns=(\d+)\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil || strings.TrimSuffix(out, m[0]) != want {
		t.Fatalf("got (exit %d):\n%s\nwant:\n%swire-netns=INODE\n", code, out, want)
	}
	// The wire's namespace went with the machine: no process of this host
	// is in it, no name of it is left in /run/netns, em0peer is gone.
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	for _, p := range procs {
		if l, _ := os.Readlink(p); l == "net:["+m[1]+"]" {
			t.Errorf("%s is still in the wire's network namespace", p)
		}
	}
	if after, _ := os.ReadDir("/run/netns"); len(after) != len(runNetns) {
		t.Errorf("/run/netns had %d entries, has %d after fbsdemu run", len(runNetns), len(after))
	}
	if _, err := net.InterfaceByName(wireIf); err == nil {
		t.Errorf("%s is on the host after fbsdemu run", wireIf)
	}
}

// fbsdemu run needs no nft; pfctl does, and says what to install.
func TestRunWithoutNft(t *testing.T) {
	bin := machineBinary(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare")
	}
	nft := hostPath("nft")
	if nft == "" {
		out, code := runMachine(t, bin, "pfctl -s info")
		if code != 0 || !strings.HasPrefix(out, "Status: Disabled") {
			t.Fatalf("without nft: exit %d\n%s", code, out)
		}
		return
	}
	// Hide it from the machine (a private mount namespace of unshare's).
	c := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		"touch \"$1/nonft\" && mount --bind \"$1/nonft\" \"$2\" && exec \"$3\" run -- sh -c 'pfctl -s info; pfctl -e; echo \"e=$?\"'",
		"sh", filepath.Dir(bin), nft, bin)
	out, err := c.CombinedOutput()
	want := "Status: Disabled for 0 days 00:00:00           Debug: Urgent\n" +
		"pf enabled\npfctl: nft not found: pf's nat and rdr rules are applied as nftables rules (apt-get install nftables)\ne=1\n"
	if err != nil || string(out) != want {
		t.Fatalf("without nft: %v\n%s\nwant:\n%s", err, out, want)
	}
}
