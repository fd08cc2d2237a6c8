package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"
)

const execHelp = `pot exec [-hvdt] [-e var=value] [-u username] [-U username]
         -p pot COMMAND
  -h print this help
  -v verbose
  -d detach, run in background
  -t allocate pty
  -e var=value : set environment variable, can be repeated
  -u username: The username from the host environment as whom the
               command should run
  -U username: The username from the pot environment as whom the
               command should run
  -p pot : the pot image

  COMMAND is the command to execute and will be executed in the
  username's $HOME
`

// jailUser is a passwd entry.
type jailUser struct {
	name, home, shell string
	uid, gid          int
}

// lookupPasswd finds a user in a passwd(5) file, by name, or by uid when
// name is empty.
func lookupPasswd(passwd, name string, uid int) (jailUser, bool) {
	f, err := os.Open(passwd)
	if err != nil {
		return jailUser{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Split(sc.Text(), ":")
		if len(fl) < 7 || strings.HasPrefix(fl[0], "#") {
			continue
		}
		id, err1 := strconv.Atoi(fl[2])
		gid, err2 := strconv.Atoi(fl[3])
		if err1 != nil || err2 != nil {
			continue
		}
		if (name != "" && fl[0] != name) || (name == "" && id != uid) {
			continue
		}
		return jailUser{name: fl[0], uid: id, gid: gid, home: fl[5], shell: fl[6]}, true
	}
	return jailUser{}, false
}

// loginEnv is the clean environment of `jexec -l`: TERM kept, HOME, SHELL
// and USER of the user, and what login.conf's default class sets. HOME is
// the host path of the user's home inside the pot.
func loginEnv(u jailUser, name string) []string {
	home := jailPath(name, u.home)
	var env []string
	if t, ok := os.LookupEnv("TERM"); ok {
		env = append(env, "TERM="+t)
	}
	shell := u.shell
	if shell == "" {
		shell = "/bin/sh"
	}
	return append(env,
		"BLOCKSIZE=K",
		"HOME="+home,
		"LANG=C.UTF-8",
		"MM_CHARSET=UTF-8",
		"PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin:"+home+"/bin",
		"SHELL="+shell,
		"USER="+u.name,
	)
}

// setEnv is env(1)'s VAR=VALUE: the last assignment of a name wins.
func setEnv(env []string, kv string) []string {
	name := kv[:strings.IndexByte(kv, '=')+1]
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, name) {
			out = append(out, e)
		}
	}
	return append(out, kv)
}

// cmdExec is exec.sh: `jexec -l [-u|-U USER] NAME env VAR=VAL... CMD ARGS`,
// through `script -q /dev/null` for -t, in the background for -d.
func cmdExec(args []string) int {
	var pname, userHost, userPot string
	detach, allocPty := false, false
	var envArgs []string
	opts, operands := getopts(args, "hvdtp:e:u:U:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(execHelp)
			exit(0)
		case 'v':
			verbosity++
		case 'd':
			detach = true
		case 't':
			allocPty = true
		case 'e':
			if !strings.Contains(o.arg, "=") {
				errorf("%s not in a valid form", o.arg)
				errorf("VARIABLE=value is accetped")
				printHelp(execHelp)
				exit(1)
			}
			envArgs = append(envArgs, o.arg)
		case 'u':
			userHost = o.arg
		case 'U':
			userPot = o.arg
		case 'p':
			pname = o.arg
		default:
			printHelp(execHelp)
			exit(1)
		}
	}
	if len(operands) == 0 {
		errorf("A command is mandatory")
		exit(1)
	}
	mandatory(pname, "A pot name is mandatory", execHelp)
	if userHost != "" && userPot != "" {
		errorf("Parameters -u and -U are mutually exclusive")
		exit(1)
	}
	if !isRunning(pname) {
		errorf("The pot is not running")
		exit(1)
	}
	debugf("Exec in %s, cmd: %s", pname, strings.Join(operands, " "))

	// jexec -l takes the user from the host (-u, or the caller without a
	// user) or from the jail (-U), changes to its home inside the jail and
	// keeps the caller's supplementary groups.
	m := mDir(pname)
	var u jailUser
	var ok bool
	switch {
	case userHost != "":
		u, ok = lookupPasswd("/etc/passwd", userHost, -1)
	case userPot != "":
		u, ok = lookupPasswd(filepath.Join(m, "etc", "passwd"), userPot, -1)
	default:
		u, ok = lookupPasswd("/etc/passwd", "", os.Getuid())
		if !ok {
			u, ok = jailUser{name: "root", home: "/root", shell: "/bin/sh"}, true
		}
	}
	if !ok {
		stderrf("jexec: %s: no such user\n", userHost+userPot)
		return 1
	}
	var cred *syscall.Credential
	if userHost != "" || userPot != "" {
		if os.Geteuid() != 0 && u.uid != os.Geteuid() {
			stderrf("jexec: setgid: Operation not permitted\n")
			return 1
		}
		if os.Geteuid() == 0 {
			cred = &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), NoSetGroups: true}
		}
	}
	home := jailPath(pname, u.home)
	if !isDir(home) {
		stderrf("jexec: chdir: %s: No such file or directory\n", u.home)
		return 1
	}
	env := loginEnv(u, pname)
	for _, kv := range envArgs {
		env = setEnv(env, kv)
	}
	// env(1) takes the leading VAR=VALUE words of the command too.
	cmdArgs := operands
	for len(cmdArgs) > 0 && strings.Contains(cmdArgs[0], "=") {
		env = setEnv(env, cmdArgs[0])
		cmdArgs = cmdArgs[1:]
	}
	if len(cmdArgs) == 0 {
		if detach {
			return 0
		}
		for _, kv := range env {
			fmt.Println(kv)
		}
		return 0
	}
	path, err := lookPath(cmdArgs[0], env)
	if err != nil {
		code := 127
		msgText := "No such file or directory"
		if err == syscall.EACCES {
			code, msgText = 126, "Permission denied"
		}
		if !detach {
			stderrf("env: %s: %s\n", cmdArgs[0], msgText)
			return code
		}
		return 0
	}
	attr := &syscall.SysProcAttr{Credential: cred}
	switch {
	case detach:
		return execDetached(pname, path, cmdArgs, env, home, attr)
	case allocPty:
		return execPty(pname, path, cmdArgs, env, home, attr)
	default:
		return execPlain(pname, path, cmdArgs, env, home, attr)
	}
}

