package driver

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/nomad/structs"
	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

func TestPotNameIsUniqueValidAndTraceable(t *testing.T) {
	cfg := &drivers.TaskConfig{
		ID:      "9c1f9e2a-0d4b-4f59-8f3e-1e2d3c4b5a69/web.server/0a1b2c3d",
		AllocID: "9c1f9e2a-0d4b-4f59-8f3e-1e2d3c4b5a69",
		JobID:   "my.job/with weird$chars",
		Name:    "web.server",
	}
	name, alloc := potNameParts(cfg)
	full := pot.PotName(name, alloc)
	if strings.ContainsAny(full, "./ $") {
		t.Fatalf("pot name %q has characters pot or jail names cannot", full)
	}
	for _, part := range []string{"my-job", "web-server", cfg.AllocID, "0a1b2c3d"} {
		if !strings.Contains(full, part) {
			t.Errorf("pot name %q does not contain %q", full, part)
		}
	}
	again := *cfg
	again.ID = cfg.AllocID + "/web.server/ffffffff"
	n2, a2 := potNameParts(&again)
	if pot.PotName(n2, a2) == full {
		t.Fatal("a restart of the task got the same pot name")
	}
	long := *cfg
	long.JobID = strings.Repeat("j", 500)
	long.Name = strings.Repeat("t", 500)
	n3, a3 := potNameParts(&long)
	if l := len(pot.PotName(n3, a3)); l > 120 {
		t.Fatalf("pot name of %d characters", l)
	}
}

func TestVersionAtLeast(t *testing.T) {
	for _, c := range []struct {
		have string
		ok   bool
	}{{"0.15.0", true}, {"0.16.0", true}, {"0.15", true}, {"1.0.0", true}, {"0.14.9", false}, {"0.9.99", false}, {"", false}, {"garbage", false}, {"0.16.0-rc1", true}} {
		if got := versionAtLeast(c.have, minPotVersion); got != c.ok {
			t.Errorf("versionAtLeast(%q) = %v", c.have, got)
		}
	}
}

func TestExportedPorts(t *testing.T) {
	cfg := &drivers.TaskConfig{Resources: &drivers.Resources{Ports: &structs.AllocatedPorts{
		{Label: "http", Value: 23456, To: 0},
		{Label: "metrics", Value: 23457, To: 9100},
		{Label: "plain", Value: 23458},
	}}}
	s := &hclspec.TaskSettings{NetworkMode: hclspec.NetworkPublicBridge, PortMap: map[string]uint16{"http": 80}}
	ports, err := exportedPorts(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	if ports["http"] != (pot.Port{PotPort: 80, HostPort: 23456}) || ports["metrics"] != (pot.Port{PotPort: 9100, HostPort: 23457}) || len(ports) != 2 {
		t.Fatalf("ports: %+v", ports)
	}
	s.PortMap = map[string]uint16{"nope": 80}
	if _, err := exportedPorts(cfg, s); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown label: %v", err)
	}
}

func TestUsageNeverNil(t *testing.T) {
	u := usageFromPot(&pot.ResourceUsage{}, time.Time{})
	if u.ResourceUsage == nil || u.ResourceUsage.MemoryStats == nil || u.ResourceUsage.CpuStats == nil {
		t.Fatalf("nil part in %+v", u)
	}
}

// TestDriverPotNamePattern: the orphan sweep recognises every name
// potNameParts gives, and no name it does not.
func TestDriverPotNamePattern(t *testing.T) {
	const alloc = "9c1f9e2a-0d4b-4f59-8f3e-1e2d3c4b5a69"
	for _, c := range []struct{ job, task string }{
		{"web", "nginx"}, {"my.job/with weird$chars", "web.server"}, {"a_b_c", "d_e"}, {"", ""}, {"-", "--"},
		{strings.Repeat("j", 500), strings.Repeat("t", 500)}, {"ünïcödé", "名前"}, {"x_", "_y"},
	} {
		cfg := &drivers.TaskConfig{ID: alloc + "/" + c.task + "/0a1b2c3d", AllocID: alloc, JobID: c.job, Name: c.task}
		name, a := potNameParts(cfg)
		if full := pot.PotName(name, a); !driverPotName.MatchString(full) {
			t.Errorf("job %q task %q: pot %q not recognised as the driver's", c.job, c.task, full)
		}
	}
	for _, n := range []string{
		"web", "nginx-nomad-amd64-14_3_1_1_13", "freebsd-base_14_3", "web_nginx_" + alloc, "web_" + alloc + "_0a1b2c3d",
		"web_nginx_" + alloc + "_0A1B2C3D", "web_nginx_" + alloc + "_0a1b2c3", "web_nginx_" + strings.ToUpper(alloc) + "_0a1b2c3d",
		"web_nginx_" + alloc + "_0a1b2c3d_x", "web nginx_" + alloc + "_0a1b2c3d", "web_nginx_" + alloc + "_0a1b2c3d\n",
	} {
		if driverPotName.MatchString(n) {
			t.Errorf("%q taken for one of the driver's pots", n)
		}
	}
}

func TestImageMark(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 0, 0, 123456789, time.FixedZone("x", 3600))
	got, ok, err := parseImageMark(formatImageMark(at))
	if err != nil || !ok || !got.Equal(at) {
		t.Fatalf("round trip: %v %v %v", got, ok, err)
	}
	for _, v := range []string{"", "-", " - \n"} {
		if _, ok, err := parseImageMark(v); ok || err != nil {
			t.Errorf("%q: %v %v", v, ok, err)
		}
	}
	if _, _, err := parseImageMark("yesterday"); err == nil {
		t.Error("a bad mark parsed")
	}
}
