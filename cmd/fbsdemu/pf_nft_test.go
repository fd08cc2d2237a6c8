package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testIfAddrs stands for the machine's interfaces: em0 with two addresses,
// bridge0 with none.
func testIfAddrs(name string) []string {
	switch name {
	case "em0":
		return []string{"198.18.0.2", "198.18.0.9"}
	case "lo":
		return []string{"127.0.0.1"}
	}
	return nil
}

const nftHead = "table ip fbsdemu_pf\ndelete table ip fbsdemu_pf\n"

// nftTables is the script of an enabled pf with these chains' lines.
func nftTables(rdr, nat string) string {
	return nftHead + "table ip fbsdemu_pf {\n" +
		"\tchain rdr {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n" + rdr + "\t}\n" +
		"\tchain nat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n" + nat + "\t}\n}\n"
}

// What pot loads: pf.conf's anchors (pot init), pot-nat (vnet-start.sh) and
// a pot's rdr anchor (start.sh), as nftables rules in that order.
func TestPfNftScriptPot(t *testing.T) {
	s := pfState{Enabled: true, Anchors: map[string][]string{
		"":        {"set skip on lo0", "nat-anchor pot-nat", `rdr-anchor "pot-rdr/*"`, "pass in all", "block out quick on em0 proto udp"},
		"pot-nat": {`ext_if = "em0"`, `localnet = "10.192.0.0/10"`, `nat on $ext_if from $localnet to any -> ($ext_if:0)`},
		"pot-rdr/web_abc": {
			"rdr pass on em0 proto tcp from any to (em0) port 32768 -> 10.192.0.3 port 80",
			"rdr pass on em0 proto udp from any to (em0) port 32769 -> 10.192.0.3 port 53",
		},
		"pot-rdr/db_def": {"rdr pass on em0 proto tcp from any to 198.18.0.9 port 5432 -> 10.192.0.4 port 5432"},
	}}
	got, err := pfNftScript(s, testIfAddrs)
	if err != nil {
		t.Fatal(err)
	}
	want := nftTables(
		"\t\t# pot-rdr/db_def:1: rdr pass on em0 proto tcp from any to 198.18.0.9 port 5432 -> 10.192.0.4 port 5432\n"+
			"\t\tiifname \"em0\" ip daddr 198.18.0.9 tcp dport 5432 dnat to 10.192.0.4:5432\n"+
			"\t\t# pot-rdr/web_abc:1: rdr pass on em0 proto tcp from any to (em0) port 32768 -> 10.192.0.3 port 80\n"+
			"\t\tiifname \"em0\" ip daddr { 198.18.0.2, 198.18.0.9 } tcp dport 32768 dnat to 10.192.0.3:80\n"+
			"\t\t# pot-rdr/web_abc:2: rdr pass on em0 proto udp from any to (em0) port 32769 -> 10.192.0.3 port 53\n"+
			"\t\tiifname \"em0\" ip daddr { 198.18.0.2, 198.18.0.9 } udp dport 32769 dnat to 10.192.0.3:53\n",
		"\t\t# pot-nat:3: nat on $ext_if from $localnet to any -> ($ext_if:0)\n"+
			"\t\toifname \"em0\" ip saddr 10.192.0.0/10 masquerade\n")
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	// pf disabled: no rule applies, the table goes.
	s.Enabled = false
	if got, err := pfNftScript(s, testIfAddrs); err != nil || got != nftHead {
		t.Errorf("disabled: %v\n%s", err, got)
	}
}

