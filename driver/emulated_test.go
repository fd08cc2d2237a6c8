package driver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"
	dtestutil "github.com/hashicorp/nomad/plugins/drivers/testutils"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
)

// The driver's FreeBSD path, run on Linux: a machine with FreeBSD's tools
// (the emulation's sysctl, pfctl, zfs, zpool, rctl and cpuset first on
// PATH) is FreeBSD to the driver, which reads and changes it with the same
// calls it makes on FreeBSD. potsim stays the pot.

// emulatedEnv is a testEnv on a machine with all of FreeBSD's tools.
type emulatedEnv struct {
	*testEnv
	m *emulation.Machine
}

func newEmulatedEnv(t *testing.T) *emulatedEnv {
	t.Helper()
	if onRealPot {
		t.Skip("on pot's scripts the whole suite runs on the emulation, whose state is pot's")
	}
	env := newTestEnv(t)
	env.emu.Add() // every tool: sysctl says FreeBSD now
	return &emulatedEnv{testEnv: env, m: env.emu}
}

// driver is a driver with the plugin's defaults: pot is potsim, rctl and
// cpuset the machine's (the emulation's, found on PATH).
func (e *emulatedEnv) driver() (*Driver, *dtestutil.DriverHarness) {
	return e.newDriverWith(&hclspec.PluginConfig{PotBin: potsimBin})
}

func attrString(t *testing.T, fp *drivers.Fingerprint, k string) string {
	t.Helper()
	a := fp.Attributes[k]
	if a == nil {
		t.Fatalf("no attribute %s in %v", k, fp.Attributes)
	}
	if s, ok := a.GetString(); ok {
		return s
	}
	if b, ok := a.GetBool(); ok {
		return fmt.Sprint(b)
	}
	i, _ := a.GetInt()
	return fmt.Sprint(i)
}

