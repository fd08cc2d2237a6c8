package main

// Jails (jail(8), jexec(8), jls(8)).
//
// A jail is a record in the state file jails/db.json (jid, name, path,
// parameters) plus, on Linux, a cgroup v2 folder: the processes "in the
// jail" are exactly that cgroup's. Entering a jail (exec.start, command,
// exec.stop, jexec) joins the cgroup, enters the jail's network namespace
// when it has vnet, chroots into its path and execs the command in the same
// process. A nopersist jail ceases to exist once it has no processes, as
// FreeBSD's kernel removes it: here lazily, whenever a tool looks the jails
// up (never while jail -c is still running exec.start).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func init() {
	register("jail", cmdJail)
	register("jexec", cmdJexec)
	register("jls", cmdJls)
}

// jailRec is one jail of the emulated kernel.
type jailRec struct {
	JID      int               `json:"jid"`
	Name     string            `json:"name"`
	Path     string            `json:"path"`
	Hostname string            `json:"hostname"`
	Params   map[string]string `json:"params"` // as given, booleans "true"/"false"
	Persist  bool              `json:"persist"`
	Vnet     bool              `json:"vnet"`
	IP4      []string          `json:"ip4,omitempty"` // ip4.addr entries as given ([iface|]addr[/mask])
	IP6      []string          `json:"ip6,omitempty"`
	Created  time.Time         `json:"created"`
	// Creating: jail -c (CreatorPid) is still running exec.start; the jail
	// is not removed for being empty meanwhile.
	Creating   bool     `json:"creating,omitempty"`
	CreatorPid int      `json:"creator_pid,omitempty"`
	Cgroup     string   `json:"cgroup"`
	Devfs      string   `json:"devfs,omitempty"`   // where /dev is bound (mount.devfs)
	Netns      string   `json:"netns,omitempty"`   // nsfs bind mount of the vnet's namespace
	Ifaces     []string `json:"ifaces,omitempty"`  // vnet.interface, moved in
	Aliases    []string `json:"aliases,omitempty"` // "iface addr/len" added for ip4.addr/ip6.addr
	CPUs       []int    `json:"cpus,omitempty"`    // cpuset -l, nil: all
}

type jailDB struct {
	LastJID int        `json:"lastjid"`
	Jails   []*jailRec `json:"jails"`
}

const jailDBName = "jails/db"

// withJails runs f on the jails under the lock, after removing the dead
// nopersist ones, and saves them afterwards.
func withJails(f func(db *jailDB) error) error {
	return withLock(jailDBName, func() error {
		var db jailDB
		if err := loadJSON(jailDBName+".json", &db); err != nil {
			return err
		}
		reapJails(&db)
		ferr := f(&db)
		if err := saveJSON(jailDBName+".json", &db); err != nil {
			return err
		}
		return ferr
	})
}

// readJails runs f on the living jails under a shared lock, changing
// nothing: jls, jexec, pgrep -j and the like, dozens at once when many pots
// start, do not queue behind each other (under one exclusive lock a jexec
// could take longer than the 0.5 s pot start gives it before it kills the
// jail's placeholder process, and find the jail gone). A writer reaps the
// dead ones.
//
// A dead jail it came across is reaped right after, under the exclusive
// lock, as FreeBSD removes a jail the moment its last process exits.
func readJails(f func(db *jailDB) error) error {
	dead := false
	err := withSharedLock(jailDBName, func() error {
		var db jailDB
		if err := loadJSON(jailDBName+".json", &db); err != nil {
			return err
		}
		kept := db.Jails[:0]
		for _, j := range db.Jails {
			if jailDead(j) {
				dead = true
				continue
			}
			kept = append(kept, j)
		}
		db.Jails = kept
		return f(&db)
	})
	if dead {
		_ = withJails(func(*jailDB) error { return nil })
	}
	return err
}

// jailDead: a nopersist jail, made, without a process.
func jailDead(j *jailRec) bool {
	creating := j.Creating && !(j.CreatorPid > 0 && syscall.Kill(j.CreatorPid, 0) != nil)
	return !j.Persist && !creating && len(cgroupPids(j.Cgroup)) == 0
}

