package hclspec

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

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
//	    rctl_bin   = ""   # rctl on PATH, else /usr/bin/rctl
//	    cpuset_bin = ""   # cpuset on PATH, else /usr/bin/cpuset
//	    limits_best_effort = false
//	    rctl_allow = ["coredumpsize", "maxproc", "memorylocked", "nthr",
//	                  "openfiles", "pseudoterminals", "swapuse", "vmemoryuse"]
//	    host_path_allow     = []      # host paths jobs may mount or copy in
//	    attributes_allow    = []      # risky pot attributes jobs may set
//	    pot_call_timeout    = "2m"
//	    pot_prepare_timeout = "10m"
//	    orphan_grace        = "10m"
//	    orphan_sweep_period = "1m"
//	    image_cache_max_bytes = 0     # 0: no size budget
//	    image_cache_max_age   = "0"   # 0: no age limit
//	    default_signature_pubkey = "" # signify key for tasks naming none
//	    require_signed_images    = false
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
		nhcl.NewLiteral(`""`),
	),
	"cpuset_bin": nhcl.NewDefault(
		nhcl.NewAttr("cpuset_bin", "string", false),
		nhcl.NewLiteral(`""`),
	),
	"limits_best_effort": nhcl.NewDefault(
		nhcl.NewAttr("limits_best_effort", "bool", false),
		nhcl.NewLiteral("false"),
	),
	"rctl_allow": nhcl.NewDefault(
		nhcl.NewAttr("rctl_allow", "list(string)", false),
		nhcl.NewLiteral(hclStringList(freebsd.DefaultExtraAllow)),
	),
	"host_path_allow": nhcl.NewDefault(
		nhcl.NewAttr("host_path_allow", "list(string)", false),
		nhcl.NewLiteral("[]"),
	),
	"attributes_allow": nhcl.NewDefault(
		nhcl.NewAttr("attributes_allow", "list(string)", false),
		nhcl.NewLiteral("[]"),
	),
	"pot_call_timeout": nhcl.NewDefault(
		nhcl.NewAttr("pot_call_timeout", "string", false),
		nhcl.NewLiteral(`"`+DefaultPotCallTimeout.String()+`"`),
	),
	"pot_prepare_timeout": nhcl.NewDefault(
		nhcl.NewAttr("pot_prepare_timeout", "string", false),
		nhcl.NewLiteral(`"`+DefaultPotPrepareTimeout.String()+`"`),
	),
	"orphan_grace": nhcl.NewDefault(
		nhcl.NewAttr("orphan_grace", "string", false),
		nhcl.NewLiteral(`"`+DefaultOrphanGrace.String()+`"`),
	),
	"orphan_sweep_period": nhcl.NewDefault(
		nhcl.NewAttr("orphan_sweep_period", "string", false),
		nhcl.NewLiteral(`"`+DefaultOrphanSweepPeriod.String()+`"`),
	),
	"image_cache_max_bytes": nhcl.NewDefault(
		nhcl.NewAttr("image_cache_max_bytes", "number", false),
		nhcl.NewLiteral("0"),
	),
	"image_cache_max_age": nhcl.NewDefault(
		nhcl.NewAttr("image_cache_max_age", "string", false),
		nhcl.NewLiteral(`"0s"`),
	),
	"default_signature_pubkey": nhcl.NewAttr("default_signature_pubkey", "string", false),
	"require_signed_images": nhcl.NewDefault(
		nhcl.NewAttr("require_signed_images", "bool", false),
		nhcl.NewLiteral("false"),
	),
})

// Defaults of the plugin config's durations.
const (
	DefaultPotCallTimeout    = 2 * time.Minute
	DefaultPotPrepareTimeout = 10 * time.Minute
	DefaultOrphanGrace       = 10 * time.Minute
	DefaultOrphanSweepPeriod = time.Minute
)

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
	// (FreeBSD's base system; a recording stand-in in tests). Empty: the
	// one on PATH, else FreeBSD's path (Validate sets it).
	RctlBin   string `codec:"rctl_bin"`
	CpusetBin string `codec:"cpuset_bin"`
	// LimitsBestEffort runs a task whose limits cannot be applied (racct
	// disabled, rctl or cpuset failing) without them, with a warning,
	// instead of failing it.
	LimitsBestEffort bool `codec:"limits_best_effort"`
	// RctlAllow lists the rctl resources a task's rctl block may limit.
	// Absent: freebsd.DefaultExtraAllow; empty: none.
	RctlAllow []string `codec:"rctl_allow"`
	// HostPathAllow lists the host folders under which a job's mount,
	// mount_read_only, copy and Nomad host volumes may lie (after
	// resolving symbolic links). Empty: no host path is allowed.
	HostPathAllow []string `codec:"host_path_allow"`
	// AttributesAllow lists the risky pot attributes (pot.RiskyAttributes) a
	// job may set. Empty: none.
	AttributesAllow []string `codec:"attributes_allow"`
	// PotCallTimeout bounds every pot command but prepare and the task's
	// own pot start (Go duration, default 2m); PotPrepareTimeout bounds
	// pot prepare, which may download an image (default 10m).
	PotCallTimeout    string `codec:"pot_call_timeout"`
	PotPrepareTimeout string `codec:"pot_prepare_timeout"`
	// OrphanGrace is how long a pot named like the driver's pots, that no
	// task of the driver owns, is left alone before the sweep destroys it
	// (default 10m). OrphanSweepPeriod is how often the sweep runs
	// (default 1m; "0" turns the orphan sweep off).
	OrphanGrace       string `codec:"orphan_grace"`
	OrphanSweepPeriod string `codec:"orphan_sweep_period"`
	// ImageCacheMaxBytes is the size budget of the images the driver
	// imported (0: none); ImageCacheMaxAge removes such an image once it
	// has not been used for that long ("0": never).
	ImageCacheMaxBytes int64  `codec:"image_cache_max_bytes"`
	ImageCacheMaxAge   string `codec:"image_cache_max_age"`
	// DefaultSignaturePubkey is the signify public key file images of
	// tasks without a signature_pubkey are verified with ("": none).
	// RequireSignedImages fails a task that has no key either way.
	DefaultSignaturePubkey string `codec:"default_signature_pubkey"`
	RequireSignedImages    bool   `codec:"require_signed_images"`
}

