package main

// pgrep(1), pkill(1) and killall(1) as FreeBSD's, over Linux's processes.
// Signals are FreeBSD's names and numbers, delivered as the Linux signal of
// the same name (INFO as SIGPWR; EMT and THR have no Linux signal).

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

func init() {
	register("pgrep", func(a []string) int { return cmdPgrep("pgrep", a) })
	register("pkill", func(a []string) int { return cmdPgrep("pkill", a) })
	register("killall", cmdKillall)
}

// bsdSignals are FreeBSD's signal names by number (sys_signame, 1..31).
var bsdSignals = []string{"", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "EMT", "FPE", "KILL",
	"BUS", "SEGV", "SYS", "PIPE", "ALRM", "TERM", "URG", "STOP", "TSTP", "CONT", "CHLD", "TTIN",
	"TTOU", "IO", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "INFO", "USR1", "USR2"}

// linuxSignals are the Linux signals of FreeBSD's names.
var linuxSignals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "ILL": syscall.SIGILL,
	"TRAP": syscall.SIGTRAP, "ABRT": syscall.SIGABRT, "FPE": syscall.SIGFPE, "KILL": syscall.SIGKILL,
	"BUS": syscall.SIGBUS, "SEGV": syscall.SIGSEGV, "SYS": syscall.SIGSYS, "PIPE": syscall.SIGPIPE,
	"ALRM": syscall.SIGALRM, "TERM": syscall.SIGTERM, "URG": syscall.SIGURG, "STOP": syscall.SIGSTOP,
	"TSTP": syscall.SIGTSTP, "CONT": syscall.SIGCONT, "CHLD": syscall.SIGCHLD, "TTIN": syscall.SIGTTIN,
	"TTOU": syscall.SIGTTOU, "IO": syscall.SIGIO, "XCPU": syscall.SIGXCPU, "XFSZ": syscall.SIGXFSZ,
	"VTALRM": syscall.SIGVTALRM, "PROF": syscall.SIGPROF, "WINCH": syscall.SIGWINCH,
	"INFO": syscall.Signal(30), // SIGPWR
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

// parseBSDSignal reads a signal as FreeBSD's tools take it: a number, or a
// name with or without SIG (any case). It returns the FreeBSD number.
func parseBSDSignal(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 0 && n < 128
	}
	u := strings.ToUpper(s)
	u = strings.TrimPrefix(u, "SIG")
	for i, n := range bsdSignals {
		if i > 0 && n == u {
			return i, true
		}
	}
	switch u {
	case "THR", "LWP":
		return 32, true
	case "LIBRT":
		return 33, true
	}
	return 0, false
}

// toLinuxSignal is the Linux signal for a FreeBSD signal number.
func toLinuxSignal(n int) (syscall.Signal, bool) {
	if n == 0 {
		return 0, true
	}
	if n > 0 && n < len(bsdSignals) {
		s, ok := linuxSignals[bsdSignals[n]]
		return s, ok
	}
	return 0, false
}

// procInfo is a process as pgrep looks at it.
type procInfo struct {
	pid, ppid, pgrp, sid, tty int
	ruid, euid, rgid, egid    int
	comm                      string
	args                      []string
	start                     uint64
	kernel                    bool
}

type pgrepOpts struct {
	name                                  string
	signal                                int
	full, exact, long, newest, oldest     bool
	quiet, invert, ancestors, ignoreCase  bool
	system                                bool
	delim                                 string
	pidfile                               string
	ppids, euids, ruids, pgrps, sids, jls []string
	patterns                              []string
}

