package hclspec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// parseRctl checks a task's rctl block: every key a resource a job may
// limit (freebsd.CheckExtraResource), every value an amount for it. The
// limits come back sorted by resource.
func parseRctl(m MapStrStr, errs *errList) []freebsd.Limit {
	if len(m) == 0 {
		return nil
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []freebsd.Limit
	for _, n := range names {
		key := "rctl[" + quoteValue(n) + "]"
		v := m[n]
		if err := freebsd.CheckExtraResource(n); err != nil {
			errs.add(fieldErr(key, v, err))
			continue
		}
		amount, err := freebsd.ParseAmount(n, v)
		if err != nil {
			errs.add(fieldErr(key, v, err))
			continue
		}
		out = append(out, freebsd.Limit{Resource: n, Amount: amount})
	}
	return out
}

// CheckTask checks what the plugin configuration allows of a validated
// task: every resource of its rctl block must be in rctl_allow, and every
// risky attribute (pot.AttributeRisk) in attributes_allow. Errors name the key
// and the value, like Validate's. Host paths are checked by CheckHostPath,
// which looks at the host's file system.
func (c *PluginConfig) CheckTask(s *TaskSettings) error {
	if c == nil || s == nil {
		return nil
	}
	allowed := map[string]bool{}
	for _, r := range c.RctlAllow {
		allowed[r] = true
	}
	var errs errList
	for _, l := range s.Rctl {
		if !allowed[l.Resource] {
			list := append([]string(nil), c.RctlAllow...)
			sort.Strings(list)
			have := "none"
			if len(list) > 0 {
				have = strings.Join(list, " ")
			}
			errs.add(fieldErr("rctl["+quoteValue(l.Resource)+"]", strconv.FormatUint(l.Amount, 10),
				fmt.Errorf("rctl resource %s is not in the pot plugin's rctl_allow (allowed: %s)", l.Resource, have)))
		}
	}
	attrAllowed := map[string]bool{}
	for _, a := range c.AttributesAllow {
		attrAllowed[a] = true
	}
	for i, a := range s.Attributes {
		why := pot.AttributeRisk(a)
		if why == "" || attrAllowed[a.Name] {
			continue
		}
		errs.add(fieldErr(idx("attributes", i), a.Name+":"+a.Value,
			fmt.Errorf("%s weakens the jail's isolation (%s); the pot plugin's attributes_allow must list %s", a.Name, why, a.Name)))
	}
	return errs.err()
}
