package hclspec

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
)

func TestValidateLimits(t *testing.T) {
	c := validConfig()
	c.CPUHardLimit = true
	c.Rctl = MapStrStr{"vmemoryuse": "2g", "maxproc": "100", "openfiles": " 1024 ", "readbps": "10M"}
	s, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	want := []freebsd.Limit{
		{Resource: "maxproc", Amount: 100},
		{Resource: "openfiles", Amount: 1024},
		{Resource: "readbps", Amount: 10 << 20},
		{Resource: "vmemoryuse", Amount: 2 << 30},
	}
	if !s.CPUHardLimit || !reflect.DeepEqual(s.Rctl, want) {
		t.Fatalf("got %v %#v", s.CPUHardLimit, s.Rctl)
	}
}

func TestValidateLimitsErrorsNameKeyAndValue(t *testing.T) {
	for res, c := range map[string]struct{ value, want string }{
		"memoryuse": {"1g", `rctl["memoryuse"] "1g": rctl resource memoryuse cannot be set here: the driver sets it from the task's resources { memory, memory_max }`},
		"pcpu":      {"50", `rctl["pcpu"] "50": rctl resource pcpu cannot be set here: the driver sets it from the task's resources { cpu } when cpu_hard_limit = true`},
		"cputime":   {"10", `rctl["cputime"] "10": rctl resource cputime cannot be set here`},
		"wallclock": {"10", `rctl["wallclock"] "10": rctl resource wallclock cannot be set here`},
		"maxprocs":  {"10", `rctl["maxprocs"] "10": unknown rctl resource "maxprocs"; known: coredumpsize datasize`},
		"maxproc":   {"1k", `rctl["maxproc"] "1k": maxproc counts, it takes a plain number`},
		"nthr":      {"0", `rctl["nthr"] "0": must be at least 1`},
		"openfiles": {"-1", `rctl["openfiles"] "-1": want a decimal number`},
		"swapuse":   {"1x", `rctl["swapuse"] "1x": unknown unit "x"`},
		"datasize":  {"99999999999999999999", `rctl["datasize"] "99999999999999999999": amount out of range`},
		"shmsize":   {"9e", `rctl["shmsize"] "9e": amount out of range`},
	} {
		cfg := validConfig()
		cfg.Rctl = MapStrStr{res: c.value}
		_, err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s=%s: got %v\nwant %s", res, c.value, err, c.want)
		}
	}
}

func TestDecodeLimitsLikeNomad(t *testing.T) {
	// `config { cpu_hard_limit = true  rctl { maxproc = 100  vmemoryuse = "2g" } }`
	// as jobspec2 hands it over: the block becomes a one-element list.
	config := map[string]interface{}{
		"image": "https://example.org/images", "pot": "base", "tag": "1.0",
		"cpu_hard_limit": true,
		"rctl":           []interface{}{map[string]interface{}{"maxproc": 100, "vmemoryuse": "2g"}},
	}
	var tc TaskConfig
	if err := decodeLikeNomad(t, TaskConfigSpec, config, &tc); err != nil {
		t.Fatal(err)
	}
	if !tc.CPUHardLimit || !reflect.DeepEqual(map[string]string(tc.Rctl), map[string]string{"maxproc": "100", "vmemoryuse": "2g"}) {
		t.Fatalf("decoded %v %#v", tc.CPUHardLimit, tc.Rctl)
	}
	s, err := tc.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rctl) != 2 || s.Rctl[0] != (freebsd.Limit{Resource: "maxproc", Amount: 100}) {
		t.Fatalf("settings %#v", s.Rctl)
	}
}

