package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// --- set-env

const setEnvHelp = `pot set-env [-hv] -p pot -E env
  -h print this help
  -v verbose
  -p pot : the working pot
  -E var=value : the variable and the value to be added
     this option can be repeated more than once
`

// cmdSetEnv is set-env.sh: every -E becomes a line pot.env="VAR=VALUE"
// (with `"` escaped as `\"`), replacing all the pot.env lines there were.
// A newline in VALUE splits it, as `sed 's/.*/pot.env=&/'` does, into
// several pot.env= lines.
func cmdSetEnv(args []string) int {
	pname := ""
	var lines []string
	opts, _ := getopts(args, "hvp:E:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(setEnvHelp)
			return 0
		case 'v':
			verbosity++
		case 'E':
			if !strings.Contains(o.arg, "=") {
				errorf("%s not in a valid form", o.arg)
				errorf("VARIABLE=value is accetped")
				printHelp(setEnvHelp)
				return 1
			}
			escaped := echoSed(o.arg, func(l string) string { return strings.ReplaceAll(l, `"`, `\"`) })
			lines = append(lines, shLines(`"`+escaped+`"`)...)
		case 'p':
			pname = o.arg
		default:
			printHelp(setEnvHelp)
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(setEnvHelp)
		return 1
	}
	if len(lines) == 0 {
		errorf("A command is mandatory")
		printHelp(setEnvHelp)
		return 1
	}
	if !isPot(pname, false) {
		errorf("pot %s is not valid", pname)
		printHelp(setEnvHelp)
		return 1
	}
	if err := confDeleteLines(pname, "^pot.env=.*"); err != nil {
		errorf("%v", err)
		return 1
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("pot.env=" + l + "\n")
	}
	if err := appendFile(confFile(pname), b.String()); err != nil {
		errorf("%v", err)
		return 1
	}
	return 0
}

// echoSed is "$( echo "$V" | sed EXPR )": sed applied to each line of V,
// trailing newlines dropped. FreeBSD's echo takes a lone "-n" or "-e" as
// an option and prints nothing.
func echoSed(v string, fn func(string) string) string {
	if v == "-n" || v == "-e" {
		return ""
	}
	ls := shLines(v)
	for i := range ls {
		ls[i] = fn(ls[i])
	}
	return cmdSubst(ls)
}

// --- set-hosts

const setHostsHelp = `pot set-hosts [-hv] -p pot -H hostname:IP
  -h print this help
  -v verbose
  -p pot : the working pot
  -H hostname:IP : hostname-to-IP resolution to be added
                   to /etc/hosts, can be used multiple times
`

// cmdSetHosts is set-hosts.sh: pot.hosts=IP HOSTNAME lines, replacing the
// previous ones; start writes them into the jail's /etc/hosts.
func cmdSetHosts(args []string) int {
	pname := ""
	var entries []string
	// pot's set-hosts.sh makes its temp file with mktemp and a suffix
	// variable that is never set (POT_MKTMP_SUFFIX): a fixed name, so two
	// set-hosts at once collide and the second exits 1.
	tmp := filepath.Join(tmpDir(), "pot-set-hosts")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mktemp: mkstemp failed on %s: File exists\n", tmp)
		return 1
	}
	f.Close()
	defer os.Remove(tmp)
	opts, _ := getopts(args, "hvp:H:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(setHostsHelp)
			return 0
		case 'v':
			verbosity++
		case 'H':
			if !strings.Contains(o.arg, ":") {
				errorf("%s not in a valid form", o.arg)
				errorf("hostname:IP is accepted")
				printHelp(setHostsHelp)
				return 1
			}
			ip := o.arg[strings.IndexByte(o.arg, ':')+1:]
			hostname := o.arg[:strings.IndexByte(o.arg, ':')]
			if ip == "" || hostname == "" {
				errorf("Submitted ip or hostname are empty")
				printHelp(setHostsHelp)
				return 1
			}
			if net.ParseIP(ip) == nil {
				errorf("Submitted ip %s is not a valid one", ip)
				printHelp(setHostsHelp)
				return 1
			}
			entries = append(entries, ip+" "+hostname)
		case 'p':
			pname = o.arg
		default:
			printHelp(setHostsHelp)
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(setHostsHelp)
		return 1
	}
	if !isPot(pname, false) {
		errorf("pot %s is not valid", pname)
		printHelp(setHostsHelp)
		return 1
	}
	if err := confDeleteLines(pname, "^pot.hosts=.*"); err != nil {
		errorf("%v", err)
		return 1
	}
	var b strings.Builder
	for _, e := range entries {
		for _, l := range shLines(e) {
			b.WriteString("pot.hosts=" + l + "\n")
		}
	}
	if err := appendFile(confFile(pname), b.String()); err != nil {
		errorf("%v", err)
		return 1
	}
	return 0
}

