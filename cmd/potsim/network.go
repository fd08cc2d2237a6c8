package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// --- ports

// isPortNumber is network.sh's _is_port_number.
func isPortNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n <= 65535
}

// portSpec is one `-e [tcp:|udp:]POTPORT[:HOSTPORT]`.
type portSpec struct {
	Proto    string
	PotPort  int
	HostPort int // 0: a free port is picked at start
}

// isExportPortValid is network.sh's _is_export_port_valid.
func isExportPortValid(arg string) bool {
	a := arg
	if strings.HasPrefix(a, "tcp:") {
		a = strings.TrimPrefix(a, "tcp:")
	} else if strings.HasPrefix(a, "udp:") {
		a = strings.TrimPrefix(a, "udp:")
	}
	pot := cutField(a, ":", 1)
	if pot == a {
		return isPortNumber(pot)
	}
	return isPortNumber(pot) && isPortNumber(cutField(a, ":", 2))
}

// parsePortSpec splits a port as start.sh's _js_export_ports does.
func parsePortSpec(s string) (portSpec, error) {
	p := portSpec{Proto: "tcp"}
	if strings.HasPrefix(s, "udp:") {
		p.Proto = "udp"
		s = strings.TrimPrefix(s, "udp:")
	} else if strings.HasPrefix(s, "tcp:") {
		s = strings.TrimPrefix(s, "tcp:")
	}
	pot := cutField(s, ":", 1)
	host := cutField(s, ":", 2)
	if !isPortNumber(pot) {
		return p, fmt.Errorf("%s is not a valid port number", s)
	}
	p.PotPort, _ = strconv.Atoi(pot)
	if pot != s {
		if !isPortNumber(host) {
			return p, fmt.Errorf("%s is not a valid port number", s)
		}
		p.HostPort, _ = strconv.Atoi(host)
	}
	return p, nil
}

// --- addresses

func isIPv4(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil && !strings.Contains(s, ":")
}

func isIPv6(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && strings.Contains(s, ":")
}

// extIf is POT_EXTIF: the interface of the default route, "lo" if none.
func extIf() string {
	f, err := os.Open("/proc/net/route")
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) > 2 && fl[1] == "00000000" {
				return fl[0]
			}
		}
	}
	return "lo"
}

func aliasEntries(list string) (out [][2]string) {
	for _, e := range strings.Fields(list) {
		nic, ip := extIf(), e
		if strings.Contains(e, "|") {
			nic = cutField(e, "|", 1)
			ip = cutField(e, "|", 2)
		}
		out = append(out, [2]string{nic, ip})
	}
	return out
}

// aliasIPv4 is network.sh's _get_alias_ipv4: "nic|ip" items joined by commas.
func aliasIPv4(name, list string) string {
	if potNetworkStack(name) == "ipv6" {
		return ""
	}
	var out []string
	for _, e := range aliasEntries(list) {
		if isIPv4(e[1]) {
			out = append(out, e[0]+"|"+e[1])
		}
	}
	return strings.Join(out, ",")
}

// aliasIPv6 is network.sh's _get_alias_ipv6.
func aliasIPv6(name, list string) string {
	if potNetworkStack(name) == "ipv4" {
		return ""
	}
	var out []string
	for _, e := range aliasEntries(list) {
		if isIPv6(e[1]) {
			out = append(out, e[0]+"|"+e[1])
		}
	}
	return strings.Join(out, ",")
}

// validateAliasIPAddr is network.sh's _validate_alias_ipaddr.
func validateAliasIPAddr(list, stack string) bool {
	v4, v6 := false, false
	for _, e := range strings.Fields(list) {
		ip := e
		if strings.Contains(e, "|") {
			nic := cutField(e, "|", 1)
			ip = cutField(e, "|", 2)
			if _, err := net.InterfaceByName(nic); err != nil {
				errorf("%s is not a valid network interface", nic)
				return false
			}
		}
		if net.ParseIP(ip) == nil {
			errorf("%s is not a valid IP address", ip)
			return false
		}
		if isIPv4(ip) {
			v4 = true
		}
		if isIPv6(ip) {
			v6 = true
		}
	}
	if stack == "ipv4" && !v4 {
		errorf("Stack is ipv4 but not ipv4 address has been provided")
		return false
	}
	if stack == "ipv6" && !v6 {
		errorf("Stack is ipv6 but not ipv6 address has been provided")
		return false
	}
	return true
}

// ipNet is an IPv4 network with its gateway, as potnet sees the pot network
// or a private bridge.
type ipNet struct {
	net     *net.IPNet
	gateway net.IP
}

func ip4ToU32(ip net.IP) uint32 { return binary.BigEndian.Uint32(ip.To4()) }
func u32ToIP4(v uint32) net.IP {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return net.IP(b)
}

func publicNet() ipNet {
	_, n, _ := net.ParseCIDR(potNetwork)
	return ipNet{net: n, gateway: net.ParseIP(potGateway).To4()}
}