// TestFingerprintOnEmulation: the host attributes read through sysctl,
// pfctl, zfs and zpool, following the machine; health from pot's ZFS root.
func TestFingerprintOnEmulation(t *testing.T) {
	e := newEmulatedEnv(t)
	d, _ := e.driver()
	fp := d.fingerprint(context.Background())
	if fp.Health != drivers.HealthStateHealthy {
		t.Fatalf("health: %s %q", fp.Health, fp.HealthDescription)
	}
	for k, want := range map[string]string{
		"driver.pot.freebsd_release": "14.3-RELEASE",
		"driver.pot.racct":           "true",
		"driver.pot.vnet":            "true",
		"driver.pot.pf":              "false",
		"driver.pot.zfs_root":        "zroot/pot",
		"driver.pot.zfs_pool":        "zroot",
		"driver.pot.zfs_pool_health": "ONLINE",
	} {
		if got := attrString(t, fp, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if free := attrString(t, fp, "driver.pot.zfs_pool_free_bytes"); free == "0" {
		t.Errorf("zfs_pool_free_bytes = %s", free)
	}

	e.m.Run("sysctl", "kern.racct.enable=0")
	e.m.Run("pfctl", "-e")
	fp = d.fingerprint(context.Background())
	if attrString(t, fp, "driver.pot.racct") != "false" || attrString(t, fp, "driver.pot.pf") != "true" {
		t.Fatalf("attributes did not follow the machine: %v", fp.Attributes)
	}

	e.m.Run("zfs", "destroy", "-r", "zroot/pot")
	fp = d.fingerprint(context.Background())
	if fp.Health != drivers.HealthStateUnhealthy || !strings.Contains(fp.HealthDescription, "dataset zroot/pot does not exist") {
		t.Fatalf("without pot's ZFS root: %s %q", fp.Health, fp.HealthDescription)
	}
}

// TestLimitsOnEmulation: a task's rctl rules are the machine's while it
// runs (rctl lists them) and gone after DestroyTask; with racct disabled
// (sysctl) a task asking for limits fails saying how to enable it.
func TestLimitsOnEmulation(t *testing.T) {
	e := newEmulatedEnv(t)
	_, h := e.driver()
	cfg, tc := e.task("limited", "echo ready; exec sleep 600")
	withResources(cfg, 256, 512, 2000, "")
	tc.Rctl = hclspec.MapStrStr{"maxproc": "100"}
	start(t, h, cfg, tc)
	logContains(t, cfg, "stdout", "ready")
	pot := potNameOf(t, h, cfg.ID)
	rules := e.m.Run("rctl")
	for _, want := range []string{"memoryuse:deny=536870912", "memoryuse:log=536870912", "memoryuse:devctl=268435456", "maxproc:deny=100"} {
		if !strings.Contains(rules, "jail:"+pot+":"+want) {
			t.Fatalf("rctl lists no jail:%s:%s:\n%s", pot, want, rules)
		}
	}
	if err := h.StopTask(cfg.ID, time.Second, "SIGTERM"); err != nil {
		t.Fatal(err)
	}
	waitResult(t, h, cfg.ID, 10*time.Second)
	if err := h.DestroyTask(cfg.ID, true); err != nil {
		t.Fatal(err)
	}
	if rules := e.m.Run("rctl"); strings.Contains(rules, pot) {
		t.Fatalf("rules of the destroyed task are left:\n%s", rules)
	}

	e.m.Run("sysctl", "kern.racct.enable=0")
	_, h = e.driver()
	cfg, tc = e.task("noracct", "exit 0")
	e.startFails(h, cfg, tc, "racct is disabled on this host (kern.racct.enable=0)", freebsd.RacctHowToEnable)
}

// TestImageStoreOnEmulation: the image cache's store is ZFS where zfs
// knows pot's root: clones' origins, the driver's mark (a user property)
// and an image's record read back through go-zfs, on datasets laid out as
// pot lays them (ROOT/jails/NAME, NAME/m cloned from IMAGE/m@SNAP).
func TestImageStoreOnEmulation(t *testing.T) {
	e := newEmulatedEnv(t)
	d, _ := e.driver()
	for _, ds := range []string{"zroot/pot/jails/img_1_0/m", "zroot/pot/jails/task"} {
		e.m.Run("zfs", "create", "-p", ds)
	}
	e.m.Run("zfs", "snapshot", "zroot/pot/jails/img_1_0/m@1700000000")
	e.m.Run("zfs", "clone", "zroot/pot/jails/img_1_0/m@1700000000", "zroot/pot/jails/task/m")

	ctx := context.Background()
	store, err := d.imageStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := store.(zfsImages); !ok {
		t.Fatalf("image store %T, want ZFS", store)
	}
	used := time.Unix(1765000000, 0).UTC()
	if err := store.SetMark(ctx, "img_1_0", used, true); err != nil {
		t.Fatal(err)
	}
	if err := store.SetRecord(ctx, "img_1_0", "skein=abc keys=k1"); err != nil {
		t.Fatal(err)
	}
	pots, err := store.Scan(ctx, func(name string) bool { return name == "img_1_0" })
	if err != nil {
		t.Fatal(err)
	}
	img, task := pots["img_1_0"], pots["task"]
	if img == nil || task == nil {
		t.Fatalf("scan: %v", pots)
	}
	if !img.Marked || !img.LastUsed.Equal(used) || img.Size == 0 {
		t.Errorf("image: %+v, want marked, last used %s, a size", img, used)
	}
	if len(task.Origins) != 1 || task.Origins[0] != "img_1_0" || task.Marked {
		t.Errorf("clone: %+v, want origin img_1_0, unmarked", task)
	}
	if rec, err := store.Record(ctx, "img_1_0"); err != nil || rec != "skein=abc keys=k1" {
		t.Errorf("record: %q %v", rec, err)
	}
	if got := e.m.Run("zfs", "get", "-H", "-o", "value", imageMarkProperty, "zroot/pot/jails/img_1_0"); strings.TrimSpace(got) == "-" {
		t.Errorf("the mark is not the dataset's user property %s", imageMarkProperty)
	}
}
