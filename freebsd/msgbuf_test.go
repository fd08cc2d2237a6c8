package freebsd

import "testing"

// msgbuf is a kernel message buffer as sysctl kern.msgbuf returns it, with
// priority prefixes on log(9) lines and an optional timestamp.
const msgbuf = `---<<BOOT>>---
Copyright (c) 1992-2024 The FreeBSD Project.
<6>epair0a: Ethernet address: 02:2b:2c:3d:4e:0a
rctl: rule "jail:web_abc:memoryuse:log=268435456" matched by pid 812 (python3.11), uid 0, jail web_abc
<3>pid 812 (python3.11), jid 7, uid 0, was killed: failed to reclaim memory
<3>[1234.567] pid 900 (cc1), jid 7, uid 0, was killed: out of swap space
<3>pid 901 (loop), jid 7, uid 0, was killed: exceeded maximum CPU limit
<3>pid 77 (big), jid 17, uid 0, was killed: a thread waited too long to allocate a page
rctl: rule "user:www:maxproc:log=10" matched by pid 5 (sh), uid 80, jail other_jail
rctl: rule "jail:other_jail:vmemoryuse:log=10" matched by pid 5 (sh), uid 80, jail other_jail
`

func TestCountOOMKills(t *testing.T) {
	for jid, want := range map[int]int{7: 2, 17: 1, 1: 0, 0: 0, -1: 0} {
		if got := CountOOMKills(msgbuf, jid); got != want {
			t.Errorf("jid %d: %d kills, want %d", jid, got, want)
		}
	}
}

func TestMemoryLimitLogged(t *testing.T) {
	for jail, want := range map[string]bool{
		"web_abc":    true,
		"web_ab":     false, // another jail's name as a prefix
		"other_jail": false, // a user rule and another resource's log rule
		"":           false,
	} {
		if got := MemoryLimitLogged(msgbuf, jail); got != want {
			t.Errorf("%q: %v", jail, got)
		}
	}
	// The kernel cuts the rule text at 127 bytes.
	long := "job-with-a-long-name-xxxx_task-with-a-long-name-xxx_0123456789abcdef0123456789abcdef0123_deadbeefcafebabe"
	rule := "jail:" + long + ":memoryuse:log=2147483648"
	cut := rule[:rctlLogBufsize-1]
	buf := `rctl: rule "` + cut + `" matched by pid 1 (x), uid 0, jail ` + long + "\n"
	if !MemoryLimitLogged(buf, long) {
		t.Errorf("cut rule %q not recognised", cut)
	}
}

func TestOOMKilled(t *testing.T) {
	for _, c := range []struct {
		name string
		f    ExitFacts
		want bool
	}{
		{"clean exit", ExitFacts{NewOOMKills: 3, HardLimitLogged: true}, false},
		{"kernel OOM kill of the jail, any unclean exit", ExitFacts{ExitCode: 1, NewOOMKills: 1}, true},
		{"SIGKILL at the hard limit", ExitFacts{ExitCode: 137, HardLimitLogged: true}, true},
		{"SIGKILL signal at the hard limit", ExitFacts{Signal: 9, ExitCode: 137, HardLimitLogged: true}, true},
		{"SIGKILL, limit never reached", ExitFacts{ExitCode: 137}, false},
		{"SIGKILL while the driver stopped it", ExitFacts{ExitCode: 137, HardLimitLogged: true, StopRequested: true}, false},
		{"driver stop, but the kernel OOM-killed it", ExitFacts{ExitCode: 137, NewOOMKills: 1, StopRequested: true}, true},
		{"error exit at the limit, no kill", ExitFacts{ExitCode: 1, HardLimitLogged: true}, false},
		{"unknown kill count", ExitFacts{ExitCode: 137, NewOOMKills: -1}, false},
	} {
		if got := OOMKilled(c.f); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}
