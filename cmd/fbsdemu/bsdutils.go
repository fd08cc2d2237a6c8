package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// FreeBSD's forms of everyday tools where they differ from GNU's, and the
// small FreeBSD-only tools pot's scripts call.
func init() {
	register("sh", func(args []string) int { return execHost("bash", args) })
	register("sed", cmdSed)
	register("tail", cmdTail)
	register("stat", cmdStat)
	register("mktemp", cmdMktemp)
	register("lockf", cmdLockf)
	register("daemon", cmdDaemon)
	register("script", cmdScript)
	register("logger", cmdLogger)
	register("kldload", func([]string) int { return 0 })
	register("kldstat", func([]string) int { return 0 })
	register("service", func([]string) int { return 0 })
	register("ip6addrctl", cmdIP6addrctl)
	register("sysrc", cmdSysrc)
}

// execHost replaces this process with the real (GNU) tool.
func execHost(name string, args []string) int {
	p := hostPath(name)
	if p == "" {
		warnx(name, "not found on this machine")
		return 127
	}
	err := syscall.Exec(p, append([]string{name}, args...), os.Environ())
	warnx(name, "%v", err)
	return 126
}

// cmdSed is BSD sed: `-i EXT` takes its extension as the next argument
// (pot writes `sed -i ”`); GNU sed wants it attached.
func cmdSed(args []string) int {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if a == "-i" && i+1 < len(args) {
			out = append(out, "-i"+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return execHost("sed", out)
}

// cmdTail is BSD tail: -r prints the lines in reverse order.
func cmdTail(args []string) int {
	var rest []string
	reverse := false
	for _, a := range args {
		if a == "-r" {
			reverse = true
			continue
		}
		rest = append(rest, a)
	}
	if reverse {
		return execHost("tac", rest)
	}
	return execHost("tail", args)
}

// cmdStat is BSD stat for `-f FORMAT FILE...` (%m %a %c modification,
// access, change times; %z size; %N name; %p mode; %u %g ids; %l links);
// other forms go to GNU stat.
func cmdStat(args []string) int {
	if len(args) < 2 || args[0] != "-f" {
		return execHost("stat", args)
	}
	format := args[1]
	rc := 0
	for _, f := range args[2:] {
		var st unix.Stat_t
		if err := unix.Stat(f, &st); err != nil {
			warnx("stat", "%s: stat: %v", f, err)
			rc = 1
			continue
		}
		var b strings.Builder
		for i := 0; i < len(format); i++ {
			if format[i] != '%' || i+1 == len(format) {
				b.WriteByte(format[i])
				continue
			}
			i++
			switch format[i] {
			case 'm':
				b.WriteString(strconv.FormatInt(st.Mtim.Sec, 10))
			case 'a':
				b.WriteString(strconv.FormatInt(st.Atim.Sec, 10))
			case 'c':
				b.WriteString(strconv.FormatInt(st.Ctim.Sec, 10))
			case 'z':
				b.WriteString(strconv.FormatInt(st.Size, 10))
			case 'N':
				b.WriteString(f)
			case 'p':
				b.WriteString(strconv.FormatUint(uint64(st.Mode), 8))
			case 'u':
				b.WriteString(strconv.FormatUint(uint64(st.Uid), 10))
			case 'g':
				b.WriteString(strconv.FormatUint(uint64(st.Gid), 10))
			case 'l':
				b.WriteString(strconv.FormatUint(uint64(st.Nlink), 10))
			case '%':
				b.WriteByte('%')
			default:
				b.WriteByte('%')
				b.WriteByte(format[i])
			}
		}
		fmt.Println(b.String())
	}
	return rc
}

// cmdMktemp is BSD mktemp(1): trailing Xs of each template are replaced
// (a template without Xs is created as it is, failing if it exists); -t
// PREFIX adds $TMPDIR/PREFIX.XXXXXXXX, also when templates are given.
func cmdMktemp(args []string) int {
	var dir, quiet, unsafe bool
	prefix, havePrefix := "", false
	var templates []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			templates = append(templates, args[i:]...)
			break
		}
		if a == "--" {
			templates = append(templates, args[i+1:]...)
			break
		}
		for j := 1; j < len(a); j++ {
			switch a[j] {
			case 'd':
				dir = true
			case 'q':
				quiet = true
			case 'u':
				unsafe = true
			case 't':
				havePrefix = true
				if j+1 < len(a) {
					prefix = a[j+1:]
				} else if i+1 < len(args) {
					i++
					prefix = args[i]
				} else {
					fmt.Fprintln(os.Stderr, "usage: mktemp [-d] [-p tmpdir] [-q] [-t prefix] [-u] template ...")
					return 1
				}
				j = len(a)
			default:
				fmt.Fprintln(os.Stderr, "usage: mktemp [-d] [-p tmpdir] [-q] [-t prefix] [-u] template ...")
				return 1
			}
		}
	}
	if !havePrefix && len(templates) == 0 {
		havePrefix, prefix = true, "tmp"
	}
	if havePrefix {
		tmp := os.Getenv("TMPDIR")
		if tmp == "" {
			tmp = "/tmp"
		}
		slash := "/"
		if strings.HasSuffix(tmp, "/") {
			slash = ""
		}
		templates = append([]string{tmp + slash + prefix + ".XXXXXXXX"}, templates...)
	}
	rc := 0
	for _, t := range templates {
		name, err := makeTemp(t, dir, unsafe)
		if err != nil {
			if !quiet {
				kind := "mkstemp"
				if dir {
					kind = "mkdtemp"
				}
				warnx("mktemp", "%s failed on %s: %s", kind, t, strerror(errors.Unwrap(err)))
			}
			rc = 1
			continue
		}
		fmt.Println(name)
	}
	return rc
}

