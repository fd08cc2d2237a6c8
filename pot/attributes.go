package pot

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Attribute is a pot attribute to set (pot set-attribute -A NAME -V VALUE).
// Value is normalized (CheckAttribute): booleans are YES or NO, numbers
// plain decimal.
type Attribute struct {
	Name  string
	Value string
}

type attrKind int

const (
	attrBool    attrKind = iota // YES/NO/ON/OFF/true/false, any case
	attrUint                    // decimal digits
	attrSysvopt                 // new, inherit, disable
	attrString                  // free text without '='
)

type attrDef struct {
	kind attrKind
	max  uint64 // attrUint: largest value, 0 = no limit beyond 32 bits
	// owned: the driver relies on the value pot prepare sets; a job may
	// not change it. The string says why.
	owned string
}

// attrDefs lists pot's settable attributes (pot 0.16: _POT_RW_ATTRIBUTES
// and _POT_JAIL_RW_ATTRIBUTES, types from _POT_DEFAULT_*_T).
var attrDefs = map[string]attrDef{
	// pot attributes
	"start-at-boot":       {kind: attrBool, owned: "pot would start the jail at host boot, outside Nomad"},
	"early-start-at-boot": {kind: attrBool, owned: "pot would start the jail at host boot, outside Nomad"},
	"persistent":          {kind: attrBool, owned: "the driver needs pot start to run in the foreground until the task exits (persistent=NO)"},
	"no-rc-script":        {kind: attrBool, owned: "the driver's start command relies on pot's own start script (no-rc-script=YES)"},
	"prunable":            {kind: attrBool},
	"localhost-tunnel":    {kind: attrBool},
	"no-tmpfs":            {kind: attrBool},
	"no-etc-hosts":        {kind: attrBool},
	// jail attributes
	"enforce_statfs": {kind: attrUint, max: 2},
	"mount":          {kind: attrBool},
	"fdescfs":        {kind: attrBool},
	"linprocfs":      {kind: attrBool},
	"nullfs":         {kind: attrBool},
	"procfs":         {kind: attrBool},
	"tmpfs":          {kind: attrBool},
	"zfs":            {kind: attrBool},
	"raw_sockets":    {kind: attrBool},
	"sysvshm":        {kind: attrSysvopt},
	"sysvsem":        {kind: attrSysvopt},
	"sysvmsg":        {kind: attrSysvopt},
	"children":       {kind: attrUint},
	"mlock":          {kind: attrBool},
	"devfs_ruleset":  {kind: attrUint},
	"exec_stop":      {kind: attrString},
	"stop_timeout":   {kind: attrUint},
}

// AttributeNames returns the attribute names a job may set, sorted.
func AttributeNames() []string {
	var names []string
	for n, d := range attrDefs {
		if d.owned == "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// NormalizeBool maps pot's boolean spellings (yes/no, on/off, true/false,
// any case) to YES or NO.
func NormalizeBool(v string) (string, bool) {
	switch strings.ToLower(v) {
	case "yes", "on", "true":
		return "YES", true
	case "no", "off", "false":
		return "NO", true
	}
	return "", false
}

// CheckAttribute checks an attribute a job sets against pot's attribute
// table and the attribute's type, and returns it normalized.
func CheckAttribute(name, value string) (Attribute, error) {
	def, ok := attrDefs[name]
	if !ok {
		return Attribute{}, fmt.Errorf("unknown attribute %q; known: %s", name, strings.Join(AttributeNames(), " "))
	}
	if def.owned != "" {
		return Attribute{}, fmt.Errorf("attribute %s is set by the driver: %s", name, def.owned)
	}
	if value == "" {
		return Attribute{}, fmt.Errorf("attribute %s needs a value", name)
	}
	switch def.kind {
	case attrBool:
		b, ok := NormalizeBool(value)
		if !ok {
			return Attribute{}, fmt.Errorf("attribute %s wants a boolean (YES/NO/ON/OFF/true/false)", name)
		}
		value = b
	case attrUint:
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return Attribute{}, fmt.Errorf("attribute %s wants a number 0..%d", name, uint32(1<<32-1))
		}
		if def.max != 0 && n > def.max {
			return Attribute{}, fmt.Errorf("attribute %s wants a number 0..%d", name, def.max)
		}
		value = strconv.FormatUint(n, 10)
	case attrSysvopt:
		v := strings.ToLower(value)
		if v != "new" && v != "inherit" && v != "disable" {
			return Attribute{}, fmt.Errorf("attribute %s wants new, inherit or disable", name)
		}
		value = v
	case attrString:
		if err := CheckText(value); err != nil {
			return Attribute{}, fmt.Errorf("attribute %s: %w", name, err)
		}
		if strings.Contains(value, "=") {
			// pot reads string attributes back with cut -d= -f2
			return Attribute{}, fmt.Errorf("attribute %s may not contain '=' (pot would cut the value there)", name)
		}
	}
	return Attribute{Name: name, Value: value}, nil
}

// IsAttributeOwned says whether attribute name is one prepare sets and the
// driver relies on (a job may not set it).
func IsAttributeOwned(name string) bool { return attrDefs[name].owned != "" }

// IsAttribute says whether pot knows attribute name.
func IsAttribute(name string) bool {
	_, ok := attrDefs[name]
	return ok
}

// CheckText is the check of a structured value (a path, a label, an
// attribute): what CheckValue refuses (pot's line-based config cannot hold
// it), plus invalid UTF-8 and control characters.
func CheckText(s string) error {
	if err := CheckValue(s); err != nil {
		return err
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("invalid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains control character %U", r)
		}
	}
	return nil
}

