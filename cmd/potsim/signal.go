package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

const signalHelp = `pot signal [-hvflC] [-s signal] [-P pid] [-m pattern] -p pot
  -h print this help
  -v verbose
  -C : check/dry-run: show processes that would match
  -f : force - always returns success, even if signalling failed
  -l : list supported signals
  -s signal : the symbolic name of the signal to send to the process,
              defaults to SIGINFO
  -P pid : the pid inside the pot to send the signal to
  -m pattern : A pattern to match
  -p pot : the pot image

  Parameters -P and -m are mutually exclusive. If neither of them is
  is specified and the pot is non-persistent, the signal is delivered
  to the main process of the pot.

  For persistent pots, specifying one of -P and -m is mandatory.
`

// freebsdSignals is what `killall -l` prints on FreeBSD, with the Linux
// number of each signal (0: Linux has no such signal).
var freebsdSignals = []struct {
	name string
	sig  syscall.Signal
}{
	{"HUP", syscall.SIGHUP}, {"INT", syscall.SIGINT}, {"QUIT", syscall.SIGQUIT},
	{"ILL", syscall.SIGILL}, {"TRAP", syscall.SIGTRAP}, {"ABRT", syscall.SIGABRT},
	{"EMT", 0}, {"FPE", syscall.SIGFPE}, {"KILL", syscall.SIGKILL},
	{"BUS", syscall.SIGBUS}, {"SEGV", syscall.SIGSEGV}, {"SYS", syscall.SIGSYS},
	{"PIPE", syscall.SIGPIPE}, {"ALRM", syscall.SIGALRM}, {"TERM", syscall.SIGTERM},
	{"URG", syscall.SIGURG}, {"STOP", syscall.SIGSTOP}, {"TSTP", syscall.SIGTSTP},
	{"CONT", syscall.SIGCONT}, {"CHLD", syscall.SIGCHLD}, {"TTIN", syscall.SIGTTIN},
	{"TTOU", syscall.SIGTTOU}, {"IO", syscall.SIGIO}, {"XCPU", syscall.SIGXCPU},
	{"XFSZ", syscall.SIGXFSZ}, {"VTALRM", syscall.SIGVTALRM}, {"PROF", syscall.SIGPROF},
	{"WINCH", syscall.SIGWINCH}, {"INFO", 0}, {"USR1", syscall.SIGUSR1},
	{"USR2", syscall.SIGUSR2},
}

func signalNames() string {
	var names []string
	for _, s := range freebsdSignals {
		names = append(names, s.name)
	}
	return strings.Join(names, " ")
}

// lookupSignal accepts NAME or SIGNAME (exact case), as pot's
// _validate_signal_name does.
func lookupSignal(name string) (syscall.Signal, bool) {
	n := name
	for _, s := range freebsdSignals {
		if n == s.name || n == "SIG"+s.name {
			return s.sig, true
		}
	}
	return 0, false
}

func cmdSignal(args []string) int {
	var pname, pid, match string
	sigName := "SIGINFO"
	force, dry := false, false
	opts, _ := getopts(args, "hvflCs:P:m:p:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(signalHelp)
			exit(0)
		case 'l':
			fmt.Println(signalNames())
			exit(0)
		case 'v':
			verbosity++
		case 'f':
			force = true
		case 'C':
			dry = true
		case 's':
			sigName = o.arg
		case 'P':
			pid = o.arg
		case 'm':
			match = o.arg
		case 'p':
			pname = o.arg
		default:
			printHelp(signalHelp)
			exit(1)
		}
	}
	mandatory(pname, "A pot name is mandatory", signalHelp)
	sig, ok := lookupSignal(sigName)
	if !ok {
		errorf("Invalid signal, valid signals: %s", signalNames())
		exit(1)
	}
	if pid != "" && match != "" {
		errorf("Process ID and pattern match are mutually exclusive")
		exit(1)
	}
	if pid != "" && !isNaturalNumber(pid) {
		errorf("Invalid pid")
		exit(1)
	}
	if !isRunning(pname) {
		if force {
			infof("The pot is not running")
			return 0
		}
		errorf("The pot is not running")
		exit(1)
	}
	return sendSignal(pname, sigName, sig, pid, match, force, dry)
}

// sendSignal is signal.sh's _send_signal: pkill (pgrep for -C) restricted
// to the jail, of a pattern, a pid, or the main process (pid file).
func sendSignal(pname, sigName string, sig syscall.Signal, pid, match string, force, dry bool) int {
	st, err := loadJail(pname)
	if err != nil {
		st = &jailState{Name: pname}
	}
	members := jailMembers(st, listProcs())
	var targets []procInfo
	ret := 0
	switch {
	case match != "":
		infof("Sending %s by pattern to pot %s", sigName, pname)
		r, err := regexp.Compile(match)
		if err != nil {
			stderrf("pkill: Cannot compile regular expression `%s' (%v)\n", match, err)
			ret = 2
			break
		}
		for _, p := range members {
			if p.Pid != os.Getpid() && r.MatchString(p.Comm) {
				targets = append(targets, p)
			}
		}
	case pid != "":
		infof("Sending %s to pid %s in pot %s", sigName, pid, pname)
		targets = membersWithPid(members, pid)
	default:
		infof("Sending %s to main process of pot %s", sigName, pname)
		if getConfVar(pname, "pot.attr.persistent") != "NO" {
			if force {
				infof("Persistent pots have no main process")
				return 0
			}
			errorf("Persistent pots have no main process")
			return 1
		}
		data, err := os.ReadFile(mainPidFile(pname))
		if err != nil {
			// pkill -F of a missing pid file: err(3, ...). pot start
			// writes it only at the end of its starting window.
			stderrf("pkill: Cannot open pidfile `%s': No such file or directory\n", mainPidFile(pname))
			ret = 3
			break
		}
		targets = membersWithPid(members, strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]))
	}
	if ret == 0 {
		if len(targets) == 0 {
			ret = 1
		} else if dry {
			for _, p := range targets {
				fmt.Println(p.Pid)
			}
		} else if sig == 0 {
			stderrf("pkill: signal %s is not supported by potsim on Linux\n", sigName)
			ret = 2
		} else {
			sent := false
			for _, p := range targets {
				if kerr := syscall.Kill(p.Pid, sig); kerr == nil {
					sent = true
				} else {
					stderrf("pkill: signalling pid %d: %v\n", p.Pid, kerr)
				}
			}
			if !sent {
				ret = 2
			}
		}
	}
	if ret != 0 {
		if force {
			infof("Sending signal failed")
			return 0
		}
		errorf("Sending signal failed")
	}
	return ret
}

func membersWithPid(members []procInfo, pid string) []procInfo {
	n, err := strconv.Atoi(pid)
	if err != nil {
		return nil
	}
	for _, p := range members {
		if p.Pid == n {
			return []procInfo{p}
		}
	}
	return nil
}
