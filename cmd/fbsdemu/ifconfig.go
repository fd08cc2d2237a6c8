package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// ifconfig(8), route(8), pfctl(8) and sockstat(1) over the machine's own
// network namespace: FreeBSD's interfaces are Linux links (epairNa/epairNb
// a veth pair, bridgeN a Linux bridge), groups and descriptions are kept in
// the state folder, pf's anchors and rules are stored as pfctl loads them
// and their nat and rdr rules applied as nftables rules (pf_nft.go).
func init() {
	register("ifconfig", cmdIfconfig)
	register("route", cmdRoute)
	register("pfctl", cmdPfctl)
	register("sockstat", cmdSockstat)
}

// ipCmd runs iproute2's ip.
func ipCmd(args ...string) error {
	p := hostPath("ip")
	if p == "" {
		return fmt.Errorf("ip (iproute2) not found")
	}
	out, err := exec.Command(p, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s", strings.TrimSpace(string(out)))
	}
	return nil
}

// ifState is what ifconfig keeps beside Linux: groups and descriptions.
type ifState struct {
	Groups map[string][]string `json:"groups"`
	Descr  map[string]string   `json:"descr"`
	Next   map[string]int      `json:"next"` // next unit of epair, bridge
}

func loadIfState() ifState {
	var s ifState
	_ = loadJSON("ifconfig.json", &s)
	if s.Groups == nil {
		s.Groups = map[string][]string{}
	}
	if s.Descr == nil {
		s.Descr = map[string]string{}
	}
	if s.Next == nil {
		s.Next = map[string]int{}
	}
	return s
}

func cmdIfconfig(args []string) int {
	if len(args) == 0 || args[0] == "-a" {
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			printIf(i)
		}
		return 0
	}
	if args[0] == "-l" {
		ifs, _ := net.Interfaces()
		names := make([]string, 0, len(ifs))
		for _, i := range ifs {
			names = append(names, freebsdIfName(i.Name))
		}
		fmt.Println(strings.Join(names, " "))
		return 0
	}
	if args[0] == "-g" && len(args) == 2 {
		s := loadIfState()
		for _, n := range s.Groups[args[1]] {
			fmt.Println(n)
		}
		return 0
	}
	name, args := linuxIfName(args[0]), args[1:]
	if len(args) == 1 && (args[0] == "inet" || args[0] == "inet6") {
		i, err := net.InterfaceByName(name)
		if err != nil {
			warnx("ifconfig", "interface %s does not exist", name)
			return 1
		}
		printIfFamily(*i, args[0])
		return 0
	}
	var rc int
	if _, err := statePath("ifconfig.json"); err != nil {
		// Inside a jail (tinirc configures its epair): no state folder.
		rc, err = ifconfigChange(name, args)
		if err != nil {
			warnx("ifconfig", "%v", err)
			return 1
		}
		return rc
	}
	err := withLock("ifconfig", func() error {
		var err error
		rc, err = ifconfigChange(name, args)
		return err
	})
	if err != nil {
		warnx("ifconfig", "%v", err)
		return 1
	}
	return rc
}