// --- set-cmd

const setCmdHelp = `pot set-cmd [-hv] -p pot -c cmd
  -h print this help
  -v verbose
  -p pot : the working pot
  -c cmd : the command line to start the container
`

func cmdSetCmd(args []string) int {
	var pname, cmd string
	opts, _ := getopts(args, "hvp:c:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(setCmdHelp)
			return 0
		case 'v':
			verbosity++
		case 'c':
			cmd = o.arg
		case 'p':
			pname = o.arg
		default:
			printHelp(setCmdHelp)
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(setCmdHelp)
		return 1
	}
	if cmd == "" {
		errorf("A command is mandatory")
		printHelp(setCmdHelp)
		return 1
	}
	if !isPot(pname, false) {
		errorf("pot %s is not valid", pname)
		printHelp(setCmdHelp)
		return 1
	}
	if err := setCommand(pname, cmd); err != nil {
		errorf("%v", err)
		return 1
	}
	return 0
}

var (
	leadingQuote  = regexp.MustCompile(`^"`)
	trailingQuote = regexp.MustCompile(`"$`)
)

// setCommand is common.sh's _set_command: the command is stored as
// pot.cmd=CMD; a command that starts with `"` loses that quote and a
// closing one.
func setCommand(pname, cmd string) error {
	if err := confDeleteLines(pname, "^pot.cmd=.*"); err != nil {
		return err
	}
	cmd1 := echoSed(cmd, func(l string) string { return leadingQuote.ReplaceAllString(l, "") })
	if cmd == cmd1 {
		return confAppend(pname, "pot.cmd="+cmd)
	}
	cmd2 := echoSed(cmd1, func(l string) string { return trailingQuote.ReplaceAllString(l, "") })
	return confAppend(pname, "pot.cmd="+cmd2)
}

// --- set-attribute

func setAttributeHelp() string {
	return "pot set-attribute [-hv] -p pot -A attr -V value\n  -h print this help\n  -v verbose\n  -p pot : the working pot\n  -A attribute : one of\n" +
		attributeList(potRWAttributes, potJailRWAttributes) +
		"  -V value : the new value for \"attribute\"\n"
}

func cmdSetAttribute(args []string) int {
	var pname, attr, value string
	opts, _ := getopts(args, "hvp:A:V:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(setAttributeHelp())
			return 0
		case 'v':
			verbosity++
		case 'p':
			pname = o.arg
		case 'V':
			value = o.arg
		case 'A':
			attr = o.arg
		default:
			printHelp(setAttributeHelp())
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(setAttributeHelp())
		return 1
	}
	if attr == "" {
		errorf("Option -A is mandatory")
		printHelp(setAttributeHelp())
		return 1
	}
	if value == "" {
		errorf("Option -V is mandatory")
		printHelp(setAttributeHelp())
		return 1
	}
	if !isPot(pname, false) {
		errorf("%s is not a valid pot", pname)
		printHelp(setAttributeHelp())
		return 1
	}
	if !inList(attr, potRWAttributes) && !inList(attr, potJailRWAttributes) {
		errorf("%s is not a valid attribute", attr)
		printHelp(setAttributeHelp())
		return 1
	}
	typ := ""
	switch attr {
	case "start-at-boot", "early-start-at-boot", "persistent", "no-rc-script", "no-etc-hosts", "prunable", "localhost-tunnel":
		typ = "bool"
	case "no-tmpfs":
		if getConfVar(pname, "pot.type") != "single" {
			errorf("Attribute no-tmpfs is only usable with single type pot")
			return 1
		}
		if isRunning(pname) {
			// pot reports it, then runs an empty command name: sh looks
			// for a command named after the pot and fails.
			errorf("pot %s is still running", pname)
			stderrf("%s: not found\n", pname)
			return 1
		}
		typ = "bool"
	default:
		typ = jailAttrs[attr].typ
	}
	switch typ {
	case "bool":
		v, ok := normalizeTrueFalse(value)
		if !ok {
			errorf("value  is not a valid boolean value")
			printHelp(setAttributeHelp())
			return 1
		}
		value = v
	case "uint":
		if strings.IndexFunc(value, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			errorf("value %s is not a valid uint value", value)
			printHelp(setAttributeHelp())
			return 1
		}
	case "sysvopt":
		if value != "new" && value != "inherit" && value != "disable" {
			errorf("value must be one of 'new', 'inherit', 'disable'")
			printHelp(setAttributeHelp())
			return 1
		}
	case "string":
	default:
		infof("The attribute %s is not implemented and it will be ignored", attr)
		return 0
	}
	if err := setConfKey(pname, "pot.attr."+attr, value); err != nil {
		errorf("%v", err)
		return 1
	}
	return 0
}

// --- set-rss