// strerror is an errno's message as FreeBSD's strerror(3) spells it.
func strerror(err error) string {
	s := fmt.Sprint(err)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

const tempChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func makeTemp(template string, dir, unsafe bool) (string, error) {
	n := len(template) - len(strings.TrimRight(template, "X"))
	base := template[:len(template)-n]
	for try := 0; try < 100; try++ {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		for i := range b {
			b[i] = tempChars[int(b[i])%len(tempChars)]
		}
		name := base + string(b)
		var err error
		switch {
		case unsafe:
			if _, e := os.Lstat(name); e == nil {
				err = os.ErrExist
			}
		case dir:
			err = os.Mkdir(name, 0o700)
		default:
			var f *os.File
			f, err = os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
			if f != nil {
				f.Close()
			}
		}
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, os.ErrExist) || n == 0 {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return "", fmt.Errorf("%s: %w", name, pe.Err)
			}
			return "", fmt.Errorf("%s: %w", name, err)
		}
	}
	return "", fmt.Errorf("%s: %w", template, os.ErrExist)
}

// cmdLockf is lockf(1): take an exclusive flock on FILE (created if
// missing), run the command, and remove FILE afterwards unless -k. -t
// SECONDS waits at most that long (exit 75, EX_TEMPFAIL); -s is silent; -n
// does not create FILE.
func cmdLockf(args []string) int {
	keep, silent, noCreate := false, false, false
	timeout := -1.0
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-"; i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		for j := 1; j < len(a); j++ {
			switch a[j] {
			case 'k':
				keep = true
			case 's':
				silent = true
			case 'n':
				noCreate = true
			case 'w':
			case 't':
				v := a[j+1:]
				if v == "" && i+1 < len(args) {
					i++
					v = args[i]
				}
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					fmt.Fprintln(os.Stderr, "usage: lockf [-knsw] [-t seconds] file command [arguments]")
					return 64
				}
				timeout = f
				j = len(a)
			default:
				fmt.Fprintln(os.Stderr, "usage: lockf [-knsw] [-t seconds] file command [arguments]")
				return 64
			}
		}
	}
	if len(args)-i < 2 {
		fmt.Fprintln(os.Stderr, "usage: lockf [-knsw] [-t seconds] file command [arguments]")
		return 64
	}
	file, cmd := args[i], args[i+1:]
	flags := unix.O_RDWR | unix.O_CLOEXEC
	if !noCreate {
		flags |= unix.O_CREAT
	}
	fd, err := unix.Open(file, flags, 0o666)
	if err != nil {
		if !silent {
			warnx("lockf", "cannot open %s: %v", file, err)
		}
		return 66
	}
	defer unix.Close(fd)
	if !lockWithin(fd, timeout) {
		if !silent {
			warnx("lockf", "%s: already locked", file)
		}
		return 75
	}
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	code := exitCode(c.Run())
	if !keep {
		_ = os.Remove(file)
	}
	return code
}

