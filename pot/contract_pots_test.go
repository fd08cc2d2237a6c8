package pot

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Version is pot's bare x.y.z, at least the 0.15 the driver needs.
func TestContractVersion(t *testing.T) {
	t.Parallel()
	e := newBareEnv(t)
	v, err := e.c.Version(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`).FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("version %q is not x.y.z", v)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major == 0 && minor < 15 {
		t.Fatalf("version %s is older than 0.15", v)
	}
	t.Logf("pot version %s", v)
}

// Config answers fs_root (an existing folder) and zfs_root (a dataset
// name); an unknown name is pot's exit status 1.
func TestContractConfig(t *testing.T) {
	t.Parallel()
	e := newBareEnv(t)
	fs, err := e.c.Config(e.ctx(), "fs_root")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(fs) {
		t.Fatalf("fs_root %q is not an absolute path", fs)
	}
	if st, err := os.Stat(fs); err != nil || !st.IsDir() {
		t.Fatalf("fs_root %s is not a folder: %v", fs, err)
	}
	if e.tg.potsim && fs != e.root {
		t.Fatalf("potsim's fs_root %s is not its POTSIM_ROOT %s", fs, e.root)
	}
	zfs, err := e.c.Config(e.ctx(), "zfs_root")
	if err != nil {
		t.Fatal(err)
	}
	if zfs == "" || strings.HasPrefix(zfs, "/") || strings.ContainsAny(zfs, " \t") {
		t.Fatalf("zfs_root %q is not a dataset name", zfs)
	}
	t.Logf("fs_root %s, zfs_root %s", fs, zfs)
	_, err = e.c.Config(e.ctx(), "no_such_setting")
	wantPotError(t, "config -g no_such_setting", err, 1)
}

// Prepare makes the pot NAME_ALLOC (dots turned into _) from the image,
// imported once as the pot IMAGE_TAG and reused; the new pot is stopped,
// has never run, and a second prepare of the same name fails with pot's
// message.
func TestContractPrepare(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	base := uniqueName()
	name := e.prepare(PrepareOptions{Name: base + ".web", Alloc: "7.b", Argv: sh("exit 0")})
	if want := base + "_web_7_b"; name != want {
		t.Fatalf("pot name %q, want %q", name, want)
	}
	pots, err := e.c.List(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	img := ImageName(e.image, e.tag)
	if strings.Contains(img, ".") {
		t.Fatalf("ImageName(%q, %q) = %q keeps a dot", e.image, e.tag, img)
	}
	if !slices.Contains(pots, name) || !slices.Contains(pots, img) {
		t.Fatalf("ls -q = %q, want the pot %s and the image pot %s", pots, name, img)
	}
	running, err := e.c.ListRunning(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(running, name) {
		t.Fatalf("ps -q = %q lists the prepared pot %s", running, name)
	}
	if r, err := e.c.IsRunning(e.ctx(), name); err != nil || r {
		t.Fatalf("IsRunning(prepared pot) = %v, %v", r, err)
	}
	rs, err := e.c.LastRunStats(e.ctx(), name)
	if err != nil {
		t.Fatal(err)
	}
	if rs.ExitCode != nil {
		t.Fatalf("last-run-stats of a pot that never ran: ExitCode %d, want none", *rs.ExitCode)
	}
	if e.tg.potsim {
		if got := e.readJail(name, imageMarker); got != "pot contract image\n" {
			t.Fatalf("the pot's file system is not the image's: %s = %q", imageMarker, got)
		}
	}

	// The same name and allocation again: pot refuses, exit 1, and says why.
	_, err = e.c.Prepare(e.ctx(), PrepareOptions{URL: e.url, Image: e.image, Tag: e.tag,
		Name: base + ".web", Alloc: "7.b", Argv: sh("exit 0")})
	wantPotError(t, "second prepare of "+name, err, 1, name, "already exists")

	// Another allocation of the same image: the imported image is reused.
	other := e.prepare(PrepareOptions{Name: base + ".web", Alloc: "8.b"})
	if other == name {
		t.Fatal("two allocations got the same pot")
	}
	if e.tg.potsim {
		if n := e.srv.requests(e.image, e.tag); n != 1 {
			t.Fatalf("the image was fetched %d times for two prepares, want once", n)
		}
	} else {
		t.Log("real pot: the image server's requests are not counted")
	}
}

// A prepare of an image the server does not have fails with exit 1 and an
// error naming the URL pot fetched first, the image's .skein (the file name
// keeps the tag's dots), and leaves neither the pot nor an image pot behind.
func TestContractPrepareMissingImage(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	tag := "9.9." + uniqueName()
	o := PrepareOptions{URL: e.url, Image: e.image, Tag: tag, Name: uniqueName(), Alloc: "a1"}
	e.destroyAtEnd(PotName(o.Name, o.Alloc))
	e.destroyAtEnd(ImageName(e.image, tag))
	_, err := e.c.Prepare(e.ctx(), o)
	wantPotError(t, "prepare of a missing image", err, 1, e.url+"/"+e.image+"_"+tag+".xz.skein")
	pots, err := e.c.List(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(pots, PotName(o.Name, o.Alloc)) || slices.Contains(pots, ImageName(e.image, tag)) {
		t.Fatalf("a failed prepare left pots behind: %q", pots)
	}
	if e.tg.potsim && e.srv.fileRequests(ImageFile(e.image, tag)+".skein") == 0 {
		t.Fatal("the image server was not asked")
	}
}

// Info -E, parsed: the pot's name, its address on the public bridge (a
// different one per pot), and its jail id only while it runs; List,
// ListRunning and IsRunning follow the pot's life.
func TestContractInfoAndLists(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	inh := e.prepare(PrepareOptions{Network: NetworkInherit, Argv: sh("exit 0")})
	info, err := e.c.Info(e.ctx(), inh)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name() != inh || info.JID() != 0 {
		t.Fatalf("info -E of stopped inherit pot %s: %v", inh, info.Vars)
	}

	pb := e.prepare(PrepareOptions{Network: NetworkPublicBridge, IP: "auto",
		Argv: sh("echo ready > ready; exec sleep 600")})
	pb2 := e.prepare(PrepareOptions{Network: NetworkPublicBridge, IP: "auto", Argv: sh("exit 0")})
	var ips []netip.Addr
	for _, n := range []string{pb, pb2} {
		info, err := e.c.Info(e.ctx(), n)
		if err != nil {
			t.Fatal(err)
		}
		if info.Name() != n {
			t.Fatalf("info -E of %s: _POT_NAME %q", n, info.Name())
		}
		if len(info.IPs()) != 1 {
			t.Fatalf("info -E of public-bridge pot %s: IPs %q (%v)", n, info.IPs(), info.Vars)
		}
		ip, err := netip.ParseAddr(info.IPs()[0])
		if err != nil {
			t.Fatalf("info -E of %s: _POT_IP: %v", n, err)
		}
		ips = append(ips, ip)
	}
	if ips[0] == ips[1] {
		t.Fatalf("two public-bridge pots got the same address %s", ips[0])
	}
	t.Logf("public-bridge addresses %s", ips)

	r := e.start(pb)
	r.waitJailFile("ready")
	e.waitRunning(pb, true)
	info, err = e.c.Info(e.ctx(), pb)
	if err != nil {
		t.Fatal(err)
	}
	if info.JID() <= 0 {
		t.Fatalf("info -E of running pot %s: no _POT_JID (%v)", pb, info.Vars)
	}
	if info.IPs()[0] != ips[0].String() {
		t.Fatalf("the running pot's address %s is not the prepared %s", info.IPs()[0], ips[0])
	}
	running, err := e.c.ListRunning(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(running, pb) || slices.Contains(running, pb2) || slices.Contains(running, inh) {
		t.Fatalf("ps -q = %q, want %s and not %s, %s", running, pb, pb2, inh)
	}
	if err := e.c.Stop(e.ctx(), pb); err != nil {
		t.Fatal(err)
	}
	r.waitCode(143) // sleep ended by SIGTERM
	if ok, err := e.c.IsRunning(e.ctx(), pb); err != nil || ok {
		t.Fatalf("IsRunning after stop = %v, %v", ok, err)
	}
	info, err = e.c.Info(e.ctx(), pb)
	if err != nil {
		t.Fatal(err)
	}
	if info.JID() != 0 {
		t.Fatalf("info -E of stopped pot %s still has _POT_JID (%v)", pb, info.Vars)
	}
	running, err = e.c.ListRunning(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(running, pb) {
		t.Fatalf("ps -q = %q after stop", running)
	}
	pots, err := e.c.List(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{inh, pb, pb2} {
		if !slices.Contains(pots, n) {
			t.Fatalf("ls -q = %q misses %s (a stopped pot stays)", pots, n)
		}
	}
}

// What pot says about a pot that does not exist: info, last-run-stats and
// destroy fail with exit 1; IsRunning is false; stop succeeds.
func TestContractMissingPot(t *testing.T) {
	t.Parallel()
	e := newBareEnv(t)
	missing := uniqueName() + "_gone"
	_, err := e.c.Info(e.ctx(), missing)
	wantPotError(t, "info -E of a missing pot", err, 1)
	_, err = e.c.LastRunStats(e.ctx(), missing)
	wantPotError(t, "last-run-stats of a missing pot", err, 1)
	err = e.c.Destroy(e.ctx(), missing, true)
	wantPotError(t, "destroy -F of a missing pot", err, 1, missing)
	err = e.c.Destroy(e.ctx(), missing, false)
	wantPotError(t, "destroy of a missing pot", err, 1, missing)
	if ok, err := e.c.IsRunning(e.ctx(), missing); err != nil || ok {
		t.Fatalf("IsRunning(missing pot) = %v, %v; want false, nil", ok, err)
	}
	if err := e.c.Stop(e.ctx(), missing); err != nil {
		t.Fatalf("stop of a missing pot: %v (pot exits 0)", err)
	}
}

// Destroy: without -F a running pot is refused (exit 1) and keeps running;
// with -F it is stopped (the run ends) and removed.
func TestContractDestroy(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: sh("echo ready > ready; exec sleep 600")})
	r := e.start(name)
	r.waitJailFile("ready")
	e.waitRunning(name, true)

	err := e.c.Destroy(e.ctx(), name, false)
	wantPotError(t, "destroy of a running pot without -F", err, 1)
	e.waitRunning(name, true)

	begin := time.Now()
	if err := e.c.Destroy(e.ctx(), name, true); err != nil {
		t.Fatalf("destroy -F of a running pot: %v", err)
	}
	t.Logf("destroy -F of a running pot took %s", time.Since(begin).Round(time.Millisecond))
	st, err := r.wait(15 * time.Second)
	var se *StartError
	if errors.As(err, &se) {
		t.Fatalf("the destroyed pot's run ended with a start error: %v", err)
	}
	t.Logf("run of the destroyed pot: %+v, %v", st, err)
	pots, err := e.c.List(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(pots, name) {
		t.Fatalf("ls -q = %q still lists the destroyed pot", pots)
	}
	if ok, err := e.c.IsRunning(e.ctx(), name); err != nil || ok {
		t.Fatalf("IsRunning(destroyed pot) = %v, %v", ok, err)
	}
	if _, err := os.Stat(filepath.Join(e.fsRoot(), "jails", name)); !os.IsNotExist(err) {
		t.Fatalf("the destroyed pot's folder is still there: %v", err)
	}
}

// pot needs `pot init`: before it, every subcommand but version and init
// exits 1 with pot-cmd's "... does not exist, please run 'pot init'"; after
// it ls -q works (an empty list). potsim only: it needs a root that pot init
// has not made, which a real host (initialised by its operator) is not.
func TestContractInitRequired(t *testing.T) {
	t.Parallel()
	e := newUninitEnv(t)
	if !e.tg.potsim {
		t.Log("real pot: its host is initialised already; a fresh uninitialised root needs potsim")
		return
	}
	_, err := e.c.List(e.ctx())
	wantPotError(t, "ls -q before pot init", err, 1, e.root+" does not exist, please run 'pot init'")
	if v, err := e.c.Version(e.ctx()); err != nil || v == "" {
		t.Fatalf("version before pot init: %q, %v", v, err)
	}
	e.potInit()
	pots, err := e.c.List(e.ctx())
	if err != nil || len(pots) != 0 {
		t.Fatalf("ls -q after pot init: %q, %v", pots, err)
	}
	e.potInit() // a second init is fine, as pot's
	if _, err := e.c.List(e.ctx()); err != nil {
		t.Fatalf("ls -q after a second pot init: %v", err)
	}
}

// The image pot IMAGE_TAG a pot was cloned from cannot be destroyed (ZFS
// keeps a dataset with dependent clones): destroy, with or without -F, exits
// 1 with pot's message, and both pots stay, the clone still runs. Once the
// clone is destroyed the image pot destroys too (potsim only: on a real host
// the image pot is the host's image cache, which other pots may be cloned
// from).
func TestContractDestroyImageWithClone(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: sh("echo ran > ran")})
	img := ImageName(e.image, e.tag)
	for _, force := range []bool{false, true} {
		err := e.c.Destroy(e.ctx(), img, force)
		wantPotError(t, fmt.Sprintf("destroy (force %v) of the image pot %s with a clone", force, img), err, 1,
			"zfs failed to destroy the dataset", img+" destruction failed")
	}
	pots, err := e.c.List(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pots, img) || !slices.Contains(pots, name) {
		t.Fatalf("ls -q = %q after the failed destroy, want both %s and %s", pots, img, name)
	}
	e.start(name).waitCode(0)
	if got := e.readJail(name, "ran"); got != "ran\n" {
		t.Fatalf("the clone's run wrote %q", got)
	}
	if !e.tg.potsim {
		t.Logf("real pot: the image pot %s is the host's image cache and is left in place", img)
		return
	}
	if err := e.c.Destroy(e.ctx(), name, false); err != nil {
		t.Fatalf("destroy of the clone: %v", err)
	}
	if err := e.c.Destroy(e.ctx(), img, false); err != nil {
		t.Fatalf("destroy of the image pot without clones: %v", err)
	}
	if pots, err := e.c.List(e.ctx()); err != nil || len(pots) != 0 {
		t.Fatalf("ls -q = %q, %v after destroying both", pots, err)
	}
}

// Stop in each state: a pot that never started cannot be stopped (exit 1,
// its status does not allow it); stopping a pot again after its run has
// ended succeeds.
func TestContractStopStates(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	name := e.prepare(PrepareOptions{Argv: sh("exit 0")})
	err := e.c.Stop(e.ctx(), name)
	wantPotError(t, "stop of a pot that never started", err, 1)
	e.start(name).waitCode(0)
	if err := e.c.Stop(e.ctx(), name); err != nil {
		t.Fatalf("stop of a pot whose run has ended: %v", err)
	}
}

// Info of alias pots: one address through the client's prepare; an IPv4
// and an IPv6 address (prepared with pot's own -i "A B") come back as both
// _POT_IP_n, with pot's backslash-escaped _POT_IP_LIST parsed.
func TestContractInfoAlias(t *testing.T) {
	t.Parallel()
	e := newPotEnv(t)
	one := e.prepare(PrepareOptions{Network: NetworkAlias, IP: "192.0.2.10", Argv: sh("exit 0")})
	info, err := e.c.Info(e.ctx(), one)
	if err != nil {
		t.Fatal(err)
	}
	if ips := info.IPs(); !slices.Equal(ips, []string{"192.0.2.10"}) {
		t.Fatalf("alias pot with one address: IPs %q (%v)", ips, info.Vars)
	}

	two := PotName(uniqueName(), "a1")
	e.destroyAtEnd(two)
	out, err := exec.Command(e.c.Bin, "prepare", "-U", e.url, "-p", e.image, "-t", e.tag,
		"-n", strings.TrimSuffix(two, "_a1"), "-a", "a1", "-c", "/bin/true",
		"-N", "alias", "-S", "dual", "-i", "192.0.2.11 2001:db8::11").CombinedOutput()
	if err != nil {
		t.Fatalf("pot prepare of a dual-stack alias pot: %v\n%s", err, out)
	}
	info, err = e.c.Info(e.ctx(), two)
	if err != nil {
		t.Fatalf("info -E of a pot with two alias addresses: %v", err)
	}
	if ips := info.IPs(); !slices.Equal(ips, []string{"192.0.2.11", "2001:db8::11"}) {
		t.Fatalf("alias pot with two addresses: IPs %q (%v)", ips, info.Vars)
	}
	if got := info.Vars["_POT_IP_LIST"]; got != "_POT_IP_0 _POT_IP_1" {
		t.Fatalf("_POT_IP_LIST %q", got)
	}
}
