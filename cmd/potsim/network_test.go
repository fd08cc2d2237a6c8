package main

import (
	"os"
	"testing"
)

func TestExportPortSpecs(t *testing.T) {
	valid := []string{"80", "tcp:80", "udp:53", "80:8080", "tcp:80:30000", "udp:53:30053", "65535:1"}
	invalid := []string{"", "0", "65536", "x", "tcp:", "80:", ":80", "80:x", "sctp:80", "80:70000", "udp:tcp:80", "-1"}
	for _, v := range valid {
		if !isExportPortValid(v) {
			t.Errorf("%q should be valid", v)
		}
	}
	for _, v := range invalid {
		if isExportPortValid(v) {
			t.Errorf("%q should be invalid", v)
		}
	}
	cases := []struct {
		spec string
		want portSpec
	}{
		{"80", portSpec{"tcp", 80, 0}},
		{"udp:53:30053", portSpec{"udp", 53, 30053}},
		{"tcp:8080:18080", portSpec{"tcp", 8080, 18080}},
		{"443:1443", portSpec{"tcp", 443, 1443}},
	}
	for _, c := range cases {
		got, err := parsePortSpec(c.spec)
		if err != nil || got != c.want {
			t.Errorf("parsePortSpec(%q) = %+v, %v; want %+v", c.spec, got, err, c.want)
		}
	}
}

func TestIPAllocation(t *testing.T) {
	newTestPot(t, "a", "pot.type=single\nnetwork_type=public-bridge\nip=127.192.0.2\n")
	n := publicNet()
	ip, err := nextIP(n)
	if err != nil || ip != "127.192.0.3" {
		t.Fatalf("next = %q, %v", ip, err)
	}
	// A freed address is handed out again; an alias address elsewhere is ignored.
	if err := os.WriteFile(confFile("a"), []byte("network_type=alias\nip=eth0|10.1.1.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ip, _ := nextIP(n); ip != "127.192.0.2" {
		t.Errorf("next after free = %q", ip)
	}
	for addr, want := range map[string]bool{
		"127.192.0.2": true, "127.192.0.1": false, "127.192.0.0": false, "127.192.255.255": false,
		"127.193.0.2": false, "10.1.1.1": false, "bogus": false, "127.192.3.4": true,
	} {
		if got := validateIP(n, addr); got != want {
			t.Errorf("validate %s = %v, want %v", addr, got, want)
		}
	}
	if err := os.WriteFile(confFile("a"), []byte("network_type=public-bridge\nip=127.192.3.4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if validateIP(n, "127.192.3.4") {
		t.Error("an address in use is not valid")
	}
}

func TestPotEnvLines(t *testing.T) {
	newTestPot(t, "p", "pot.type=single\nnetwork_type=alias\npot.stack=ipv4\nip=lo|127.0.0.9\n")
	got := potEnvLines("p")
	want := []string{
		"export _POT_NAME=p",
		"export _POT_IP=127.0.0.9",
		"export _POT_IP_0=127.0.0.9",
		"export _POT_NIC_0=lo",
		"export _POT_IP_LIST=_POT_IP_0",
		"export _POT_NIC_LIST=_POT_NIC_0",
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
	newTestPot(t, "q", "pot.type=single\nnetwork_type=private-bridge\nip=127.193.0.2\nbridge=br\n")
	got = potEnvLines("q")
	if len(got) != 3 || got[1] != "export _POT_IP=127.193.0.2" || got[2] != "export _POT_BRIDGE=br" {
		t.Errorf("private bridge: %q", got)
	}
	newTestPot(t, "r", "pot.type=single\nnetwork_type=inherit\n")
	if got = potEnvLines("r"); len(got) != 2 || got[1] != "export _POT_IP=" {
		t.Errorf("inherit: %q", got)
	}
}