// reapJails removes the nopersist jails without a process.
func reapJails(db *jailDB) {
	kept := db.Jails[:0]
	for _, j := range db.Jails {
		if j.Creating && j.CreatorPid > 0 && syscall.Kill(j.CreatorPid, 0) != nil {
			j.Creating = false
		}
		if jailDead(j) {
			teardownJail(j)
			continue
		}
		kept = append(kept, j)
	}
	db.Jails = kept
}

// find is a jail by jid or name, as jail_getid(3): a number is a jid.
func (db *jailDB) find(key string) *jailRec {
	if n, err := strconv.Atoi(key); err == nil && n > 0 {
		for _, j := range db.Jails {
			if j.JID == n {
				return j
			}
		}
		return nil
	}
	for _, j := range db.Jails {
		if j.Name == key {
			return j
		}
	}
	return nil
}

func (db *jailDB) remove(j *jailRec) {
	for i, x := range db.Jails {
		if x == j {
			db.Jails = append(db.Jails[:i], db.Jails[i+1:]...)
			return
		}
	}
}

// lookupJail returns a copy of the jail named or numbered key.
func lookupJail(key string) (*jailRec, error) {
	var out *jailRec
	err := readJails(func(db *jailDB) error {
		if j := db.find(key); j != nil {
			c := *j
			out = &c
		}
		return nil
	})
	return out, err
}

// allJails is a copy of the living jails, by jid.
func allJails() ([]*jailRec, error) {
	var out []*jailRec
	err := readJails(func(db *jailDB) error {
		for _, j := range db.Jails {
			c := *j
			out = append(out, &c)
		}
		return nil
	})
	sort.Slice(out, func(a, b int) bool { return out[a].JID < out[b].JID })
	return out, err
}

// notFoundMsg is libjail's message for a missing jail.
func notFoundMsg(key string) string {
	if n, err := strconv.Atoi(key); err == nil && n > 0 {
		return fmt.Sprintf("jail %d not found", n)
	}
	return fmt.Sprintf("jail %q not found", key)
}

// ---- jail(8) ----

// jailParam is one name[=value] of the command line or a config file.
type jailParam struct {
	name, value string
	hasValue    bool
}

// boolParam normalises a boolean parameter: "persist", "nopersist",
// "allow.noset_hostname", "x=false".
func boolParam(p jailParam) (name, value string) {
	if p.hasValue {
		return p.name, p.value
	}
	name = p.name
	base, prefix := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		prefix, base = name[:i+1], name[i+1:]
	}
	if strings.HasPrefix(base, "no") && len(base) > 2 {
		return prefix + base[2:], "false"
	}
	return name, "true"
}

func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "", "1", "true", "yes", "on", "new":
		return true
	}
	return false
}

type jailOpts struct {
	quiet, verbose, printJID bool
	jidFile                  string
	conf                     map[string][]jailParam // from -f, by jail name ("*" for the global ones)
}

func cmdJail(args []string) int {
	var o jailOpts
	var mode byte
	var confFile string
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
			switch c := a[k]; c {
			case 'c', 'r', 'R', 'm':
				if mode != 0 && !(mode == 'c' && c == 'm') && !(mode == 'm' && c == 'c') {
					return jailUsage()
				}
				if mode == 0 {
					mode = c
				}
			case 'q':
				o.quiet = true
			case 'v':
				o.verbose = true
			case 'i':
				o.printJID, o.quiet = true, true
			case 'd', 'h', 'l':
			case 'f', 'J', 'e', 'u', 'U':
				var v string
				if k+1 < len(a) {
					v = a[k+1:]
				} else if i+1 < len(args) {
					i++
					v = args[i]
				} else {
					return jailUsage()
				}
				switch c {
				case 'f':
					confFile = v
				case 'J':
					o.jidFile = v
				}
				k = len(a)
			default:
				warnx("jail", "illegal option -- %c", c)
				return jailUsage()
			}
		}
	}
	rest := args[i:]
	if confFile != "" {
		conf, err := readJailConf(confFile)
		if err != nil {
			warnx("jail", "%s", err)
			return 1
		}
		o.conf = conf
	}
	switch mode {
	case 'c':
		params, cmdArgs := splitJailParams(rest)
		return jailCreate(o, params, cmdArgs)
	case 'r', 'R':
		if len(rest) == 0 {
			return jailUsage()
		}
		status := 0
		for _, key := range rest {
			if key == "*" {
				js, err := allJails()
				if err != nil {
					warnx("jail", "%v", err)
					return 1
				}
				for _, j := range js {
					if st := jailRemove(o, strconv.Itoa(j.JID), mode == 'R'); st != 0 {
						status = st
					}
				}
				continue
			}
			if st := jailRemove(o, key, mode == 'R'); st != 0 {
				status = st
			}
		}
		return status
	case 'm':
		params, _ := splitJailParams(rest)
		return jailModify(params)
	}
	return jailUsage()
}