func TestPluginConfigLimits(t *testing.T) {
	pc, err := decodePluginConfig(t, map[string]interface{}{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Validate(); err != nil {
		t.Fatal(err)
	}
	if pc.RctlBin != freebsd.FindTool("rctl", "/usr/bin/rctl") || pc.CpusetBin != freebsd.FindTool("cpuset", "/usr/bin/cpuset") || pc.LimitsBestEffort ||
		!reflect.DeepEqual(pc.RctlAllow, freebsd.DefaultExtraAllow) {
		t.Fatalf("defaults %#v", pc)
	}
	// Unset, rctl and cpuset are the machine's: those on PATH (the
	// emulation's in tests), else FreeBSD's paths.
	dir := t.TempDir()
	for _, tool := range []string{"rctl", "cpuset"} {
		if err := os.WriteFile(filepath.Join(dir, tool), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	if pc, err = decodePluginConfig(t, map[string]interface{}{}); err != nil || pc.Validate() != nil {
		t.Fatal(err)
	}
	if pc.RctlBin != filepath.Join(dir, "rctl") || pc.CpusetBin != filepath.Join(dir, "cpuset") {
		t.Fatalf("with rctl and cpuset on PATH: %q %q", pc.RctlBin, pc.CpusetBin)
	}
	t.Setenv("PATH", t.TempDir())
	if pc, err = decodePluginConfig(t, map[string]interface{}{}); err != nil || pc.Validate() != nil {
		t.Fatal(err)
	}
	if pc.RctlBin != "/usr/bin/rctl" || pc.CpusetBin != "/usr/bin/cpuset" {
		t.Fatalf("without them on PATH: %q %q", pc.RctlBin, pc.CpusetBin)
	}
	pc, err = decodePluginConfig(t, map[string]interface{}{
		"rctl_bin": "/opt/rec/rctl", "cpuset_bin": "/opt/rec/cpuset",
		"limits_best_effort": true, "rctl_allow": []interface{}{"maxproc", "readbps"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Validate(); err != nil {
		t.Fatal(err)
	}
	if pc.RctlBin != "/opt/rec/rctl" || pc.CpusetBin != "/opt/rec/cpuset" || !pc.LimitsBestEffort ||
		!reflect.DeepEqual(pc.RctlAllow, []string{"maxproc", "readbps"}) {
		t.Fatalf("config %#v", pc)
	}
	// An explicitly empty allowlist allows nothing.
	pc, err = decodePluginConfig(t, map[string]interface{}{"rctl_allow": []interface{}{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Validate(); err != nil || len(pc.RctlAllow) != 0 {
		t.Fatalf("empty rctl_allow: %#v %v", pc.RctlAllow, err)
	}

	for _, c := range []struct {
		cfg  PluginConfig
		want string
	}{
		{PluginConfig{RctlBin: "rctl"}, `rctl_bin "rctl": must be an absolute path`},
		{PluginConfig{CpusetBin: "/usr/bin//cpuset"}, `cpuset_bin "/usr/bin//cpuset": must be a clean path`},
		{PluginConfig{RctlAllow: []string{"maxproc", "memoryuse"}}, `rctl_allow[1] "memoryuse": rctl resource memoryuse cannot be set here`},
		{PluginConfig{RctlAllow: []string{"bogus"}}, `rctl_allow[0] "bogus": unknown rctl resource`},
	} {
		c := c
		err := c.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("got %v, want %s", err, c.want)
		}
	}
}

func TestCheckTaskAllowlist(t *testing.T) {
	c := validConfig()
	c.Rctl = MapStrStr{"maxproc": "100", "coredumpsize": "0k0"}
	if _, err := c.Validate(); err == nil {
		t.Fatal("bad amount accepted")
	}
	c.Rctl = MapStrStr{"maxproc": "100", "nsem": "10", "readbps": "1m"}
	s, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	pc := DefaultPluginConfig()
	err = pc.CheckTask(s)
	if err == nil {
		t.Fatal("resources outside rctl_allow accepted")
	}
	for _, want := range []string{
		`rctl["nsem"] "10": rctl resource nsem is not in the pot plugin's rctl_allow (allowed: coredumpsize maxproc`,
		`rctl["readbps"] "1048576": rctl resource readbps is not in the pot plugin's rctl_allow`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "maxproc\"]") {
		t.Errorf("allowed maxproc reported: %v", err)
	}
	pc.RctlAllow = []string{"maxproc", "nsem", "readbps"}
	if err := pc.CheckTask(s); err != nil {
		t.Fatal(err)
	}
	pc.RctlAllow = []string{}
	if err := pc.CheckTask(s); err == nil || !strings.Contains(err.Error(), "(allowed: none)") {
		t.Fatalf("empty allowlist: %v", err)
	}
}