func ifconfigChange(name string, args []string) (int, error) {
	s := loadIfState()
	defer func() { _ = saveJSON("ifconfig.json", s) }()
	if len(args) > 0 && args[0] == "create" {
		kind := strings.TrimRight(name, "0123456789")
		unit := s.Next[kind]
		if n := strings.TrimPrefix(name, kind); n != "" {
			unit, _ = strconv.Atoi(n)
		}
		switch kind {
		case "epair":
			a, b := fmt.Sprintf("epair%da", unit), fmt.Sprintf("epair%db", unit)
			if err := ipCmd("link", "add", a, "type", "veth", "peer", "name", b); err != nil {
				return 1, err
			}
			name = a
			// FreeBSD puts an interface in the group of its driver.
			s.Groups["epair"] = append(s.Groups["epair"], a, b)
		case "bridge":
			name = fmt.Sprintf("bridge%d", unit)
			if err := ipCmd("link", "add", name, "type", "bridge"); err != nil {
				return 1, err
			}
			s.Groups["bridge"] = append(s.Groups["bridge"], name)
		default:
			return 1, fmt.Errorf("SIOCIFCREATE2: Invalid argument")
		}
		s.Next[kind] = unit + 1
		fmt.Println(name)
		args = args[1:]
	} else if _, err := net.InterfaceByName(name); err != nil {
		return 1, fmt.Errorf("interface %s does not exist", name)
	}
	if len(args) == 0 {
		i, _ := net.InterfaceByName(name)
		printIf(*i)
		return 0, nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		var err error
		switch a {
		case "up":
			err = ipCmd("link", "set", name, "up")
		case "down":
			err = ipCmd("link", "set", name, "down")
		case "destroy":
			err = ipCmd("link", "del", name)
			for g, m := range s.Groups {
				s.Groups[g] = removeString(m, name)
			}
			delete(s.Descr, name)
		case "name":
			nn := next()
			if err = ipCmd("link", "set", name, "name", nn); err == nil {
				for g, m := range s.Groups {
					for k := range m {
						if m[k] == name {
							s.Groups[g][k] = nn
						}
					}
				}
				s.Descr[nn] = s.Descr[name]
				delete(s.Descr, name)
				name = nn
				fmt.Println(nn)
			}
		case "group":
			g := next()
			s.Groups[g] = append(removeString(s.Groups[g], name), name)
		case "-group":
			g := next()
			s.Groups[g] = removeString(s.Groups[g], name)
		case "descr", "description":
			s.Descr[name] = next()
		case "addm":
			err = ipCmd("link", "set", next(), "master", name)
		case "deletem":
			err = ipCmd("link", "set", next(), "nomaster")
		case "private", "-private", "mtu", "vnet", "-vnet", "txcsum", "-txcsum", "rxcsum", "-rxcsum", "tso", "-tso":
			if a == "mtu" {
				err = ipCmd("link", "set", name, "mtu", next())
			} else if a == "vnet" || a == "-vnet" {
				next()
			}
		case "inet", "inet6":
			addr := next()
			prefixLen := ""
			remove := false
			for i+1 < len(args) {
				switch args[i+1] {
				case "netmask":
					i++
					prefixLen = maskBits(next())
					continue
				case "prefixlen":
					i++
					prefixLen = next()
					continue
				case "alias", "add":
					i++
					continue
				case "-alias", "delete":
					i++
					remove = true
					continue
				}
				break
			}
			if !strings.Contains(addr, "/") {
				if prefixLen == "" {
					prefixLen = "32"
					if a == "inet6" {
						prefixLen = "64"
					}
				}
				addr += "/" + prefixLen
			}
			if remove {
				err = ipCmd("addr", "del", addr, "dev", name)
			} else if err = ipCmd("addr", "add", addr, "dev", name); err == nil {
				// FreeBSD marks an interface up when it gets an address.
				err = ipCmd("link", "set", name, "up")
			}
		default:
			return 1, fmt.Errorf("%s: bad value", a)
		}
		if err != nil {
			return 1, err
		}
	}
	return 0, nil
}

// linuxIfName is the Linux name of a FreeBSD interface name: the loopback
// interface is lo0 on FreeBSD, lo on Linux.
func linuxIfName(n string) string {
	if n == "lo0" {
		return "lo"
	}
	return n
}

// freebsdIfName is the FreeBSD name of a Linux interface.
func freebsdIfName(n string) string {
	if n == "lo" {
		return "lo0"
	}
	return n
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// maskBits turns 255.255.255.0 or 0xffffff00 into 24.
func maskBits(m string) string {
	if strings.HasPrefix(m, "0x") {
		v, err := strconv.ParseUint(m[2:], 16, 32)
		if err == nil {
			ones, _ := net.IPv4Mask(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).Size()
			return strconv.Itoa(ones)
		}
	}
	if ip := net.ParseIP(m).To4(); ip != nil {
		ones, _ := net.IPv4Mask(ip[0], ip[1], ip[2], ip[3]).Size()
		return strconv.Itoa(ones)
	}
	return m
}

// printIf prints an interface as FreeBSD's ifconfig does with
// IFCONFIG_FORMAT=addr:default (pot exports it).
func printIf(i net.Interface) { printIfFamily(i, "") }

// printIfFamily prints an interface, only the addresses of family ("inet",
// "inet6") if one is given.
func printIfFamily(i net.Interface, family string) {
	var flags []string
	if i.Flags&net.FlagUp != 0 {
		flags = append(flags, "UP")
	}
	if i.Flags&net.FlagBroadcast != 0 {
		flags = append(flags, "BROADCAST")
	}
	if i.Flags&net.FlagLoopback != 0 {
		flags = append(flags, "LOOPBACK")
	}
	if i.Flags&net.FlagRunning != 0 {
		flags = append(flags, "RUNNING")
	}
	if i.Flags&net.FlagMulticast != 0 {
		flags = append(flags, "MULTICAST")
	}
	fmt.Printf("%s: flags=%x<%s> metric 0 mtu %d\n", freebsdIfName(i.Name), uint(i.Flags), strings.Join(flags, ","), i.MTU)
	s := loadIfState()
	if d := s.Descr[i.Name]; d != "" {
		fmt.Printf("\tdescription: %s\n", d)
	}
	if len(i.HardwareAddr) > 0 {
		fmt.Printf("\tether %s\n", i.HardwareAddr)
	}
	addrs, _ := i.Addrs()
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip4 := n.IP.To4(); ip4 != nil {
			if family == "inet6" {
				continue
			}
			bc := make(net.IP, 4)
			for k := range bc {
				bc[k] = ip4[k] | ^n.Mask[len(n.Mask)-4+k]
			}
			fmt.Printf("\tinet %s netmask 0x%s broadcast %s\n", ip4, n.Mask.String(), bc)
		} else {
			if family == "inet" {
				continue
			}
			ones, _ := n.Mask.Size()
			fmt.Printf("\tinet6 %s prefixlen %d\n", n.IP, ones)
		}
	}
	var groups []string
	for g, m := range s.Groups {
		for _, x := range m {
			if x == i.Name {
				groups = append(groups, g)
			}
		}
	}
	if len(groups) > 0 {
		sort.Strings(groups)
		fmt.Printf("\tgroups: %s\n", strings.Join(groups, " "))
	}
}