func jailUsage() int {
	fmt.Fprintln(os.Stderr, "usage: jail [-dhilqv] [-J jid_file] [-u username] [-U username]\n            -[cmr] param=value ... [command=command ...]\n       jail [-dqv] [-f file] -[cmr] [jail]\n       jail [-qv] [-f file] -[rR] ['*' | jail ...]")
	return 1
}

// splitJailParams splits name=value arguments from the arguments of
// command= (which takes the rest of the line).
func splitJailParams(args []string) ([]jailParam, []string) {
	var ps []jailParam
	for i, a := range args {
		name, value, ok := strings.Cut(a, "=")
		if name == "command" && ok {
			return ps, append([]string{value}, args[i+1:]...)
		}
		ps = append(ps, jailParam{name: name, value: value, hasValue: ok})
	}
	return ps, nil
}

// jailCreate is jail -c.
func jailCreate(o jailOpts, params []jailParam, command []string) int {
	j := &jailRec{Params: map[string]string{}, Created: time.Now(), CreatorPid: os.Getpid(), Creating: true}
	persistSet := false
	var vnetIfaces []string
	if o.conf != nil {
		// -c with a config file: the named jails' parameters (only the
		// command-line ones are supported well; the file's come first).
		for _, p := range o.conf["*"] {
			params = append([]jailParam{p}, params...)
		}
	}
	for _, p := range params {
		switch p.name {
		case "exec.start", "exec.stop", "exec.prestart", "exec.poststart", "exec.prestop", "exec.poststop",
			"host.hostname", "path", "name", "osrelease", "ip4.addr", "ip6.addr", "vnet.interface", "jid":
			j.Params[p.name] = p.value
		default:
			n, v := boolParam(p)
			j.Params[n] = v
			p.name = n
			p.value = v
		}
		switch p.name {
		case "name":
			j.Name = p.value
		case "path":
			j.Path = p.value
		case "host.hostname":
			j.Hostname = p.value
		case "persist":
			j.Persist, persistSet = truthy(p.value), true
		case "vnet":
			j.Vnet = p.value != "inherit" && p.value != "false" && p.value != "disable"
		case "vnet.interface":
			vnetIfaces = append(vnetIfaces, p.value)
		case "ip4.addr":
			j.IP4 = appendList(j.IP4, p.value)
		case "ip6.addr":
			j.IP6 = appendList(j.IP6, p.value)
		}
	}
	if len(vnetIfaces) > 0 && !j.Vnet {
		warnx("jail", "%s: vnet.interface requires vnet", nameOr(j))
		return 1
	}
	start := j.Params["exec.start"]
	if !persistSet {
		j.Persist = start == "" && command == nil
	}
	if j.Path == "" {
		j.Path = "/"
	}
	if j.Hostname == "" {
		j.Hostname, _ = os.Hostname()
	}
	explicitName := j.Name != ""
	err := withJails(func(db *jailDB) error {
		if j.Name != "" && db.find(j.Name) != nil {
			return fmt.Errorf("%s: jail %q already exists", j.Name, j.Name)
		}
		if v := j.Params["jid"]; v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return fmt.Errorf("%s: jid: invalid value %q", nameOr(j), v)
			}
			if db.find(v) != nil {
				return fmt.Errorf("%s: jail %d already exists", nameOr(j), n)
			}
			j.JID = n
		} else {
			j.JID = db.LastJID + 1
			for db.find(strconv.Itoa(j.JID)) != nil {
				j.JID++
			}
		}
		if j.JID > db.LastJID {
			db.LastJID = j.JID
		}
		if j.Name == "" {
			j.Name = strconv.Itoa(j.JID)
		}
		if err := setupJail(j, vnetIfaces); err != nil {
			teardownJail(j)
			return fmt.Errorf("%s: %v", j.Name, err)
		}
		db.Jails = append(db.Jails, j)
		return nil
	})
	if err != nil {
		warnx("jail", "%v", err)
		return 1
	}
	if explicitName && !o.quiet {
		fmt.Printf("%s: created\n", j.Name)
	}
	if o.printJID {
		fmt.Println(j.JID)
	}
	if o.jidFile != "" {
		_ = os.WriteFile(o.jidFile, []byte(fmt.Sprintf("jid=%d name=%s path=%s host.hostname=%s\n", j.JID, j.Name, j.Path, j.Hostname)), 0o644)
	}
	status := 0
	if c := j.Params["exec.prestart"]; c != "" {
		status = runHost(c)
	}
	if status == 0 && start != "" {
		status = runInJail(j, []string{"/bin/sh", "-c", start})
		if status != 0 {
			warnx("jail", "%s: exec.start failed", j.Name)
		}
	}
	if status == 0 && command != nil {
		status = runInJail(j, command)
	}
	if c := j.Params["exec.poststart"]; status == 0 && c != "" {
		status = runHost(c)
	}
	startFailed := status != 0 && command == nil
	_ = withJails(func(db *jailDB) error {
		r := db.find(strconv.Itoa(j.JID))
		if r == nil {
			return nil
		}
		r.Creating = false
		if startFailed || (!r.Persist && len(cgroupPids(r.Cgroup)) == 0) {
			killCgroup(r.Cgroup, 5*time.Second)
			teardownJail(r)
			db.remove(r)
		}
		return nil
	})
	if startFailed {
		return 1
	}
	return status
}

