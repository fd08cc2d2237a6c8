package freebsd

import (
	"regexp"
	"strconv"
	"strings"
)

// oomKillLine is FreeBSD's killproc(9) message (kern_sig.c, since 12):
//
//	pid 1234 (python3.11), jid 7, uid 0, was killed: out of swap space
//
// killproc is also used for other reasons (RLIMIT_CPU: "exceeded maximum CPU
// limit"), so the reason is checked against oomReasons.
var oomKillLine = regexp.MustCompile(`^pid (\d+) \((.*)\), jid (\d+), uid (\d+), was killed: (.*)$`)

// oomReasons are the reasons vm_pageout_oom gives (vm_pageout.c): the
// page daemon could not free memory, a fault waited too long for a page, or
// swap is full.
var oomReasons = []string{
	"out of swap space",
	"failed to reclaim memory",
	"a thread waited too long to allocate a page",
}

// rctlLogBufsize is RCTL_LOG_BUFSIZE: rctl prints at most 127 bytes of the
// rule text of a matched log rule.
const rctlLogBufsize = 128

// rctlLogLine is rctl_enforce's message for a matched log rule:
//
//	rctl: rule "jail:web_x:memoryuse:log=268435456" matched by pid 812 (python3.11), uid 0, jail web_x
var rctlLogLine = regexp.MustCompile(`^rctl: rule "([^"]*)" matched by pid (\d+) \((.*)\), uid (\d+), jail (.*)$`)

// kernelLines splits a message buffer into lines without the priority
// ("<3>") and timestamp ("[123.456] ") prefixes the buffer may carry.
func kernelLines(buf string) []string {
	raw := strings.Split(strings.ReplaceAll(buf, "\x00", ""), "\n")
	out := make([]string, 0, len(raw))
	for _, l := range raw {
		l = strings.TrimRight(l, "\r ")
		for {
			trimmed := false
			if strings.HasPrefix(l, "<") {
				if i := strings.IndexByte(l, '>'); i > 1 && allDigits(l[1:i]) {
					l, trimmed = l[i+1:], true
				}
			}
			if strings.HasPrefix(l, "[") {
				if i := strings.IndexByte(l, ']'); i > 1 && allDigits(strings.Replace(l[1:i], ".", "", 1)) {
					l, trimmed = strings.TrimLeft(l[i+1:], " "), true
				}
			}
			if !trimmed {
				break
			}
		}
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// CountOOMKills counts the OOM killer's kills of processes in jail jid that
// a kernel message buffer (sysctl kern.msgbuf) records.
func CountOOMKills(msgbuf string, jid int) int {
	if jid <= 0 {
		return 0
	}
	want := strconv.Itoa(jid)
	n := 0
	for _, l := range kernelLines(msgbuf) {
		m := oomKillLine.FindStringSubmatch(l)
		if m == nil || m[3] != want {
			continue
		}
		for _, r := range oomReasons {
			if strings.HasPrefix(m[5], r) {
				n++
				break
			}
		}
	}
	return n
}

// MemoryLimitLogged reports whether a kernel message buffer holds rctl's
// record of jail reaching the hard memory limit: the match of the jail's
// memoryuse log rule (see JailLimits.Rules). Long rule texts are cut by the
// kernel at 127 bytes, so a cut text that is a prefix of the rule counts.
func MemoryLimitLogged(msgbuf, jail string) bool {
	if jail == "" {
		return false
	}
	want := "jail:" + jail + ":memoryuse:log="
	for _, l := range kernelLines(msgbuf) {
		m := rctlLogLine.FindStringSubmatch(l)
		if m == nil || m[5] != jail {
			continue
		}
		text := m[1]
		if strings.HasPrefix(text, want) {
			return true
		}
		if len(text) >= rctlLogBufsize-1 && strings.HasPrefix(want, text) {
			return true
		}
	}
	return false
}

// ExitFacts are what is known of a task's end when deciding whether it was
// killed for memory.
type ExitFacts struct {
	// ExitCode and Signal as reported for the task's main process; a
	// process killed by a signal shows as 128+signal (sh's wait) or as
	// Signal.
	ExitCode int
	Signal   int
	// StopRequested: the driver was stopping the task (kill_signal, then
	// pot stop's SIGTERM and SIGKILL).
	StopRequested bool
	// NewOOMKills is how many OOM-killer kills of the jail's processes
	// the kernel recorded since the task started (CountOOMKills now minus
	// at start); -1 when unknown.
	NewOOMKills int
	// HardLimitLogged: the kernel recorded that the jail reached its hard
	// memory limit (MemoryLimitLogged).
	HardLimitLogged bool
}

// OOMKilled decides whether a task ended because of memory:
//
//   - the task did not end cleanly, and the kernel's OOM killer killed a
//     process of its jail during the run (the kernel says so, naming the
//     jail's id) — as Nomad on Linux reports any OOM kill in the task's
//     cgroup; or
//   - the main process was killed by SIGKILL, the driver was not stopping
//     the task, and the jail had reached its hard memory limit (rctl's log
//     rule matched): the limit and the kill are both the kernel's record,
//     the link between them is inferred.
//
// A SIGKILL sent by someone else while the jail sits at its hard limit is
// misread as an OOM kill; an OOM kill older than the message buffer's
// memory (it is a ring of kern.msgbufsize bytes) is missed.
func OOMKilled(f ExitFacts) bool {
	clean := f.ExitCode == 0 && f.Signal == 0
	if clean {
		return false
	}
	if f.NewOOMKills > 0 {
		return true
	}
	sigkill := f.Signal == 9 || f.ExitCode == 128+9
	return sigkill && !f.StopRequested && f.HardLimitLogged
}