const setRssHelp = `pot set-rss [-hv] -p pot [-C cpus] [-M memory]
  -h print this help
  -v verbose
  -p pot : the working pot
  -C cpus : the max amount of CPUs
  -M memory : max memory usable (integer values)
`

var memoryRe = regexp.MustCompile(`^[0-9]+[bBkKmMgG]?$`)

// cmdSetRss is set-rss.sh. The limits are stored (pot.rss.cpus,
// pot.rss.memory) but potsim does not enforce them.
func cmdSetRss(args []string) int {
	var pname, cpus, memory string
	opts, _ := getopts(args, "hvp:C:M:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(setRssHelp)
			return 0
		case 'v':
			verbosity++
		case 'p':
			pname = o.arg
		case 'C':
			cpus = o.arg
		case 'M':
			if !memoryValid(o.arg) {
				printHelp(setRssHelp)
				return 1
			}
			memory = o.arg
		default:
			printHelp(setRssHelp)
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(setRssHelp)
		return 1
	}
	if !isPot(pname, false) {
		errorf("%s is not a valid pot name", pname)
		printHelp(setRssHelp)
		return 1
	}
	if cpus+memory == "" {
		errorf("One resource has to be specified (-C or -M)")
		printHelp(setRssHelp)
		return 1
	}
	if cpus != "" {
		if !isNaturalNumber(cpus) || strings.TrimLeft(cpus, "0") == "" {
			errorf("%s is a not valid amount of CPUs!", cpus)
			return 1
		}
		if err := setConfKey(pname, "pot.rss.cpus", cpus); err != nil {
			errorf("%v", err)
			return 1
		}
	}
	if memory != "" {
		if err := setConfKey(pname, "pot.rss.memory", memory); err != nil {
			errorf("%v", err)
			return 1
		}
	}
	return 0
}

// memoryValid is set-rss.sh's _memory_validation.
func memoryValid(v string) bool {
	if strings.Contains(v, "\n") || !memoryRe.MatchString(v) {
		errorf("%s is not a valid memory constraint", v)
		return false
	}
	number := v
	if strings.ContainsAny(v[len(v)-1:], "bBkKmMgG") {
		number = v[:len(v)-1]
	}
	if strings.Trim(number, "0") == "" {
		errorf("Memory constraint has to be greater than zero")
		return false
	}
	return true
}

func isNaturalNumber(s string) bool {
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

// --- export-ports

const exportPortsHelp = `pot export-ports configure exported ports - public-bridge only
pot export-ports [-hv] -p pot [-S] -e [proto:]port[:pot_port] ...
  -h print this help
  -v verbose
  -p pot : the working pot
  -e [proto:]port[:pot_port] : port(s) to export
         proto can be tcp (default) or udp
         port is the port to export
         pot_port : a static port to NAT to inside the pot
                    dynamically allocated by default
         This option can be repeated to export multiple ports.

     Examples:
       -e 80            export proto tcp port 80 to a dynamic port
       -e 80:30000      export proto tcp port 80 to pot_port 30000
       -e tcp:80:30000  export proto tcp port 80 to pot_port 30000
       -e udp:53:30053  export proto udp port 53 to pot_port 30053
`

// cmdExportPorts is export-ports.sh: pot.export.ports=P1 P2 ... For a pot
// that is not on a bridge pot accepts and stores the ports, says they will
// be ignored, and succeeds.
func cmdExportPorts(args []string) int {
	pname := ""
	var ports []string
	opts, _ := getopts(args, "hvp:e:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(exportPortsHelp)
			return 0
		case 'v':
			verbosity++
		case 'p':
			pname = o.arg
		case 'e':
			if !isExportPortValid(o.arg) {
				errorf("%s is not a valid port number", o.arg)
				printHelp(exportPortsHelp)
				return 1
			}
			ports = append(ports, o.arg)
		default:
			printHelp(exportPortsHelp)
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(exportPortsHelp)
		return 1
	}
	if !isPot(pname, false) {
		errorf("%s is not a valid pot name", pname)
		printHelp(exportPortsHelp)
		return 1
	}
	if len(ports) == 0 {
		errorf("One port has to be specified")
		printHelp(exportPortsHelp)
		return 1
	}
	nt := networkType(pname)
	if nt != "public-bridge" && nt != "private-bridge" {
		infof("Only public-bridge and private-bridge network type can export ports - this setting will be ignored during start")
	}
	if potNetworkStack(pname) == "ipv6" {
		infof("Only ipv4 can export ports, on ipv6 the pot has already a unique address - this setting will be ignored during start")
	}
	debugf("Exporting the following ports: %s", strings.Join(ports, " "))
	if err := confDeleteLines(pname, "pot.export.ports=.*"); err != nil {
		errorf("%v", err)
		return 1
	}
	if err := confAppend(pname, "pot.export.ports="+strings.Join(ports, " ")); err != nil {
		errorf("%v", err)
		return 1
	}
	return 0
}