func nameOr(j *jailRec) string {
	if j.Name != "" {
		return j.Name
	}
	return "jail"
}

func appendList(l []string, v string) []string {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l = append(l, s)
		}
	}
	return l
}

// runInJail runs argv inside the jail (this program as jexec, which
// enters it) and returns its exit status.
func runInJail(j *jailRec, argv []string) int {
	jargs := []string{"jexec"}
	if truthy(j.Params["exec.clean"]) && j.Params["exec.clean"] != "" {
		jargs = append(jargs, "-l")
	}
	if u := j.Params["exec.jail_user"]; u != "" {
		jargs = append(jargs, "-U", u)
	}
	jargs = append(jargs, strconv.Itoa(j.JID))
	jargs = append(jargs, argv...)
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	c := exec.Command(self)
	c.Args = jargs
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	return exitStatus(c.Run())
}

// runHost runs a command line on the host (exec.prestart, exec.poststop).
func runHost(cmdline string) int {
	c := exec.Command("/bin/sh", "-c", cmdline)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	return exitStatus(c.Run())
}

func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 127
}

// jailModify is jail -m: change the parameters of a running jail.
func jailModify(params []jailParam) int {
	var key string
	for _, p := range params {
		if p.name == "name" || p.name == "jid" {
			key = p.value
		}
	}
	if key == "" {
		warnx("jail", "-m requires a jail name or jid")
		return 1
	}
	err := withJails(func(db *jailDB) error {
		j := db.find(key)
		if j == nil {
			return errors.New(notFoundMsg(key))
		}
		for _, p := range params {
			if p.name == "name" || p.name == "jid" {
				continue
			}
			n, v := p.name, p.value
			if !p.hasValue {
				n, v = boolParam(p)
			}
			j.Params[n] = v
			switch n {
			case "host.hostname":
				j.Hostname = v
			case "persist":
				j.Persist = truthy(v)
			}
		}
		return nil
	})
	if err != nil {
		warnx("jail", "%v", err)
		return 1
	}
	return 0
}