// cmdRoute is route(8) for the default route: add, delete, get.
func cmdRoute(args []string) int {
	var rest []string
	inet6 := false
	for _, a := range args {
		switch a {
		case "-q", "-n", "-inet", "-4":
		case "-inet6", "-6":
			inet6 = true
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) < 2 {
		fmt.Fprintln(os.Stderr, "usage: route [-46dnqtv] command [[modifiers] args]")
		return 64
	}
	fam := "-4"
	if inet6 {
		fam = "-6"
	}
	var err error
	switch rest[0] {
	case "add":
		if len(rest) < 3 {
			return 64
		}
		err = ipCmd(fam, "route", "replace", rest[1], "via", rest[2])
	case "delete", "del":
		err = ipCmd(fam, "route", "del", rest[1])
	case "get", "show":
		return 0
	default:
		return 64
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "route: writing to routing socket: %v\n", err)
		return 1
	}
	if rest[0] == "add" {
		fmt.Printf("add net %s: gateway %s\n", rest[1], rest[2])
	}
	return 0
}

// pfState is pf as pfctl left it: enabled, and the rules of each anchor
// ("" is the main ruleset). Its nat and rdr rules are applied as nftables
// rules after every change (pf_nft.go).
type pfState struct {
	Enabled bool                `json:"enabled"`
	Anchors map[string][]string `json:"anchors"`
}

func cmdPfctl(args []string) int {
	anchor, show, file, flush := "", "", "", ""
	enable, disable := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		arg := func() string {
			if len(a) > 2 {
				return a[2:]
			}
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case strings.HasPrefix(a, "-a"):
			anchor = arg()
		case strings.HasPrefix(a, "-s"):
			show = arg()
		case strings.HasPrefix(a, "-f"):
			file = arg()
		case strings.HasPrefix(a, "-F"):
			flush = arg()
		case a == "-e":
			enable = true
		case a == "-d":
			disable = true
		case a == "-q", a == "-P", a == "-n", a == "-v", a == "-N", a == "-R":
		}
	}
	var rc int
	err := withLock("pf", func() error {
		var s pfState
		if err := loadJSON("pf.json", &s); err != nil {
			return err
		}
		if s.Anchors == nil {
			s.Anchors = map[string][]string{}
		}
		switch {
		case enable:
			if s.Enabled {
				fmt.Fprintln(os.Stderr, "pfctl: pf already enabled")
				rc = 1
			} else {
				fmt.Fprintln(os.Stderr, "pf enabled")
			}
			s.Enabled = true
		case disable:
			s.Enabled = false
			fmt.Fprintln(os.Stderr, "pf disabled")
		}
		if file != "" {
			lines, err := readPfFile(file)
			if err != nil {
				fmt.Fprintf(os.Stderr, "pfctl: %s: %v\n", file, err)
				rc = 1
				return nil
			}
			// As pfctl, a ruleset with a line it refuses is not loaded: the
			// anchor keeps what it had.
			if _, err := parsePfRules(lines); err != nil {
				fmt.Fprintln(os.Stderr, err)
				fmt.Fprintln(os.Stderr, "pfctl: Syntax error in config file: pf rules not loaded")
				rc = 1
				return nil
			}
			rules := make([]string, len(lines))
			for i, l := range lines {
				rules[i] = l.text
			}
			s.Anchors[anchor] = rules
		}
		if flush != "" {
			if flush == "all" || flush == "nat" || flush == "rules" {
				delete(s.Anchors, anchor)
			}
		}
		if enable || disable || file != "" || flush != "" {
			// The state is kept only once the machine's nftables agree with it.
			if err := applyPf(s); err != nil {
				fmt.Fprintln(os.Stderr, "pfctl:", err)
				rc = 1
				return nil
			}
		}
		switch show {
		case "":
		case "info", "i":
			st := "Disabled"
			if s.Enabled {
				st = "Enabled"
			}
			fmt.Printf("Status: %s for 0 days 00:00:00           Debug: Urgent\n", st)
		case "Anchors", "A":
			var names []string
			for n := range s.Anchors {
				if anchor == "" && !strings.Contains(n, "/") && n != "" {
					names = append(names, "  "+n)
				} else if anchor != "" && strings.HasPrefix(n, anchor+"/") {
					names = append(names, "  "+n)
				}
			}
			// An anchor with children exists as a parent too, and so
			// does one the main ruleset names (`nat-anchor pot-nat`,
			// `rdr-anchor "pot-rdr/*"`): pf makes it as it loads.
			if anchor == "" {
				for n := range s.Anchors {
					if p, _, ok := strings.Cut(n, "/"); ok && !containsString(names, "  "+p) {
						names = append(names, "  "+p)
					}
				}
				for _, r := range s.Anchors[""] {
					if n := declaredAnchor(r); n != "" && !containsString(names, "  "+n) {
						names = append(names, "  "+n)
					}
				}
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Println(n)
			}
		case "nat", "n", "rules", "r":
			for _, r := range s.Anchors[anchor] {
				isNat := strings.HasPrefix(r, "nat ") || strings.HasPrefix(r, "rdr ") || strings.HasPrefix(r, "binat ")
				if isNat == (show == "nat" || show == "n") {
					fmt.Println(r)
				}
			}
		}
		return saveJSON("pf.json", s)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pfctl:", err)
		return 1
	}
	return rc
}

