package hclspec

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Attribute is a pot attribute to set (pot set-attribute -A NAME -V VALUE).
// Value is normalized: booleans are YES or NO, numbers plain decimal.
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

// ParseAttribute checks "NAME:VALUE" (split at the first ':') against
// pot's attribute list and the attribute's type.
func ParseAttribute(s string) (Attribute, error) {
	name, value, err := splitFirst(s)
	if err != nil {
		return Attribute{}, fmt.Errorf("want NAME:VALUE: %w", err)
	}
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
		if err := checkString(value); err != nil {
			return Attribute{}, fmt.Errorf("attribute %s: %w", name, err)
		}
		if strings.Contains(value, "=") {
			// pot reads string attributes back with cut -d= -f2
			return Attribute{}, fmt.Errorf("attribute %s may not contain '=' (pot would cut the value there)", name)
		}
	}
	return Attribute{Name: name, Value: value}, nil
}

var errDuplicate = errors.New("set twice")