func lockWithin(fd int, timeout float64) bool {
	if timeout < 0 {
		return unix.Flock(fd, unix.LOCK_EX) == nil
	}
	deadline := time.Now().Add(time.Duration(timeout * float64(time.Second)))
	for {
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdDaemon is daemon(8): run the command detached (new session), stdio
// to /dev/null with -f, its pid written to -p FILE.
func cmdDaemon(args []string) int {
	pidFile := ""
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		switch a {
		case "-f", "-c", "-r", "-S":
		case "-p", "-P", "-o", "-t", "-u", "-l", "-s", "-T", "-m", "-R":
			if a == "-p" && i+1 < len(args) {
				pidFile = args[i+1]
			}
			i++
		default:
			fmt.Fprintln(os.Stderr, "usage: daemon [-cfHrS] [-p child_pidfile] [-P supervisor_pidfile] [-t title] [-u user] [-o output_file] command arguments ...")
			return 1
		}
	}
	if i >= len(args) {
		fmt.Fprintln(os.Stderr, "usage: daemon [-cfHrS] [-p child_pidfile] [-P supervisor_pidfile] [-t title] [-u user] [-o output_file] command arguments ...")
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		warnx("daemon", "%v", err)
		return 1
	}
	c := exec.Command(args[i], args[i+1:]...)
	c.Stdin, c.Stdout, c.Stderr = null, null, null
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		warnx("daemon", "%v", err)
		return 1
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(c.Process.Pid)+"\n"), 0o600); err != nil {
			warnx("daemon", "pidfile ``%s'': %v", pidFile, err)
		}
	}
	_ = c.Process.Release()
	return 0
}

// cmdScript is BSD script(1) as pot exec -t uses it: `script -q FILE
// COMMAND...` runs the command on a new terminal; util-linux's script
// takes the command as one -c string.
func cmdScript(args []string) int {
	var opts []string
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		switch args[i] {
		case "-q":
			opts = append(opts, "-q")
		case "-a":
			opts = append(opts, "-a")
		case "-k", "-d", "-e", "-f", "-F", "-r", "-w":
		case "-t", "-T":
			i++
		default:
			fmt.Fprintln(os.Stderr, "usage: script [-aeFfkqr] [-t time] [file [command ...]]")
			return 1
		}
	}
	file := "typescript"
	if i < len(args) {
		file = args[i]
		i++
	}
	opts = append(opts, "-e")
	if i < len(args) {
		words := make([]string, 0, len(args)-i)
		for _, a := range args[i:] {
			words = append(words, shQuote(a))
		}
		opts = append(opts, "-c", "exec "+strings.Join(words, " "))
	}
	os.Setenv("SHELL", "/bin/sh")
	return execHost("script", append(opts, file))
}