func cmdPgrep(name string, args []string) int {
	o := pgrepOpts{name: name, signal: 15, delim: "\n"}
	if name == "pkill" && len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		if n, ok := parseBSDSignal(args[0][1:]); ok {
			o.signal = n
			args = args[1:]
		}
	}
	criteria := false
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for k := 1; k < len(a); k++ {
			c := a[k]
			if strings.IndexByte("FGMNPUcdgjstu", c) >= 0 {
				var v string
				if k+1 < len(a) {
					v = a[k+1:]
				} else if i+1 < len(args) {
					i++
					v = args[i]
				} else {
					warnx(name, "option requires an argument -- %c", c)
					return pgrepUsage(name)
				}
				k = len(a)
				list := strings.Split(v, ",")
				switch c {
				case 'F':
					o.pidfile = v
				case 'P':
					o.ppids = append(o.ppids, list...)
				case 'U':
					o.ruids = append(o.ruids, list...)
				case 'u':
					o.euids = append(o.euids, list...)
				case 'g':
					o.pgrps = append(o.pgrps, list...)
				case 's':
					o.sids = append(o.sids, list...)
				case 'j':
					o.jls = append(o.jls, list...)
				case 'd':
					if name == "pkill" {
						return pgrepUsage(name)
					}
					o.delim = v
				}
				if c != 'd' {
					criteria = true
				}
				continue
			}
			switch c {
			case 'f':
				o.full = true
			case 'x':
				o.exact = true
			case 'l':
				o.long = true
			case 'n':
				o.newest = true
			case 'o':
				o.oldest = true
			case 'q':
				if name == "pkill" {
					return pgrepUsage(name)
				}
				o.quiet = true
			case 'v':
				o.invert = true
			case 'a':
				o.ancestors = true
			case 'i':
				o.ignoreCase = true
			case 'S':
				o.system = true
			case 'I', 'L':
			default:
				warnx(name, "illegal option -- %c", c)
				return pgrepUsage(name)
			}
		}
	}
	o.patterns = args[i:]
	if len(o.patterns) > 0 {
		criteria = true
	}
	if !criteria {
		return pgrepUsage(name)
	}
	if o.newest && o.oldest {
		warnx(name, "-n and -o are mutually exclusive")
		return pgrepUsage(name)
	}
	matched, status := matchProcs(&o)
	if status != 0 {
		return status
	}
	if name == "pgrep" {
		var b strings.Builder
		for _, p := range matched {
			if o.quiet {
				break
			}
			b.WriteString(strconv.Itoa(p.pid))
			if o.long {
				b.WriteString(" ")
				if o.full && len(p.args) > 0 {
					b.WriteString(strings.Join(p.args, " "))
				} else {
					b.WriteString(p.comm)
				}
			}
			b.WriteString(o.delim)
		}
		os.Stdout.WriteString(b.String())
	} else {
		sig, ok := toLinuxSignal(o.signal)
		if !ok {
			warnx(name, "signal %d has no Linux equivalent", o.signal)
			return 3
		}
		for _, p := range matched {
			if o.long {
				fmt.Printf("kill -%d %d\n", o.signal, p.pid)
			}
			if err := syscall.Kill(p.pid, sig); err != nil && err != syscall.ESRCH {
				warnx(name, "signalling pid %d: %s", p.pid, errnoStr(err))
				status = 3
			}
		}
		if status != 0 {
			return status
		}
	}
	if len(matched) == 0 {
		return 1
	}
	return 0
}

func pgrepUsage(name string) int {
	if name == "pgrep" {
		fmt.Fprintln(os.Stderr, "usage: pgrep [-LSfilnoqvx] [-d delim] [-F pidfile] [-G gid]\n             [-M core] [-N system]\n             [-P ppid] [-U uid] [-c class] [-g pgrp] [-j jail]\n             [-s sid] [-t tty] [-u euid] pattern ...")
	} else {
		fmt.Fprintln(os.Stderr, "usage: pkill [-signal] [-ILfilnovx] [-F pidfile] [-G gid]\n             [-M core] [-N system]\n             [-P ppid] [-U uid] [-c class] [-g pgrp] [-j jail]\n             [-s sid] [-t tty] [-u euid] pattern ...")
	}
	return 2
}