// DefaultPluginConfig is the configuration used when the agent gives none.
func DefaultPluginConfig() *PluginConfig {
	return &PluginConfig{
		PotBin:    DefaultPotBin,
		RctlAllow: append([]string(nil), freebsd.DefaultExtraAllow...),

		HostPathAllow:     []string{},
		AttributesAllow:   []string{},
		PotCallTimeout:    DefaultPotCallTimeout.String(),
		PotPrepareTimeout: DefaultPotPrepareTimeout.String(),
		OrphanGrace:       DefaultOrphanGrace.String(),
		OrphanSweepPeriod: DefaultOrphanSweepPeriod.String(),
		ImageCacheMaxAge:  "0s",
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
	// rctl and cpuset where the machine has them (PATH), else where
	// FreeBSD keeps them.
	if c.RctlBin == "" {
		c.RctlBin = freebsd.FindTool("rctl", freebsd.DefaultRctlBin)
	}
	if c.CpusetBin == "" {
		c.CpusetBin = freebsd.FindTool("cpuset", freebsd.DefaultCpusetBin)
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
	for i, p := range c.HostPathAllow {
		if err := checkAllowedPrefix(p); err != nil {
			errs.add(fieldErr(idx("host_path_allow", i), p, err))
		}
	}
	for i, a := range c.AttributesAllow {
		if err := pot.CheckAllowedAttribute(a); err != nil {
			errs.add(fieldErr(idx("attributes_allow", i), a, err))
		}
	}
	for _, d := range c.durations() {
		if _, err := d.parse(); err != nil {
			errs.add(err)
		}
	}
	if c.DefaultSignaturePubkey != "" {
		if err := checkHostFile(c.DefaultSignaturePubkey); err != nil {
			errs.add(fieldErr("default_signature_pubkey", c.DefaultSignaturePubkey, err))
		}
	}
	if c.ImageCacheMaxBytes < 0 {
		errs.add(fieldErr("image_cache_max_bytes", strconv.FormatInt(c.ImageCacheMaxBytes, 10), errors.New("must not be negative (0: no size budget)")))
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

// durationKey is one duration of the plugin config.
type durationKey struct {
	key   string
	value string
	def   time.Duration
	min   time.Duration
	// zeroOK: "0" is allowed and means off.
	zeroOK bool
}

func (d durationKey) parse() (time.Duration, error) {
	if d.value == "" {
		return d.def, nil
	}
	v, err := time.ParseDuration(d.value)
	if err != nil {
		return 0, fieldErr(d.key, d.value, errors.New("want a duration such as \"90s\" or \"10m\""))
	}
	if v == 0 && d.zeroOK {
		return 0, nil
	}
	if v < d.min {
		msg := fmt.Sprintf("must be at least %s", d.min)
		if d.zeroOK {
			msg += " (or 0: off)"
		}
		return 0, fieldErr(d.key, d.value, errors.New(msg))
	}
	return v, nil
}

func (c *PluginConfig) durations() []durationKey {
	return []durationKey{
		{key: "pot_call_timeout", value: c.PotCallTimeout, def: DefaultPotCallTimeout, min: time.Second},
		{key: "pot_prepare_timeout", value: c.PotPrepareTimeout, def: DefaultPotPrepareTimeout, min: time.Second},
		{key: "orphan_grace", value: c.OrphanGrace, def: DefaultOrphanGrace, min: time.Second},
		{key: "orphan_sweep_period", value: c.OrphanSweepPeriod, def: DefaultOrphanSweepPeriod, min: time.Second, zeroOK: true},
		{key: "image_cache_max_age", value: c.ImageCacheMaxAge, def: 0, min: time.Minute, zeroOK: true},
	}
}

// duration returns the parsed value of a duration key; a value Validate
// would refuse gives the default.
func (c *PluginConfig) duration(i int) time.Duration {
	d := c.durations()[i]
	v, err := d.parse()
	if err != nil {
		return d.def
	}
	return v
}

// PotTimeouts returns pot_call_timeout and pot_prepare_timeout.
func (c *PluginConfig) PotTimeouts() (call, prepare time.Duration) {
	return c.duration(0), c.duration(1)
}

// Orphans returns orphan_grace and orphan_sweep_period (0: no sweep).
func (c *PluginConfig) Orphans() (grace, period time.Duration) {
	return c.duration(2), c.duration(3)
}

// ImageCache returns image_cache_max_bytes and image_cache_max_age (0:
// no limit of that kind).
func (c *PluginConfig) ImageCache() (maxBytes int64, maxAge time.Duration) {
	if c.ImageCacheMaxBytes > 0 {
		maxBytes = c.ImageCacheMaxBytes
	}
	return maxBytes, c.duration(4)
}