// shQuote single-quotes a word for sh.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cmdLogger appends the message to the machine's syslog file
// (state/messages): there is no syslogd here.
func cmdLogger(args []string) int {
	tag := "logger"
	var msg []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-t" && i+1 < len(args):
			tag = args[i+1]
			i++
		case (a == "-p" || a == "-f") && i+1 < len(args):
			i++
		case strings.HasPrefix(a, "-") && len(msg) == 0:
		default:
			msg = append(msg, a)
		}
	}
	p, err := statePath("messages")
	if err != nil {
		return 1
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 1
	}
	defer f.Close()
	line := strings.Join(msg, " ")
	if len(msg) == 0 {
		data, _ := io.ReadAll(os.Stdin)
		line = strings.TrimRight(string(data), "\n")
	}
	fmt.Fprintf(f, "%s %s: %s\n", time.Now().Format(time.Stamp), tag, line)
	return 0
}

// cmdIP6addrctl accepts pot's tinirc calls (flush, install FILE): the
// address selection policy does not matter here.
func cmdIP6addrctl(args []string) int {
	if len(args) > 0 && args[0] == "install" {
		_, _ = io.Copy(io.Discard, os.Stdin)
	}
	return 0
}

// cmdSysrc is sysrc(8) on rc.conf-style files: `-f FILE`, `-n` (value
// only), `-q`, `-x NAME` (remove), NAME or NAME=VALUE. The default file,
// /etc/rc.conf, is the machine's (state/rc.conf); unset names are read
// from FreeBSD's /etc/defaults/rc.conf for the few pot asks for.
func cmdSysrc(args []string) int {
	file := ""
	valueOnly, quiet, remove := false, false, false
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		switch args[i] {
		case "-f":
			if i+1 < len(args) {
				file = args[i+1]
				i++
			}
		case "-n":
			valueOnly = true
		case "-q":
			quiet = true
		case "-x":
			remove = true
		case "-i", "-e", "-v", "-N", "-a", "-A":
		default:
			fmt.Fprintln(os.Stderr, "Usage: sysrc [OPTIONS] {name[[+|-]=value] ...}")
			return 2
		}
	}
	if file == "" {
		p, err := statePath("rc.conf")
		if err != nil {
			warnx("sysrc", "%v", err)
			return 1
		}
		file = p
	}
	rc := 0
	for _, a := range args[i:] {
		name, value, set := strings.Cut(a, "=")
		vars := readRCConf(file)
		old, had := vars[name]
		if !had {
			old, had = rcDefaults[name]
		}
		switch {
		case remove:
			if err := writeRCVar(file, name, "", true); err != nil {
				warnx("sysrc", "%v", err)
				rc = 1
			}
		case set:
			if err := writeRCVar(file, name, value, false); err != nil {
				warnx("sysrc", "%v", err)
				rc = 1
				continue
			}
			if !quiet {
				fmt.Printf("%s: %s -> %s\n", name, old, value)
			}
		case !had:
			if !quiet {
				fmt.Fprintf(os.Stderr, "sysrc: unknown variable '%s'\n", name)
			}
			rc = 1
		case valueOnly:
			fmt.Println(old)
		default:
			fmt.Printf("%s: %s\n", name, old)
		}
	}
	return rc
}

var rcDefaults = map[string]string{
	"pf_rules":      "/etc/pf.conf",
	"pf_enable":     "NO",
	"syslogd_flags": "-s",
	"hostname":      "",
}

func readRCConf(file string) map[string]string {
	vars := map[string]string{}
	f, err := os.Open(file)
	if err != nil {
		return vars
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			vars[k] = strings.Trim(v, `"'`)
		}
	}
	return vars
}

func writeRCVar(file, name, value string, remove bool) error {
	data, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var out []string
	done := false
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if l == "" && len(out) == 0 {
			continue
		}
		if k, _, ok := strings.Cut(strings.TrimSpace(l), "="); ok && k == name {
			if !remove && !done {
				out = append(out, name+"=\""+value+"\"")
				done = true
			}
			continue
		}
		out = append(out, l)
	}
	if !remove && !done {
		out = append(out, name+"=\""+value+"\"")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644)
}