// matchProcs selects the processes as pgrep's criteria say; status 2 for
// a bad argument, 3 for a fatal error.
func matchProcs(o *pgrepOpts) ([]procInfo, int) {
	var res []*regexp.Regexp
	for _, p := range o.patterns {
		expr := p
		if o.exact {
			expr = "^(?:" + p + ")$"
		}
		if o.ignoreCase {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			warnx(o.name, "Cannot compile regular expression `%s' (%v)", p, err)
			return nil, 2
		}
		re.Longest()
		res = append(res, re)
	}
	var pidfilePid int
	if o.pidfile != "" {
		data, err := os.ReadFile(o.pidfile)
		if err != nil {
			warnx(o.name, "Cannot open pidfile `%s': %s", o.pidfile, errnoStr(err))
			return nil, 3
		}
		line := strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
		if line == "" {
			warnx(o.name, "Pidfile `%s' is empty", o.pidfile)
			return nil, 3
		}
		n, err := strconv.Atoi(line)
		if err != nil || n <= 0 {
			warnx(o.name, "Invalid pid in pidfile `%s'", o.pidfile)
			return nil, 3
		}
		pidfilePid = n
	}
	procs, err := listProcs()
	if err != nil {
		warnx(o.name, "%v", err)
		return nil, 3
	}
	// Jails: -j any, none, a jid or a name.
	var inJail map[int]bool // pid → in one of the wanted jails
	var anyJail, noJail bool
	if len(o.jls) > 0 {
		inJail = map[int]bool{}
		js, err := allJails()
		if err != nil {
			warnx(o.name, "%v", err)
			return nil, 3
		}
		inAny := map[int]bool{}
		for _, j := range js {
			for _, p := range cgroupPids(j.Cgroup) {
				inAny[p] = true
			}
		}
		for _, key := range o.jls {
			switch key {
			case "any":
				anyJail = true
				continue
			case "none":
				noJail = true
				continue
			}
			var found *jailRec
			for _, j := range js {
				if n, err := strconv.Atoi(key); err == nil && n == j.JID || j.Name == key {
					found = j
					break
				}
			}
			if found == nil {
				warnx(o.name, "Invalid jail ID `%s'", key)
				return nil, 2
			}
			for _, p := range cgroupPids(found.Cgroup) {
				inJail[p] = true
			}
		}
		for p := range inAny {
			if anyJail {
				inJail[p] = true
			}
		}
		if noJail {
			for _, p := range procs {
				if !inAny[p.pid] {
					inJail[p.pid] = true
				}
			}
		}
	}
	// This process and its ancestors never match (unless -a).
	excluded := map[int]bool{os.Getpid(): true}
	if !o.ancestors {
		byPid := map[int]procInfo{}
		for _, p := range procs {
			byPid[p.pid] = p
		}
		for p := os.Getppid(); p > 1 && !excluded[p]; {
			excluded[p] = true
			q, ok := byPid[p]
			if !ok {
				break
			}
			p = q.ppid
		}
	}
	in := func(list []string, v int) bool {
		for _, s := range list {
			if s == strconv.Itoa(v) {
				return true
			}
		}
		return false
	}
	var out []procInfo
	for _, p := range procs {
		if excluded[p.pid] || (p.kernel && !o.system) {
			continue
		}
		ok := true
		if len(res) > 0 {
			subject := p.comm
			if o.full && len(p.args) > 0 {
				subject = strings.Join(p.args, " ")
			}
			m := false
			for _, re := range res {
				if loc := re.FindStringIndex(subject); loc != nil {
					m = true
					break
				}
			}
			ok = m
		}
		if ok && len(o.ppids) > 0 && !in(o.ppids, p.ppid) {
			ok = false
		}
		if ok && len(o.euids) > 0 && !inUserList(o.euids, p.euid) {
			ok = false
		}
		if ok && len(o.ruids) > 0 && !inUserList(o.ruids, p.ruid) {
			ok = false
		}
		if ok && len(o.pgrps) > 0 && !in(o.pgrps, p.pgrp) {
			ok = false
		}
		if ok && len(o.sids) > 0 && !in(o.sids, p.sid) {
			ok = false
		}
		if ok && inJail != nil && !inJail[p.pid] {
			ok = false
		}
		if ok && pidfilePid != 0 && p.pid != pidfilePid {
			ok = false
		}
		if o.invert {
			ok = !ok
		}
		if ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].pid < out[b].pid })
	if (o.newest || o.oldest) && len(out) > 0 {
		best := out[0]
		for _, p := range out[1:] {
			if (o.newest && p.start >= best.start) || (o.oldest && p.start < best.start) {
				best = p
			}
		}
		out = []procInfo{best}
	}
	return out, 0
}

