package pot

import (
	"reflect"
	"strings"
	"testing"
)

func TestAttributeNames(t *testing.T) {
	names := AttributeNames()
	if len(names) != len(attrDefs)-4 {
		t.Errorf("got %d names: %v", len(names), names)
	}
	for _, n := range names {
		if n == "persistent" || n == "no-rc-script" {
			t.Errorf("driver-owned attribute %s listed", n)
		}
	}
	// every name of pot's lists is known
	for _, n := range strings.Fields("start-at-boot early-start-at-boot persistent no-rc-script prunable localhost-tunnel no-tmpfs no-etc-hosts enforce_statfs mount fdescfs linprocfs nullfs procfs tmpfs zfs raw_sockets sysvshm sysvsem sysvmsg children mlock devfs_ruleset exec_stop stop_timeout") {
		if _, ok := attrDefs[n]; !ok {
			t.Errorf("pot attribute %s unknown", n)
		}
	}
}

func TestNormalizeBool(t *testing.T) {
	for in, want := range map[string]string{
		"YES": "YES", "yes": "YES", "On": "YES", "true": "YES", "TRUE": "YES",
		"NO": "NO", "no": "NO", "off": "NO", "OFF": "NO", "False": "NO",
	} {
		if got, ok := NormalizeBool(in); !ok || got != want {
			t.Errorf("NormalizeBool(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "1", "0", "y", "n", "yes ", "enabled"} {
		if _, ok := NormalizeBool(in); ok {
			t.Errorf("NormalizeBool(%q) accepted", in)
		}
	}
}

func TestRiskyAttributes(t *testing.T) {
	want := []string{"children", "devfs_ruleset", "enforce_statfs", "linprocfs", "mlock", "mount", "nullfs", "raw_sockets", "sysvmsg", "sysvsem", "sysvshm", "tmpfs", "zfs"}
	if got := RiskyAttributes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("RiskyAttributes() = %q", got)
	}
	for _, n := range want {
		if def, ok := attrDefs[n]; !ok || def.owned != "" {
			t.Errorf("risky attribute %s is not one a job may set", n)
		}
	}
	for v, risky := range map[string]bool{
		"mount:yes": true, "mount:no": false, "zfs:on": true, "nullfs:true": true, "tmpfs:YES": true, "linprocfs:yes": true,
		"raw_sockets:yes": true, "raw_sockets:no": false, "mlock:yes": true,
		"children:0": false, "children:1": true, "enforce_statfs:2": false, "enforce_statfs:1": true, "enforce_statfs:0": true,
		"devfs_ruleset:4": false, "devfs_ruleset:04": false, "devfs_ruleset:0": true, "devfs_ruleset:5": true,
		"sysvshm:new": false, "sysvshm:disable": false, "sysvshm:inherit": true, "sysvsem:Inherit": true, "sysvmsg:inherit": true,
		"procfs:yes": false, "fdescfs:yes": false, "stop_timeout:100": false, "exec_stop:/bin/true": false,
		"prunable:no": false, "localhost-tunnel:no": false, "no-tmpfs:no": false, "no-etc-hosts:no": false,
	} {
		name, value, _ := strings.Cut(v, ":")
		a, err := CheckAttribute(name, value)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got := AttributeRisk(a) != ""; got != risky {
			t.Errorf("%s: risky %v, want %v", v, got, risky)
		}
	}
}

// FuzzCheckAttribute: whatever CheckAttribute accepts is an attribute a job
// may set, with a value pot's config can hold.
func FuzzCheckAttribute(f *testing.F) {
	for _, s := range []string{"mount", "stop_timeout", "exec_stop", "sysvshm", "persistent"} {
		f.Add(s, "yes")
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		a, err := CheckAttribute(name, value)
		if err != nil {
			return
		}
		def, ok := attrDefs[a.Name]
		if !ok || def.owned != "" || a.Value == "" || strings.ContainsAny(a.Value, "\n\r\x00=") {
			t.Fatalf("CheckAttribute(%q, %q) = %#v", name, value, a)
		}
		if def.kind == attrBool && a.Value != "YES" && a.Value != "NO" {
			t.Fatalf("CheckAttribute(%q, %q) bool %q", name, value, a.Value)
		}
	})
}