// jailRemove is jail -r (or -R: without running exec.stop).
func jailRemove(o jailOpts, key string, noCommands bool) int {
	j, err := lookupJail(key)
	if err != nil {
		warnx("jail", "%v", err)
		return 1
	}
	if j == nil {
		warnx("jail", "%s: not found", key)
		return 1
	}
	// The config file's parameters for this jail; those given at creation
	// otherwise (FreeBSD's kernel does not keep exec.*: the emulation does).
	conf := map[string]string{}
	for k, v := range j.Params {
		conf[k] = v
	}
	for _, sect := range []string{"*", j.Name, strconv.Itoa(j.JID)} {
		for _, p := range o.conf[sect] {
			conf[p.name] = p.value
		}
	}
	timeout := 10 * time.Second
	if v, ok := conf["stop.timeout"]; ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			warnx("jail", "%s: stop.timeout: invalid value %q", j.Name, v)
			return 1
		}
		timeout = time.Duration(n) * time.Second
	}
	status := 0
	if !noCommands {
		if c := conf["exec.prestop"]; c != "" {
			runHost(c)
		}
		if c := conf["exec.stop"]; c != "" {
			if st := runInJail(j, []string{"/bin/sh", "-c", c}); st != 0 {
				warnx("jail", "%s: exec.stop failed", j.Name)
			}
		}
	}
	if timeout > 0 && !noCommands {
		signalCgroup(j.Cgroup, syscall.SIGTERM)
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) && len(cgroupPids(j.Cgroup)) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	killCgroup(j.Cgroup, 10*time.Second)
	_ = withJails(func(db *jailDB) error {
		if r := db.find(strconv.Itoa(j.JID)); r != nil && r.Created.Equal(j.Created) {
			teardownJail(r)
			db.remove(r)
		}
		return nil
	})
	if !noCommands {
		if c := conf["exec.poststop"]; c != "" {
			runHost(c)
		}
	}
	if !o.quiet {
		fmt.Printf("%s: removed\n", j.Name)
	}
	return status
}

// ---- jail.conf ----

// readJailConf reads a jail.conf(5) file ("-" is stdin): NAME { p = v; }
// blocks and global p = v; lines. Returns the parameters by jail name,
// "*" for the global ones.
func readJailConf(file string) (map[string][]jailParam, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = readAllStdin()
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	return parseJailConf(string(data))
}

func readAllStdin() ([]byte, error) { return io.ReadAll(os.Stdin) }

// confToken: a word ('{', '}', ';', '=', "+=" are words of their own).
type confToken struct {
	s      string
	quoted bool
}

func lexJailConf(s string) ([]confToken, error) {
	var toks []confToken
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '/':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, errors.New("unterminated comment")
			}
			i += end + 4
		case c == '{' || c == '}' || c == ';' || c == '=':
			toks = append(toks, confToken{s: string(c)})
			i++
		case c == '+' && i+1 < len(s) && s[i+1] == '=':
			toks = append(toks, confToken{s: "+="})
			i += 2
		case c == '"' || c == '\'':
			q := c
			var b strings.Builder
			i++
			for i < len(s) && s[i] != q {
				if s[i] == '\\' && q == '"' && i+1 < len(s) {
					i++
					switch s[i] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case '\n':
					default:
						b.WriteByte(s[i])
					}
					i++
					continue
				}
				b.WriteByte(s[i])
				i++
			}
			if i >= len(s) {
				return nil, errors.New("unterminated quote")
			}
			i++
			toks = append(toks, confToken{s: b.String(), quoted: true})
		default:
			start := i
			for i < len(s) && !strings.ContainsRune(" \t\r\n{};=\"'#", rune(s[i])) && !(s[i] == '+' && i+1 < len(s) && s[i+1] == '=') {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				i++
			}
			toks = append(toks, confToken{s: s[start:i]})
		}
	}
	return toks, nil
}

func parseJailConf(s string) (map[string][]jailParam, error) {
	toks, err := lexJailConf(s)
	if err != nil {
		return nil, fmt.Errorf("syntax error: %v", err)
	}
	out := map[string][]jailParam{}
	section := "*"
	i := 0
	for i < len(toks) {
		t := toks[i]
		if !t.quoted && t.s == "}" {
			if section == "*" {
				return nil, errors.New("syntax error: unexpected }")
			}
			section = "*"
			i++
			continue
		}
		if !t.quoted && t.s == ";" {
			i++
			continue
		}
		if i+1 < len(toks) && !toks[i+1].quoted && toks[i+1].s == "{" {
			if section != "*" {
				return nil, errors.New("syntax error: nested jail")
			}
			section = t.s
			if _, ok := out[section]; !ok {
				out[section] = nil
			}
			i += 2
			continue
		}
		p := jailParam{name: t.s}
		i++
		if i < len(toks) && !toks[i].quoted && (toks[i].s == "=" || toks[i].s == "+=") {
			i++
			var vals []string
			for i < len(toks) && (toks[i].quoted || (toks[i].s != ";" && toks[i].s != "}")) {
				if !toks[i].quoted && toks[i].s == "," {
					i++
					continue
				}
				vals = append(vals, strings.TrimSuffix(toks[i].s, ","))
				i++
			}
			p.value, p.hasValue = strings.Join(vals, ","), true
		} else {
			p.name, p.value = boolParam(p)
			p.hasValue = true
		}
		out[section] = append(out[section], p)
	}
	if section != "*" {
		return nil, errors.New("syntax error: missing }")
	}
	return out, nil
}