// readPfFile reads a ruleset (- is stdin): its lines but blank ones and
// comments, numbered as in the file.
func readPfFile(file string) ([]pfLine, error) {
	in, name := os.Stdin, "stdin"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in, name = f, file
	}
	var lines []pfLine
	sc := bufio.NewScanner(in)
	for n := 1; sc.Scan(); n++ {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, pfLine{file: name, num: n, text: l})
		}
	}
	return lines, sc.Err()
}

// declaredAnchor is the top-level anchor a main ruleset line declares
// ("pot-rdr" of `rdr-anchor "pot-rdr/*"`), or "".
func declaredAnchor(rule string) string {
	f := strings.Fields(rule)
	if len(f) < 2 {
		return ""
	}
	switch f[0] {
	case "anchor", "nat-anchor", "rdr-anchor", "binat-anchor":
	default:
		return ""
	}
	name, _, _ := strings.Cut(strings.Trim(f[1], `"`), "/")
	if name == "*" {
		return ""
	}
	return name
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cmdSockstat is `sockstat [-46l] [-p ports]`: listening sockets from
// /proc/net, in sockstat's columns (USER COMMAND PID FD PROTO LOCAL FOREIGN).
func cmdSockstat(args []string) int {
	var lo, hi = 0, 65535
	for i := 0; i < len(args); i++ {
		if args[i] == "-p" && i+1 < len(args) {
			a, b, _ := strings.Cut(args[i+1], "-")
			lo, _ = strconv.Atoi(a)
			hi = lo
			if b != "" {
				hi, _ = strconv.Atoi(b)
			}
			i++
		}
	}
	fmt.Println("USER     COMMAND    PID   FD  PROTO  LOCAL ADDRESS         FOREIGN ADDRESS")
	for _, proto := range []string{"tcp", "udp"} {
		f, err := os.Open("/proc/net/" + proto)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan()
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) < 4 {
				continue
			}
			if proto == "tcp" && fl[3] != "0A" {
				continue
			}
			ipHex, portHex, _ := strings.Cut(fl[1], ":")
			port, _ := strconv.ParseUint(portHex, 16, 16)
			if int(port) < lo || int(port) > hi {
				continue
			}
			v, _ := strconv.ParseUint(ipHex, 16, 32)
			addr := net.IPv4(byte(v), byte(v>>8), byte(v>>16), byte(v>>24)).String()
			if addr == "0.0.0.0" {
				addr = "*"
			}
			fmt.Printf("root     ?          ?     ?   %-6s %s:%d %s\n", proto+"4", addr, port, "*:*")
		}
		f.Close()
	}
	return 0
}
