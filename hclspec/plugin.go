package hclspec

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/pot"
	nhcl "github.com/hashicorp/nomad/plugins/shared/hclspec"
)

// DefaultPotBin is where the FreeBSD package installs pot.
const DefaultPotBin = "/usr/local/bin/pot"

// PluginConfigSpec is the schema of the agent's plugin block, returned by
// the driver's ConfigSchema:
//
//	plugin "pot" {
//	  config {
//	    pot_bin    = "/usr/local/bin/pot"
//	    rctl_bin   = "/usr/bin/rctl"
//	    cpuset_bin = "/usr/bin/cpuset"
//	    limits_best_effort = false
//	    rctl_allow = ["coredumpsize", "maxproc", "memorylocked", "nthr",
//	                  "openfiles", "pseudoterminals", "swapuse", "vmemoryuse"]
//	  }
//	}
var PluginConfigSpec = nhcl.NewObject(map[string]*nhcl.Spec{
	"pot_bin": nhcl.NewDefault(
		nhcl.NewAttr("pot_bin", "string", false),
		nhcl.NewLiteral(`"`+DefaultPotBin+`"`),
	),
	"consul": pluginConsulSpec,
	"rctl_bin": nhcl.NewDefault(
		nhcl.NewAttr("rctl_bin", "string", false),
		nhcl.NewLiteral(`"`+freebsd.DefaultRctlBin+`"`),
	),
	"cpuset_bin": nhcl.NewDefault(
		nhcl.NewAttr("cpuset_bin", "string", false),
		nhcl.NewLiteral(`"`+freebsd.DefaultCpusetBin+`"`),
	),
	"limits_best_effort": nhcl.NewDefault(
		nhcl.NewAttr("limits_best_effort", "bool", false),
		nhcl.NewLiteral("false"),
	),
	"rctl_allow": nhcl.NewDefault(
		nhcl.NewAttr("rctl_allow", "list(string)", false),
		nhcl.NewLiteral(hclStringList(freebsd.DefaultExtraAllow)),
	),
})

// PluginConfig is the decoded plugin block (base.MsgPackDecode of
// base.Config.PluginConfig). Add a field here together with its entry in
// PluginConfigSpec, its default in DefaultPluginConfig and its check in
// Validate.
type PluginConfig struct {
	// PotBin is the absolute path of the pot executable.
	PotBin string `codec:"pot_bin"`
	// Consul, when set, is where pots whose task has a consul block are
	// registered.
	Consul *ConsulPluginConfig `codec:"consul"`
	// RctlBin and CpusetBin are the absolute paths of rctl and cpuset
	// (FreeBSD's base system; a recording stand-in in tests).
	RctlBin   string `codec:"rctl_bin"`
	CpusetBin string `codec:"cpuset_bin"`
	// LimitsBestEffort runs a task whose limits cannot be applied (racct
	// disabled, rctl or cpuset failing) without them, with a warning,
	// instead of failing it.
	LimitsBestEffort bool `codec:"limits_best_effort"`
	// RctlAllow lists the rctl resources a task's rctl block may limit.
	// Absent: freebsd.DefaultExtraAllow; empty: none.
	RctlAllow []string `codec:"rctl_allow"`
}

// DefaultPluginConfig is the configuration used when the agent gives none.
func DefaultPluginConfig() *PluginConfig {
	return &PluginConfig{
		PotBin:    DefaultPotBin,
		RctlBin:   freebsd.DefaultRctlBin,
		CpusetBin: freebsd.DefaultCpusetBin,
		RctlAllow: append([]string(nil), freebsd.DefaultExtraAllow...),
	}
}

// Validate checks the plugin configuration. An empty pot_bin, rctl_bin or
// cpuset_bin and an absent rctl_allow (config decoded without the schema's
// defaults) are set to their defaults.
func (c *PluginConfig) Validate() error {
	if c == nil {
		return errors.New("no plugin configuration")
	}
	if c.PotBin == "" {
		c.PotBin = DefaultPotBin
	}
	if c.RctlBin == "" {
		c.RctlBin = freebsd.DefaultRctlBin
	}
	if c.CpusetBin == "" {
		c.CpusetBin = freebsd.DefaultCpusetBin
	}
	if c.RctlAllow == nil {
		c.RctlAllow = append([]string(nil), freebsd.DefaultExtraAllow...)
	}
	for _, b := range []struct{ key, value string }{
		{"pot_bin", c.PotBin}, {"rctl_bin", c.RctlBin}, {"cpuset_bin", c.CpusetBin},
	} {
		if err := checkBinPath(b.key, b.value); err != nil {
			return err
		}
	}
	var errs errList
	for i, r := range c.RctlAllow {
		if err := freebsd.CheckExtraResource(r); err != nil {
			errs.add(fieldErr(idx("rctl_allow", i), r, err))
		}
	}
	if err := errs.err(); err != nil {
		return err
	}
	if c.Consul != nil {
		if err := c.Consul.validate(); err != nil {
			return err
		}
	}
	return nil
}

// checkBinPath checks the path of a program the driver runs: absolute and
// clean, nothing pot or exec could misread.
func checkBinPath(key, p string) error {
	if err := pot.CheckValue(p); err != nil {
		return fieldErr(key, p, err)
	}
	if !path.IsAbs(p) {
		return fieldErr(key, p, errors.New("must be an absolute path"))
	}
	if cl := path.Clean(p); cl != p {
		return fieldErr(key, p, fmt.Errorf("must be a clean path (%q)", cl))
	}
	return nil
}

// hclStringList writes a list of plain words as an HCL literal.
func hclStringList(list []string) string {
	q := make([]string, len(list))
	for i, v := range list {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