// ---- jexec(8) ----

func cmdJexec(args []string) int {
	var clean bool
	var user string
	var userInJail bool
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
			switch c := a[k]; c {
			case 'l':
				clean = true
			case 'u', 'U':
				if k+1 < len(a) {
					user = a[k+1:]
				} else if i+1 < len(args) {
					i++
					user = args[i]
				} else {
					return jexecUsage()
				}
				userInJail = c == 'U'
				k = len(a)
			default:
				warnx("jexec", "illegal option -- %c", c)
				return jexecUsage()
			}
		}
	}
	rest := args[i:]
	if len(rest) < 1 {
		return jexecUsage()
	}
	return enterJail(rest[0], clean, user, userInJail, rest[1:])
}

func jexecUsage() int {
	fmt.Fprintln(os.Stderr, "usage: jexec [-l] [-u username | -U username] jail [command ...]")
	return 1
}

// passwdEntry is one line of a passwd file.
type passwdEntry struct {
	name       string
	uid, gid   int
	home, shel string
}

func lookupPasswd(file, user string) (*passwdEntry, error) {
	data, err := os.ReadFile(file)
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 7 || strings.HasPrefix(line, "#") {
				continue
			}
			if f[0] != user && f[2] != user {
				continue
			}
			uid, _ := strconv.Atoi(f[2])
			gid, _ := strconv.Atoi(f[3])
			return &passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5], shel: f[6]}, nil
		}
	}
	if user == "root" || user == "0" {
		return &passwdEntry{name: "root", home: "/root", shel: "/bin/sh"}, nil
	}
	return nil, fmt.Errorf("%s: no such user", user)
}

// loginEnv is the environment of jexec -l and exec.clean: HOME, SHELL,
// USER, TERM and the default login class's (login.conf) variables.
func loginEnv(pw *passwdEntry) []string {
	shell := pw.shel
	if shell == "" {
		shell = "/bin/sh"
	}
	env := []string{
		"PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin:" + strings.TrimSuffix(pw.home, "/") + "/bin",
		"BLOCKSIZE=K",
		"MM_CHARSET=UTF-8",
		"LANG=C.UTF-8",
		"HOME=" + pw.home,
		"SHELL=" + shell,
		"USER=" + pw.name,
	}
	if t, ok := os.LookupEnv("TERM"); ok {
		env = append(env, "TERM="+t)
	}
	return env
}

// ---- jls(8) ----

// jailParamValue is a parameter of a jail as jls prints it; ok false for
// an unknown parameter.
func jailParamValue(j *jailRec, name string) (string, bool, bool) {
	switch name {
	case "jid":
		return strconv.Itoa(j.JID), false, true
	case "name":
		return j.Name, false, true
	case "path":
		return j.Path, false, true
	case "host.hostname":
		return j.Hostname, false, true
	case "ip4.addr":
		return strings.Join(addrsOnly(j.IP4), ","), false, true
	case "ip6.addr":
		return strings.Join(addrsOnly(j.IP6), ","), false, true
	case "persist":
		return strconv.FormatBool(j.Persist), true, true
	case "dying":
		return "false", true, true
	case "parent":
		return "0", false, true
	case "cpuset.id":
		return strconv.Itoa(j.JID + 1), false, true
	case "vnet":
		if j.Vnet {
			return "new", false, true
		}
		return "inherit", false, true
	case "ip4", "ip6":
		if v, ok := j.Params[name]; ok {
			return v, false, true
		}
		addrs := j.IP4
		if name == "ip6" {
			addrs = j.IP6
		}
		if len(addrs) > 0 {
			return "new", false, true
		}
		return "disable", false, true
	case "osrelease":
		if v := j.Params[name]; v != "" {
			return v, false, true
		}
		v, _ := sysctlValue("kern.osrelease")
		return v, false, true
	}
	if v, ok := j.Params[name]; ok {
		return v, v == "true" || v == "false", true
	}
	if d, ok := jailParamDefaults[name]; ok {
		return d, d == "true" || d == "false", true
	}
	if strings.HasPrefix(name, "allow.") {
		return "false", true, true
	}
	return "", false, false
}