// riskyAttributes are the attributes that weaken the jail's isolation from
// the host (FreeBSD jail(8) parameters, pot 0.16's names), each with the
// test of a value that does so and why. A job may set them only when the
// plugin's attributes_allow names them; values that keep pot's default
// isolation (NO, enforce_statfs 2, children 0, devfs_ruleset 4, sysv*
// new/disable) need no allowing.
var riskyAttributes = map[string]struct {
	risky func(value string) bool
	why   string
}{
	"mount":          {isYes, "allow.mount: root in the jail may mount file systems"},
	"nullfs":         {isYes, "allow.mount.nullfs: root in the jail may mount nullfs"},
	"tmpfs":          {isYes, "allow.mount.tmpfs: root in the jail may mount tmpfs, which takes host memory without limit"},
	"zfs":            {isYes, "allow.mount.zfs: root in the jail may mount and manage ZFS datasets delegated to it"},
	"linprocfs":      {isYes, "allow.mount.linprocfs: root in the jail may mount linprocfs"},
	"raw_sockets":    {isYes, "allow.raw_sockets: raw sockets, so forged packets and ICMP"},
	"mlock":          {isYes, "allow.mlock: wiring memory, which the host cannot page out"},
	"children":       {func(v string) bool { return v != "0" }, "children.max: the jail may create jails of its own"},
	"enforce_statfs": {func(v string) bool { return v != "2" }, "enforce_statfs below 2: the jail sees the host's mount points (and may mount, with mount)"},
	"devfs_ruleset":  {func(v string) bool { return v != "4" }, "devfs_ruleset other than 4 (devfsrules_jail): another set of host devices in the jail's /dev, all of them with 0"},
	"sysvshm":        {isInherit, "sysvshm inherit: the host's System V shared memory"},
	"sysvsem":        {isInherit, "sysvsem inherit: the host's System V semaphores"},
	"sysvmsg":        {isInherit, "sysvmsg inherit: the host's System V message queues"},
}

func isYes(v string) bool     { return v == "YES" }
func isInherit(v string) bool { return v == "inherit" }

// RiskyAttributes returns the names attributes_allow may list, sorted.
func RiskyAttributes() []string {
	names := make([]string, 0, len(riskyAttributes))
	for n := range riskyAttributes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// AttributeRisk says why a parsed attribute weakens the jail's isolation,
// or "" when it does not.
func AttributeRisk(a Attribute) string {
	r, ok := riskyAttributes[a.Name]
	if !ok || !r.risky(a.Value) {
		return ""
	}
	return r.why
}

// CheckAllowedAttribute checks an attributes_allow entry: an attribute a
// job may set (listing one that is not risky changes nothing).
func CheckAllowedAttribute(name string) error {
	if def, ok := attrDefs[name]; ok && def.owned == "" {
		return nil
	}
	if def, ok := attrDefs[name]; ok {
		return fmt.Errorf("attribute %s is set by the driver and cannot be allowed: %s", name, def.owned)
	}
	return fmt.Errorf("unknown pot attribute; the risky ones are: %s", strings.Join(RiskyAttributes(), " "))
}