// usedIPs are the addresses of every pot (potnet reads every pot.conf).
func usedIPs(exclude string) map[string]bool {
	used := map[string]bool{}
	for _, p := range potList() {
		if p == exclude {
			continue
		}
		for _, ip := range strings.Fields(getIPVar(p)) {
			if i := strings.LastIndexByte(ip, '|'); i >= 0 {
				ip = ip[i+1:]
			}
			used[ip] = true
		}
	}
	return used
}

// nextIP is `potnet next`: the lowest address of the network that is not
// the network or broadcast address, the gateway, or the address of a pot.
// The pot network starts handing out addresses at 127.192.0.2.
func nextIP(n ipNet) (string, error) {
	used := usedIPs("")
	ones, bits := n.net.Mask.Size()
	base := ip4ToU32(n.net.IP)
	size := uint32(1) << uint(bits-ones)
	gw := ip4ToU32(n.gateway)
	for off := uint32(1); off+1 < size; off++ {
		v := base + off
		if v == gw {
			continue
		}
		s := u32ToIP4(v).String()
		if used[s] {
			continue
		}
		return s, nil
	}
	return "", fmt.Errorf("no free address left in %s", n.net)
}

// validateIP is `potnet validate -H ADDR`: an unused host address of the
// network, not the gateway.
func validateIP(n ipNet, addr string) bool {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() == nil || !n.net.Contains(ip) {
		return false
	}
	v := ip4ToU32(ip)
	ones, bits := n.net.Mask.Size()
	base := ip4ToU32(n.net.IP)
	bcast := base + (uint32(1) << uint(bits-ones)) - 1
	if v == base || v == bcast || v == ip4ToU32(n.gateway) {
		return false
	}
	return !usedIPs("")[ip.String()]
}

// --- private bridges (FS_ROOT/bridges/NAME: net=, gateway=, name=)

func bridgeFile(name string) string { return filepath.Join(bridgesDir(), name) }

// isBridge is common.sh's _is_bridge.
func isBridge(name string, quiet bool) bool {
	if !safeName(name) || !fileExists(bridgeFile(name)) {
		qerrorf(quiet, "bridge %s not found", name)
		return false
	}
	return true
}

// getBridgeVar is _get_bridge_var.
func getBridgeVar(bname, key string) string {
	var out []string
	for _, l := range grepLines(bridgeFile(bname), keyPattern(key)) {
		l = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '"' {
				return -1
			}
			return r
		}, l)
		out = append(out, cutField(l, "=", 2))
	}
	return cmdSubst(out)
}

func bridgeNet(bname string) (ipNet, error) {
	_, n, err := net.ParseCIDR(getBridgeVar(bname, "net"))
	if err != nil {
		return ipNet{}, fmt.Errorf("bridge %s has no valid net", bname)
	}
	gw := net.ParseIP(getBridgeVar(bname, "gateway"))
	if gw == nil || gw.To4() == nil {
		return ipNet{}, fmt.Errorf("bridge %s has no valid gateway", bname)
	}
	return ipNet{net: n, gateway: gw.To4()}, nil
}

const createPrivateBridgeHelp = `pot create-private-bridge [-hv] [-B name] [-S size]
  -h print this help
  -v verbose
  -B bridge name
  -S bridge size (number of host expected)
`

// cmdCreatePrivateBridge allocates a private network inside 127.193.0.0/16
// (potnet new-net picks one inside POT_NETWORK).
func cmdCreatePrivateBridge(args []string) int {
	var bname, amount string
	opts, _ := getopts(args, "hvB:S:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(createPrivateBridgeHelp)
			return 0
		case 'v':
			verbosity++
		case 'B':
			bname = o.arg
		case 'S':
			amount = o.arg
		default:
			printHelp(createPrivateBridgeHelp)
			return 1
		}
	}
	if bname == "" {
		errorf("A bridge name is mandatory (-B option)")
		return 1
	}
	if amount == "" {
		errorf("The amount of host is mandatory (-S option)")
		return 1
	}
	if !safeName(bname) {
		errorf("Not able to get a valid network with size %s", amount)
		return 1
	}
	if isBridge(bname, true) {
		errorf("A bridge with name %s already exists", bname)
		return 1
	}
	n, err := strconv.Atoi(amount)
	if err != nil || n <= 0 || n > 250 {
		errorf("Not able to get a valid network with size %s", amount)
		return 1
	}
	usedNets := map[string]bool{}
	entries, _ := os.ReadDir(bridgesDir())
	for _, e := range entries {
		usedNets[getBridgeVar(e.Name(), "net")] = true
	}
	for third := 0; third < 256; third++ {
		cidr := fmt.Sprintf("127.193.%d.0/24", third)
		if usedNets[cidr] {
			continue
		}
		text := fmt.Sprintf("net=%s\ngateway=127.193.%d.1\nname=%s\n", cidr, third, bname)
		if err := os.WriteFile(bridgeFile(bname), []byte(text), 0o644); err != nil {
			errorf("Not able to get a valid network with size %s", amount)
			return 1
		}
		return 0
	}
	errorf("Not able to get a valid network with size %s", amount)
	return 1
}