// inUserList matches a uid against uids or user names.
func inUserList(list []string, uid int) bool {
	for _, s := range list {
		if s == strconv.Itoa(uid) {
			return true
		}
		if pw, err := lookupPasswd("/etc/passwd", s); err == nil && pw.name == s && pw.uid == uid {
			return true
		}
	}
	return false
}

// ---- killall(1) ----

func cmdKillall(args []string) int {
	sig := 15
	var quiet, show, regex, verbose bool
	var jls []string
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		switch a {
		case "-l":
			printSignals()
			return 0
		case "-q":
			quiet = true
		case "-s":
			show = true
		case "-m":
			regex = true
		case "-v":
			verbose = true
		case "-j":
			if i+1 >= len(args) {
				return killallUsage()
			}
			i++
			jls = append(jls, args[i])
		case "-SIG", "-sig":
			if i+1 >= len(args) {
				return killallUsage()
			}
			i++
			n, ok := parseBSDSignal(args[i])
			if !ok {
				warnx("killall", "unknown signal %s; valid signals:", args[i])
				printSignals()
				return 1
			}
			sig = n
		default:
			n, ok := parseBSDSignal(a[1:])
			if !ok {
				warnx("killall", "unknown signal %s; valid signals:", a[1:])
				printSignals()
				return 1
			}
			sig = n
		}
	}
	names := args[i:]
	if len(names) == 0 && len(jls) == 0 {
		return killallUsage()
	}
	procs, err := listProcs()
	if err != nil {
		warnx("killall", "%v", err)
		return 1
	}
	var inJail map[int]bool
	if len(jls) > 0 {
		inJail = map[int]bool{}
		for _, key := range jls {
			j, err := lookupJail(key)
			if err != nil || j == nil {
				warnx("killall", "jail %s not found", key)
				return 1
			}
			for _, p := range cgroupPids(j.Cgroup) {
				inJail[p] = true
			}
		}
	}
	lsig, ok := toLinuxSignal(sig)
	if !ok {
		warnx("killall", "signal %d has no Linux equivalent", sig)
		return 1
	}
	killed := 0
	for _, p := range procs {
		if p.pid == os.Getpid() || p.kernel {
			continue
		}
		if inJail != nil && !inJail[p.pid] {
			continue
		}
		if len(names) > 0 {
			m := false
			for _, n := range names {
				if regex {
					if re, err := regexp.Compile(n); err == nil && re.MatchString(p.comm) {
						m = true
					}
				} else if p.comm == n || (len(n) > 15 && strings.HasPrefix(n, p.comm)) {
					m = true
				}
			}
			if !m {
				continue
			}
		}
		if show || verbose {
			fmt.Printf("kill -%s %d\n", bsdSignals[sig%len(bsdSignals)], p.pid)
		}
		if show {
			killed++
			continue
		}
		if err := syscall.Kill(p.pid, lsig); err == nil {
			killed++
		}
	}
	if killed == 0 {
		if !quiet {
			fmt.Fprintln(os.Stderr, "No matching processes were found")
		}
		return 1
	}
	return 0
}

func killallUsage() int {
	fmt.Fprintln(os.Stderr, "usage: killall [-delmsqvz] [-help] [-I] [-j jail]\n               [-u user] [-t tty] [-c cmd] [-SIGNAL] [cmd]...\nAt least one option or argument to specify processes must be given.")
	return 1
}

// printSignals is killall -l: FreeBSD's signal names, lines wrapped as
// killall's printsig does.
func printSignals() {
	var b strings.Builder
	offset := 0
	for n := 1; n < len(bsdSignals); n++ {
		s := bsdSignals[n] + " "
		b.WriteString(s)
		offset += len(s)
		if offset >= 75 && n < len(bsdSignals)-1 {
			offset = 0
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
	os.Stdout.WriteString(b.String())
}
