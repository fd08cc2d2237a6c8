package hclspec

import (
	"path"
	"strings"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

// FuzzTaskConfigValidate: Validate never panics, returns settings xor an
// error, and validated settings keep the invariants (no line break or NUL
// in any string, absolute clean paths, ...).
func FuzzTaskConfigValidate(f *testing.F) {
	f.Add("https://potluck.honeyguide.net/nginx-nomad", "nginx-nomad-amd64-13_1", "1.1.13", "nginx", "-g\x1fdaemon off;", "http", "80", "",
		"/mnt/s3/web/www:/mnt", "/etc/ssl:/etc/ssl", "/a:/b", "db:10.0.0.2", "devfs_ruleset:4")
	f.Add("file:///var/cache", "p", "t", "", "", "", "", "host", "a", ":", "a:b:c", "h:fe80::1", "mount:yes")
	f.Add("http://[::1]:80/x", "a.b", "-", "a b", "x\ny", "a\nb", "0", "alias", "/a:/", "/:/a", "/a:/../b", "x:1.2.3.4%em0", "exec_stop:/bin/x a=b")
	f.Add("", "", "", "", "", "", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, image, potName, tag, command, args, label, port, netMode, mount, mountRO, cp, host, attr string) {
		c := &TaskConfig{
			Image:       image,
			Pot:         potName,
			Tag:         tag,
			Command:     command,
			NetworkMode: netMode,
			// Both meanings of command and args, by the command's length.
			ExactArgs: len(command)%2 == 1,
		}
		if args != "" {
			// \x1f separates arguments, so one fuzz string can be several
			c.Args = strings.Split(args, "\x1f")
		}
		if label != "" || port != "" {
			c.PortMap = MapStrStr{label: port}
		}
		for _, l := range []struct {
			dst *[]string
			v   string
		}{{&c.Mount, mount}, {&c.MountReadOnly, mountRO}, {&c.Copy, cp}, {&c.ExtraHosts, host}, {&c.Attributes, attr}} {
			if l.v != "" {
				*l.dst = strings.Split(l.v, "\x1f")
			}
		}
		s, err := c.Validate()
		if err != nil {
			if s != nil {
				t.Fatal("settings and error")
			}
			if len(err.Error()) > 64<<10 {
				t.Fatalf("error message of %d bytes", len(err.Error()))
			}
			return
		}
		assertSafe(t, s)
		if len(s.Mounts) != len(c.Mount)+len(c.MountReadOnly) || len(s.Copies) != len(c.Copy) ||
			len(s.ExtraHosts) != len(c.ExtraHosts) || len(s.Attributes) != len(c.Attributes) || len(s.PortMap) != len(c.PortMap) {
			t.Fatal("an entry was dropped without an error")
		}
		if c.Command != "" && c.ExactArgs && (len(s.Argv) != 1+len(c.Args) || s.Argv[0] != c.Command || s.CommandLine != "") {
			t.Fatalf("argv %q from %q %q", s.Argv, c.Command, c.Args)
		}
		if c.Command != "" && !c.ExactArgs && (s.Argv != nil || s.CommandLine != strings.Join(append([]string{c.Command}, c.Args...), " ")) {
			t.Fatalf("command line %q from %q %q", s.CommandLine, c.Command, c.Args)
		}
	})
}

// FuzzSplitPairs: the "A:B" pieces (mount, copy, extra_hosts, attributes)
// never panic; whatever they accept keeps its invariants.
func FuzzSplitPairs(f *testing.F) {
	for _, s := range []string{"", ":", "a", "a:b", "a:b:c", "/a:/b", "/a/../b:/c", "/a:/", "h:fe80::1", "h:1.2.3.4",
		"h:fe80::1%em0", "mount:on", "enforce_statfs:2", "exec_stop:/bin/x", "devfs_ruleset:007", "::::", "/\xff:/a", "/a\n:/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, b, err := splitExact(s); err == nil {
			if a+":"+b != s || strings.Contains(a, ":") || strings.Contains(b, ":") {
				t.Fatalf("splitExact(%q) = %q, %q", s, a, b)
			}
		} else if strings.Count(s, ":") == 1 {
			t.Fatalf("splitExact(%q) refused one colon", s)
		}
		if a, b, err := splitFirst(s); err == nil {
			if a+":"+b != s || strings.Contains(a, ":") {
				t.Fatalf("splitFirst(%q) = %q, %q", s, a, b)
			}
		} else if strings.Contains(s, ":") {
			t.Fatalf("splitFirst(%q) refused a colon", s)
		}
		for _, ro := range []bool{false, true} {
			if m, err := ParseMount(s, ro); err == nil {
				for _, p := range []string{m.HostPath, m.JailPath} {
					if !path.IsAbs(p) || path.Clean(p) != p || strings.Contains(p, "..") && hasDotDot(p) ||
						strings.ContainsAny(p, "\n\r\x00: \t") {
						t.Fatalf("ParseMount(%q) path %q", s, p)
					}
				}
				if m.JailPath == "/" || m.ReadOnly != ro {
					t.Fatalf("ParseMount(%q) = %#v", s, m)
				}
			}
		}
		if c, err := ParseCopy(s); err == nil {
			for _, p := range []string{c.Src, c.Dest} {
				if !path.IsAbs(p) || path.Clean(p) != p || hasDotDot(p) || strings.ContainsAny(p, "\n\r\x00:") {
					t.Fatalf("ParseCopy(%q) path %q", s, p)
				}
			}
		}
		if h, err := ParseHost(s); err == nil {
			arg := h.HostsArg()
			if !h.IP.IsValid() || h.IP.Zone() != "" || strings.ContainsAny(arg, "\n\r\x00 \t%") || CheckHostname(h.Name) != nil {
				t.Fatalf("ParseHost(%q) = %#v", s, h)
			}
		}
		if a, err := ParseAttribute(s); err == nil {
			if !pot.IsAttribute(a.Name) || pot.IsAttributeOwned(a.Name) || a.Value == "" || strings.ContainsAny(a.Value, "\n\r\x00=") {
				t.Fatalf("ParseAttribute(%q) = %#v", s, a)
			}
		}
		if u, err := ParseImageURL(s); err == nil {
			if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "\n\r\x00 \t'\"`$;&|<>()\\") {
				t.Fatalf("ParseImageURL(%q) accepted", s)
			}
		}
		if CheckName(s) == nil && strings.ContainsAny(s, "/ \t\n\r\x00:;$'\"`") {
			t.Fatalf("CheckName(%q) accepted", s)
		}
		if nm, err := ParseNetworkMode(s); err == nil && nm == "" {
			t.Fatalf("ParseNetworkMode(%q) empty", s)
		}
		if p, err := ParsePort(s); err == nil && p == 0 {
			t.Fatalf("ParsePort(%q) = 0", s)
		}
	})
}