// The other forms translated, one rule each.
func TestPfNftRuleForms(t *testing.T) {
	for _, c := range []struct{ rules, rdr, nat string }{
		// POT_EXTIF_ADDR set: nat to an address of a macro.
		{"ext_addr = \"198.18.0.9\"\nnat on em0 from 10.192.0.0/10 to any -> $ext_addr", "",
			"\t\toifname \"em0\" ip saddr 10.192.0.0/10 snat to 198.18.0.9\n"},
		// POT_EXTRA_EXTIF and VPN networks: to a network, through another interface's first address.
		{"localnet = \"10.192.0.0/10\"\nnat on em1 from $localnet to 10.0.0.0/8 -> (em0:0)", "",
			"\t\toifname \"em1\" ip saddr 10.192.0.0/10 ip daddr 10.0.0.0/8 snat to 198.18.0.2\n"},
		// What pfctl -s nat prints comes back in.
		{"nat on em0 inet from 10.192.0.0/10 to any -> (em0) round-robin", "",
			"\t\toifname \"em0\" ip saddr 10.192.0.0/10 masquerade\n"},
		{"rdr pass on em0 inet proto tcp from any to (em0) port = 32768 -> 10.192.0.3 port 80",
			"\t\tiifname \"em0\" ip daddr { 198.18.0.2, 198.18.0.9 } tcp dport 32768 dnat to 10.192.0.3:80\n", ""},
		// A range to one port; a list of protocols; a source; the port kept.
		{"rdr on { em0, lo0 } proto { tcp udp } from 192.0.2.0/24 to 198.18.0.2 port 8000:8009 -> 10.192.0.3 port 80",
			"\t\tiifname { \"em0\", \"lo\" } ip saddr 192.0.2.0/24 ip daddr 198.18.0.2 tcp dport 8000-8009 dnat to 10.192.0.3:80\n" +
				"\t\tiifname { \"em0\", \"lo\" } ip saddr 192.0.2.0/24 ip daddr 198.18.0.2 udp dport 8000-8009 dnat to 10.192.0.3:80\n", ""},
		{"rdr on em0 proto tcp from { 192.0.2.1 192.0.2.7 } port 1024:65535 to any -> 10.192.0.3",
			"\t\tiifname \"em0\" ip saddr { 192.0.2.1, 192.0.2.7 } tcp sport 1024-65535 dnat to 10.192.0.3\n", ""},
		{"rdr on em0 proto udp to em0 -> 10.192.0.3 port 53",
			"\t\tiifname \"em0\" ip daddr { 198.18.0.2, 198.18.0.9 } meta l4proto udp dnat to 10.192.0.3:53\n", ""},
		{"rdr on em0 all -> 10.192.0.3  # every packet", "\t\tiifname \"em0\" dnat to 10.192.0.3\n", ""},
		// An interface without an IPv4 address matches nothing: no rule.
		{"rdr pass on bridge0 proto tcp from any to (bridge0) port 80 -> 10.192.0.3 port 80", "", ""},
		{"nat on bridge0 from 10.192.0.0/10 to any -> (bridge1)", "", ""},
	} {
		lines := strings.Split(c.rules, "\n")
		got, err := pfNftScript(pfState{Enabled: true, Anchors: map[string][]string{"a": lines}}, testIfAddrs)
		if err != nil {
			t.Errorf("%s: %v", c.rules, err)
			continue
		}
		last := lines[len(lines)-1]
		comment := "\t\t# a:" + map[bool]string{true: "1", false: "2"}[len(lines) == 1] + ": " + last + "\n"
		rdr, nat := "", ""
		if strings.HasPrefix(last, "rdr") {
			rdr = comment + c.rdr
		} else {
			nat = comment + c.nat
		}
		if want := nftTables(rdr, nat); got != want {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", c.rules, got, want)
		}
	}
}