var jailParamDefaults = map[string]string{
	"enforce_statfs": "2", "children.max": "0", "children.cur": "0", "devfs_ruleset": "0",
	"securelevel": "-1", "host.domainname": "", "host.hostuuid": "00000000-0000-0000-0000-000000000000",
	"host.hostid": "0", "osreldate": "1403000", "sysvmsg": "disable", "sysvsem": "disable", "sysvshm": "disable",
	"host": "new", "linux": "new",
}

// allJailParamNames is "all" for jls -n: top-level parameters first.
func allJailParamNames(j *jailRec) []string {
	set := map[string]bool{}
	for _, n := range []string{"jid", "name", "path", "host.hostname", "ip4.addr", "ip6.addr", "persist", "dying", "parent", "cpuset.id", "vnet", "ip4", "ip6", "osrelease"} {
		set[n] = true
	}
	for n := range jailParamDefaults {
		set[n] = true
	}
	for n := range j.Params {
		if strings.HasPrefix(n, "exec.") || n == "command" || n == "stop.timeout" || strings.HasPrefix(n, "mount.") {
			continue // jail(8)'s pseudo-parameters, not the kernel's
		}
		set[n] = true
	}
	var out []string
	for n := range set {
		out = append(out, n)
	}
	sort.Slice(out, func(a, b int) bool {
		da, db := strings.Contains(out[a], "."), strings.Contains(out[b], ".")
		if da != db {
			return !da
		}
		return out[a] < out[b]
	})
	return out
}

// addrsOnly strips "iface|" and "/mask" from ip4.addr entries.
func addrsOnly(l []string) []string {
	var out []string
	for _, a := range l {
		if _, after, ok := strings.Cut(a, "|"); ok {
			a = after
		}
		a, _, _ = strings.Cut(a, "/")
		a, _, _ = strings.Cut(a, " ")
		out = append(out, a)
	}
	return out
}

