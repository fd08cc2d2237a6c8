package hclspec

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"time"

	nhcl "github.com/hashicorp/nomad/plugins/shared/hclspec"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

// pluginConsulSpec is the plugin config's optional consul block: where the
// driver registers pots whose task asks for it (see the task's consul block).
var pluginConsulSpec = nhcl.NewBlock("consul", false, nhcl.NewObject(map[string]*nhcl.Spec{
	"address":             nhcl.NewAttr("address", "string", false),
	"token":               nhcl.NewAttr("token", "string", false),
	"datacenter":          nhcl.NewAttr("datacenter", "string", false),
	"ca_file":             nhcl.NewAttr("ca_file", "string", false),
	"cert_file":           nhcl.NewAttr("cert_file", "string", false),
	"key_file":            nhcl.NewAttr("key_file", "string", false),
	"ttl":                 nhcl.NewAttr("ttl", "string", false),
	"anti_entropy_period": nhcl.NewAttr("anti_entropy_period", "string", false),
}))

// ConsulPluginConfig is the plugin config's consul block.
type ConsulPluginConfig struct {
	// Address of the Consul agent, host:port or a URL; empty: Consul's
	// default (CONSUL_HTTP_ADDR or 127.0.0.1:8500).
	Address    string `codec:"address"`
	Token      string `codec:"token"`
	Datacenter string `codec:"datacenter"`
	CAFile     string `codec:"ca_file"`
	CertFile   string `codec:"cert_file"`
	KeyFile    string `codec:"key_file"`
	// TTL of each registration's check (default 10s).
	TTL string `codec:"ttl"`
	// AntiEntropyPeriod is how often registrations are repaired (default 30s).
	AntiEntropyPeriod string `codec:"anti_entropy_period"`
}

// Durations returns the parsed ttl and anti_entropy_period (zero when unset).
func (c *ConsulPluginConfig) Durations() (ttl, period time.Duration, err error) {
	parse := func(key, v string, min time.Duration) (time.Duration, error) {
		if v == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fieldErr("consul."+key, v, err)
		}
		if d < min {
			return 0, fieldErr("consul."+key, v, fmt.Errorf("must be at least %s", min))
		}
		return d, nil
	}
	if ttl, err = parse("ttl", c.TTL, time.Second); err != nil {
		return 0, 0, err
	}
	period, err = parse("anti_entropy_period", c.AntiEntropyPeriod, time.Second)
	return ttl, period, err
}

func (c *ConsulPluginConfig) validate() error {
	for _, f := range []struct{ key, v string }{
		{"address", c.Address}, {"token", c.Token}, {"datacenter", c.Datacenter},
		{"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile},
	} {
		if err := pot.CheckValue(f.v); err != nil {
			return fieldErr("consul."+f.key, f.v, err)
		}
	}
	for _, f := range []struct{ key, v string }{{"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}} {
		if f.v != "" && !path.IsAbs(f.v) {
			return fieldErr("consul."+f.key, f.v, errors.New("must be an absolute path"))
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return fieldErr("consul.cert_file", c.CertFile, errors.New("cert_file and key_file go together"))
	}
	_, _, err := c.Durations()
	return err
}

// taskConsulSpec is the task config's optional consul block: the driver
// registers the running pot in Consul itself, with the jail's address.
var taskConsulSpec = nhcl.NewBlock("consul", false, nhcl.NewObject(map[string]*nhcl.Spec{
	"name": nhcl.NewAttr("name", "string", true),
	"tags": nhcl.NewAttr("tags", "list(string)", false),
	"port": nhcl.NewAttr("port", "string", false),
}))

// ConsulTaskConfig is the task config's consul block.
type ConsulTaskConfig struct {
	// Name is the Consul service name.
	Name string `codec:"name"`
	// Tags are the service's tags.
	Tags []string `codec:"tags"`
	// Port is the port label whose jail port is registered.
	Port string `codec:"port"`
}

// ConsulSettings is a validated consul block.
type ConsulSettings struct {
	Name string
	Tags []string
	// PortLabel is "" when the service is registered without a port.
	PortLabel string
}

// Consul service names are DNS labels.
var serviceNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

func (c *ConsulTaskConfig) validate() (*ConsulSettings, error) {
	if !serviceNameRE.MatchString(c.Name) {
		return nil, fieldErr("consul.name", c.Name, errors.New("must be a DNS label: letters, digits and '-', at most 63"))
	}
	s := &ConsulSettings{Name: c.Name, PortLabel: c.Port}
	for i, tag := range c.Tags {
		if err := pot.CheckText(tag); err != nil || tag == "" {
			if err == nil {
				err = errors.New("empty tag")
			}
			return nil, fieldErr(idx("consul.tags", i), tag, err)
		}
		s.Tags = append(s.Tags, tag)
	}
	if c.Port != "" {
		if err := CheckPortLabel(c.Port); err != nil {
			return nil, fieldErr("consul.port", c.Port, err)
		}
	}
	return s, nil
}