// A line that cannot be applied is refused, named by its file and line.
func TestPfNftRefused(t *testing.T) {
	for _, c := range []struct{ rules, msg string }{
		{"binat on em0 from 10.192.0.3 to any -> 198.18.0.9", "f:1: cannot translate to nftables: binat is not emulated: binat on em0"},
		{"no rdr on em0 proto tcp to port 22", "f:1: cannot translate to nftables: no is not emulated"},
		{"nat on $ext_if from any to any -> (em0)", "f:1: macro 'ext_if' not defined"},
		{"x = \"1\"\n\nrdr on em0 inet6 proto tcp to port 80 -> fd00::3", "f:3: cannot translate to nftables: IPv6 rules"},
		{"rdr on em0 proto tcp to port 80 -> fd00::3", "cannot translate to nftables: IPv6 addresses"},
		{"rdr on em0 proto tcp to port 8000:8009 -> 10.192.0.3 port 80:*", "cannot translate to nftables: port ranges of the redirection (80:*)"},
		{"rdr on em0 to port 80 -> 10.192.0.3", "port only applies to tcp/udp"},
		{"rdr on em0 proto tcp to <web> port 80 -> 10.192.0.3", "cannot translate to nftables: tables (<web>)"},
		{"rdr on em0 proto tcp from ! 192.0.2.1 to any port 80 -> 10.192.0.3", "cannot translate to nftables: negated addresses"},
		{"rdr on em0 proto tcp to port != 80 -> 10.192.0.3", "cannot translate to nftables: port operator !"},
		{"rdr on em0 proto icmp -> 10.192.0.3", "cannot translate to nftables: proto icmp"},
		{"rdr on em0 proto tcp to port 80 10.192.0.3", "syntax error"},
		{"nat on em0 from 10.192.0.0/10 to any -> { 198.18.0.2 198.18.0.9 }", "cannot translate to nftables: address pools"},
		{"nat on em0 from 10.192.0.0/10 to any -> 198.18.0.0/24", "cannot translate to nftables: address pools (198.18.0.0/24)"},
		{"nat on em0 from 10.192.0.0/10 to any -> (em0) source-hash", "cannot translate to nftables: source-hash"},
		{"rdr on em0 proto tcp to port 99999 -> 10.192.0.3", "illegal port value 99999"},
		{"rdr on em0 proto tcp to nosuch.example port 80 -> 10.192.0.3", "no IP address found for nosuch.example"},
		{"ext_if = \"em0", "unterminated quoted string"},
		{"frobnicate on em0", "f:1: syntax error: frobnicate on em0"},
	} {
		var lines []pfLine
		for i, l := range strings.Split(c.rules, "\n") {
			if l != "" {
				lines = append(lines, pfLine{file: "f", num: i + 1, text: l})
			}
		}
		_, err := parsePfRules(lines)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %q", c.rules, err, c.msg)
		}
	}
}

// pfctl -f refuses a file with a line it cannot apply: exit 1, the line
// named, the anchor keeping its rules (read back as before). Outside a
// machine of fbsdemu run nothing is applied (no netns record).
func TestPfctlRefusedFileNotLoaded(t *testing.T) {
	dir, env := toolsDir(t)
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte("# pot\nrdr pass on em0 proto tcp from any to (em0) port 32768 -> 10.192.0.3 port 80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("rdr pass on em0 proto tcp from any to (em0) port 1 -> 10.192.0.3 port 1\n\nbinat on em0 from 10.192.0.3 to any -> 198.18.0.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runTool(t, env, "pfctl -a pot-rdr/x -f "+good+" && pfctl -a pot-rdr/x -f "+bad+"; echo \"rc=$?\"; pfctl -a pot-rdr/x -s nat -P; pfctl -a pot-rdr -s Anchors")
	want := bad + ":3: cannot translate to nftables: binat is not emulated: binat on em0 from 10.192.0.3 to any -> 198.18.0.9\n" +
		"pfctl: Syntax error in config file: pf rules not loaded\nrc=1\n" +
		"rdr pass on em0 proto tcp from any to (em0) port 32768 -> 10.192.0.3 port 80\n  pot-rdr/x\n"
	if code != 0 || out != want {
		t.Errorf("got (exit %d):\n%s\nwant:\n%s", code, out, want)
	}
}

// The anchors pot's init writes into the main ruleset exist once it is
// loaded (vnet-start.sh checks `pfctl -s Anchors` for pot-nat and pot-rdr
// before each bridge start, and reloads the file when they are missing).
func TestPfctlMainRulesetDeclaresAnchors(t *testing.T) {
	dir, env := toolsDir(t)
	conf := filepath.Join(dir, "pf.conf")
	if err := os.WriteFile(conf, []byte("nat-anchor pot-nat\nrdr-anchor \"pot-rdr/*\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runTool(t, env, "pfctl -s Anchors; echo --; pfctl -f "+conf+" && pfctl -s Anchors")
	if want := "--\n  pot-nat\n  pot-rdr\n"; code != 0 || out != want {
		t.Errorf("got (exit %d):\n%s\nwant:\n%s", code, out, want)
	}
}
