package pot

import "testing"

func TestParseDNS(t *testing.T) {
	for in, want := range map[string]DNS{
		"":                           {},
		"inherit":                    {Mode: DNSInherit},
		"pot":                        {Mode: DNSPot},
		"off":                        {Mode: DNSOff},
		"custom:/etc/resolv.jail.cf": {Mode: DNSCustom, File: "/etc/resolv.jail.cf"},
	} {
		got, err := ParseDNS(in)
		if err != nil || got != want {
			t.Errorf("ParseDNS(%q) = %#v, %v; want %#v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("ParseDNS(%q).String() = %q", in, got.String())
		}
	}
	for _, in := range []string{"google", "custom:", "custom:resolv.conf", "custom:/etc/../etc/r", "custom:/a b", "custom:/a\nb", "Inherit", "custom:/x/"} {
		if got, err := ParseDNS(in); err == nil {
			t.Errorf("ParseDNS(%q) = %#v, accepted", in, got)
		}
	}
	// prepare refuses a DNS value ParseDNS would not give.
	o := PrepareOptions{URL: "file:///i", Image: "i", Tag: "1", Alloc: "a", Name: "n", DNS: DNS{Mode: DNSOff, File: "/x"}}
	if _, err := o.args(); err == nil {
		t.Error("prepare took dns off with a file")
	}
	o.DNS = CustomDNS("/etc/r")
	args, err := o.args()
	if err != nil || args[len(args)-2] != "-d" || args[len(args)-1] != "custom:/etc/r" {
		t.Errorf("prepare args %q, %v", args, err)
	}
}