// registerGroup adds the process group of an exec'd command to the jail.
func registerGroup(pname string, pgid int) {
	p, err := readProc(pgid)
	if err != nil {
		return
	}
	_ = updateJail(pname, func(st *jailState) {
		st.Groups = append(st.Groups, jailGroup{Pgid: pgid, LeaderStart: p.Start})
	})
}

func execPlain(pname, path string, argv, env []string, dir string, attr *syscall.SysProcAttr) int {
	attr.Setpgid = true
	// jexec runs the command in the caller's terminal session: when that
	// is a terminal, the jail's process group must be its foreground
	// group, or reading it would stop the command with SIGTTIN.
	if isTerminal(os.Stdin.Fd()) {
		attr.Foreground = true
		attr.Ctty = int(os.Stdin.Fd())
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	p, err := os.StartProcess(path, argv, &os.ProcAttr{
		Dir: dir, Env: env, Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}, Sys: attr,
	})
	if err != nil {
		stderrf("env: %s: %s\n", argv[0], strerror(err))
		return 126
	}
	registerGroup(pname, p.Pid)
	// The command is in a process group of its own (the jail's): pass it
	// the signals that would have reached it in pot's process group.
	go func() {
		for s := range sigs {
			if sig, ok := s.(syscall.Signal); ok {
				_ = syscall.Kill(-p.Pid, sig)
			}
		}
	}()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(p.Pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	return shellStatus(ws)
}

func execDetached(pname, path string, argv, env []string, dir string, attr *syscall.SysProcAttr) int {
	attr.Setpgid = true
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 1
	}
	defer devnull.Close()
	// nohup "$@" &: the command ignores SIGHUP, and SIGINT and SIGQUIT as
	// a background job of sh (an ignored signal stays ignored across exec).
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	p, err := os.StartProcess(path, argv, &os.ProcAttr{
		Dir: dir, Env: env, Files: []*os.File{devnull, devnull, devnull}, Sys: attr,
	})
	if err != nil {
		return 0
	}
	registerGroup(pname, p.Pid)
	_ = p.Release()
	return 0
}

// execPty is `script -q /dev/null jexec ...`: the command runs on a new
// pseudo terminal whose output is copied to stdout, stdin being copied to
// it (an end of file becomes the terminal's EOF character).
func execPty(pname, path string, argv, env []string, dir string, attr *syscall.SysProcAttr) int {
	ptmx, tty, err := pty.Open()
	if err != nil {
		stderrf("script: openpty: %v\n", err)
		return 1
	}
	defer ptmx.Close()
	stdinTTY := isTerminal(os.Stdin.Fd())
	if stdinTTY {
		_ = pty.InheritSize(os.Stdin, ptmx)
	}
	attr.Setsid = true
	attr.Setctty = true
	attr.Ctty = 0
	p, err := os.StartProcess(path, argv, &os.ProcAttr{
		Dir: dir, Env: env, Files: []*os.File{tty, tty, tty}, Sys: attr,
	})
	tty.Close()
	if err != nil {
		stderrf("env: %s: %s\n", argv[0], strerror(err))
		return 126
	}
	registerGroup(pname, p.Pid)
	if stdinTTY {
		if restore, err := makeRaw(os.Stdin.Fd()); err == nil {
			defer restore()
		}
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGWINCH, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			if s == syscall.SIGWINCH {
				if stdinTTY {
					_ = pty.InheritSize(os.Stdin, ptmx)
				}
				continue
			}
			if sig, ok := s.(syscall.Signal); ok {
				_ = syscall.Kill(-p.Pid, sig)
			}
		}
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := os.Stdin.Read(buf)
			if n > 0 {
				if _, werr := ptmx.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				if err == io.EOF && ptyCanonical(ptmx.Fd()) {
					_, _ = ptmx.Write([]byte{ptyEOFChar(ptmx.Fd())})
				}
				return
			}
		}
	}()
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		_, _ = io.Copy(os.Stdout, ptmx)
	}()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(p.Pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	// The output ends when every holder of the terminal has closed it;
	// do not wait long for processes the command left behind.
	select {
	case <-outDone:
	case <-time.After(500 * time.Millisecond):
	}
	return shellStatus(ws)
}

// strerror words an error as BSD's strerror does (capitalized).
func strerror(err error) string {
	s := unwrapErr(err).Error()
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

func unwrapErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	if se, ok := err.(*os.SyscallError); ok {
		return se.Err
	}
	return err
}