func cmdJls(args []string) int {
	const (
		pDefault = 1 << iota
		pHeader
		pNameVal
		pQuoted
		pSkip
		pVerbose
		pJailName
	)
	pflags := 0
	var key string
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
			switch c := a[k]; c {
			case 'a', 'd':
			case 'j':
				if k+1 < len(a) {
					key = a[k+1:]
				} else if i+1 < len(args) {
					i++
					key = args[i]
				} else {
					return jlsUsage()
				}
				k = len(a)
			case 'h':
				pflags = pflags&^(pSkip|pVerbose) | pHeader
			case 'N':
				pflags |= pJailName
			case 'n':
				pflags = pflags&^pVerbose | pNameVal
			case 'q':
				pflags |= pQuoted
			case 's':
				pflags = pflags&^(pHeader|pVerbose) | pNameVal | pQuoted | pSkip
			case 'v':
				pflags = pflags&^(pHeader|pNameVal|pSkip) | pVerbose
			default:
				warnx("jls", "illegal option -- %c", c)
				return jlsUsage()
			}
		}
	}
	names := args[i:]
	all := false
	if len(names) == 0 {
		if pflags&(pHeader|pNameVal) != 0 {
			all = true
		} else if pflags&pVerbose == 0 {
			pflags |= pDefault
		}
	} else {
		pflags &^= pVerbose
	}
	var js []*jailRec
	if key != "" {
		j, err := lookupJail(key)
		if err != nil {
			warnx("jls", "%v", err)
			return 1
		}
		if j == nil {
			warnx("jls", "%s", notFoundMsg(key))
			return 1
		}
		js = []*jailRec{j}
	} else {
		var err error
		if js, err = allJails(); err != nil {
			warnx("jls", "%v", err)
			return 1
		}
	}
	// Unknown parameters fail before anything is printed.
	probe := &jailRec{Params: map[string]string{}}
	for _, n := range names {
		_, _, ok := jailParamValue(probe, n)
		for _, j := range js {
			if _, _, k := jailParamValue(j, n); k {
				ok = true
			}
		}
		if !ok {
			warnx("jls", "unknown parameter: %s", n)
			return 1
		}
	}
	var b strings.Builder
	switch {
	case pflags&pVerbose != 0:
		b.WriteString("   JID  Hostname                      Path\n")
		b.WriteString("        Name                          State\n")
		b.WriteString("        CPUSetID\n")
		b.WriteString("        IP Address(es)\n")
	case pflags&pDefault != 0:
		if pflags&pJailName != 0 {
			fmt.Fprintf(&b, " %-15s %-15s %-29s %s\n", "JID", "IP Address", "Hostname", "Path")
		} else {
			b.WriteString("   JID  IP Address      Hostname                      Path\n")
		}
	case pflags&pHeader != 0:
		hn := names
		if all {
			hn = allJailParamNames(probe)
		}
		b.WriteString(strings.Join(hn, " ") + "\n")
	}
	for _, j := range js {
		switch {
		case pflags&pVerbose != 0:
			fmt.Fprintf(&b, "%6d  %-29.29s %.74s\n", j.JID, j.Hostname, j.Path)
			fmt.Fprintf(&b, "        %-29.29s %.74s\n", j.Name, "ACTIVE")
			fmt.Fprintf(&b, "        %d\n", j.JID+1)
			for _, a := range addrsOnly(j.IP4) {
				fmt.Fprintf(&b, "        %s\n", a)
			}
			for _, a := range addrsOnly(j.IP6) {
				fmt.Fprintf(&b, "        %s\n", a)
			}
		case pflags&pDefault != 0:
			ip := ""
			if a := addrsOnly(j.IP4); len(a) > 0 {
				ip = a[0]
			}
			if pflags&pJailName != 0 {
				fmt.Fprintf(&b, " %-15s ", j.Name)
			} else {
				fmt.Fprintf(&b, "%6d  ", j.JID)
			}
			fmt.Fprintf(&b, "%-15.15s %-29.29s %.74s\n", ip, j.Hostname, j.Path)
		default:
			pn := names
			if all {
				pn = allJailParamNames(j)
			}
			var parts []string
			for _, n := range pn {
				v, isBool, _ := jailParamValue(j, n)
				if pflags&pSkip != 0 && (n == "jid" || n == "dying" || n == "parent" || n == "cpuset.id" || n == "children.cur" || n == "osreldate") {
					continue
				}
				if pflags&pNameVal != 0 && isBool {
					if v == "true" {
						parts = append(parts, n)
					} else {
						var p string
						if k := strings.LastIndexByte(n, '.'); k >= 0 {
							p = n[:k+1] + "no" + n[k+1:]
						} else {
							p = "no" + n
						}
						parts = append(parts, p)
					}
					continue
				}
				s := jlsQuote(pflags&pQuoted != 0, pflags&pNameVal != 0, v)
				if pflags&pNameVal != 0 {
					s = n + "=" + s
				}
				parts = append(parts, s)
			}
			b.WriteString(strings.Join(parts, " ") + "\n")
		}
	}
	os.Stdout.WriteString(b.String())
	return 0
}

// jlsQuote quotes a value as jls -q does.
func jlsQuote(quoted, nameval bool, v string) string {
	if v == "" {
		if quoted {
			return `""`
		}
		if !nameval {
			return "-"
		}
		return ""
	}
	if !quoted {
		return v
	}
	q := ""
	switch {
	case strings.Contains(v, "'"):
		q = `"`
	case strings.Contains(v, `"`):
		q = "'"
	case strings.ContainsAny(v, " \t"):
		q = `"`
	}
	return q + v + q
}

func jlsUsage() int {
	warnx("jls", "usage: jls [-dhNnqv] [-j jail] [param ...]")
	return 1
}

// errnoStr is an error's errno as FreeBSD's strerror(3) words it.
func errnoStr(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		s := en.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return err.Error()
}
