package hclspec

import (
	"errors"
	"fmt"
	"path"

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
//	    pot_bin = "/usr/local/bin/pot"
//	  }
//	}
var PluginConfigSpec = nhcl.NewObject(map[string]*nhcl.Spec{
	"pot_bin": nhcl.NewDefault(
		nhcl.NewAttr("pot_bin", "string", false),
		nhcl.NewLiteral(`"`+DefaultPotBin+`"`),
	),
	"consul": pluginConsulSpec,
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
}

// DefaultPluginConfig is the configuration used when the agent gives none.
func DefaultPluginConfig() *PluginConfig {
	return &PluginConfig{PotBin: DefaultPotBin}
}

// Validate checks the plugin configuration. An empty pot_bin (config
// decoded without the schema's default) is set to DefaultPotBin.
func (c *PluginConfig) Validate() error {
	if c == nil {
		return errors.New("no plugin configuration")
	}
	if c.PotBin == "" {
		c.PotBin = DefaultPotBin
	}
	if err := pot.CheckValue(c.PotBin); err != nil {
		return fieldErr("pot_bin", c.PotBin, err)
	}
	if !path.IsAbs(c.PotBin) {
		return fieldErr("pot_bin", c.PotBin, errors.New("must be an absolute path"))
	}
	if cl := path.Clean(c.PotBin); cl != c.PotBin {
		return fieldErr("pot_bin", c.PotBin, fmt.Errorf("must be a clean path (%q)", cl))
	}
	if c.Consul != nil {
		if err := c.Consul.validate(); err != nil {
			return err
		}
	}
	return nil
}
