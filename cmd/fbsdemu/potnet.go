package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// potnet and potcpu (sysutils/potnet, the helpers pot calls for its
// network's addresses and for CPU placement), reading pot's configuration
// as potnet does: pot.default.conf and pot.conf of the pot on PATH.
func init() {
	register("potnet", cmdPotnet)
	register("potcpu", cmdPotcpu)
}

// potConfig is pot's configuration (shell assignments), defaults first.
func potConfig() map[string]string {
	conf := map[string]string{}
	etc := ""
	if p, err := exec.LookPath("pot"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			etc = filepath.Join(filepath.Dir(r), "..", "etc", "pot")
		}
	}
	for _, f := range []string{"pot.default.conf", "pot.conf"} {
		if etc == "" {
			break
		}
		fh, err := os.Open(filepath.Join(etc, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if k, v, ok := strings.Cut(l, "="); ok {
				conf[k] = strings.Trim(v, `"'`)
			}
		}
		fh.Close()
	}
	for k, v := range map[string]string{"POT_FS_ROOT": "/opt/pot", "POT_NETWORK": "10.192.0.0/10", "POT_GATEWAY": "10.192.0.1", "POT_DNS_IP": "10.192.0.2"} {
		if conf[k] == "" {
			conf[k] = v
		}
	}
	return conf
}

// potNetwork is the network of the public bridge or of private bridge b
// (FS_ROOT/bridges/NAME: net=, gateway=), with its gateway.
func potNetwork(conf map[string]string, bridge string) (netip.Prefix, netip.Addr, error) {
	netS, gwS := conf["POT_NETWORK"], conf["POT_GATEWAY"]
	if bridge != "" {
		vars := readRCConf(filepath.Join(conf["POT_FS_ROOT"], "bridges", bridge))
		if vars["net"] == "" {
			return netip.Prefix{}, netip.Addr{}, fmt.Errorf("bridge %s not found", bridge)
		}
		netS, gwS = vars["net"], vars["gateway"]
	}
	p, err := netip.ParsePrefix(netS)
	if err != nil {
		return p, netip.Addr{}, err
	}
	gw, _ := netip.ParseAddr(gwS)
	return p.Masked(), gw, nil
}

// usedAddrs are the addresses pots hold (ip= of every pot.conf), by pot.
func usedAddrs(conf map[string]string) map[netip.Addr]string {
	used := map[netip.Addr]string{}
	confs, _ := filepath.Glob(filepath.Join(conf["POT_FS_ROOT"], "jails", "*", "conf", "pot.conf"))
	for _, c := range confs {
		vars := readRCConf(c)
		for _, f := range strings.Fields(vars["ip"]) {
			if _, a, ok := strings.Cut(f, "|"); ok {
				f = a
			}
			if a, err := netip.ParseAddr(f); err == nil {
				used[a] = filepath.Base(filepath.Dir(filepath.Dir(c)))
			}
		}
	}
	return used
}

func cmdPotnet(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "potnet: a subcommand is needed")
		return 1
	}
	sub, args := args[0], args[1:]
	host, bridge, size := "", "", 0
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-H", "--host":
			if i+1 < len(args) {
				host = args[i+1]
				i++
			}
		case "-b", "--bridge-name":
			if i+1 < len(args) {
				bridge = args[i+1]
				i++
			}
		case "-s", "--size":
			if i+1 < len(args) {
				size, _ = strconv.Atoi(args[i+1])
				i++
			}
		}
	}
	conf := potConfig()
	switch sub {
	case "config-check":
		if _, _, err := potNetwork(conf, ""); err != nil {
			fmt.Fprintln(os.Stderr, "POT_NETWORK:", err)
			return 1
		}
		return 0
	case "ip4check", "ip6check", "ipcheck":
		a, err := netip.ParseAddr(host)
		if err != nil || (sub == "ip4check" && !a.Is4()) || (sub == "ip6check" && !a.Is6()) {
			return 1
		}
		return 0
	case "validate":
		a, err := netip.ParseAddr(host)
		if err != nil {
			return 1
		}
		p, gw, err := potNetwork(conf, bridge)
		if err != nil || !p.Contains(a) || a == gw || a == p.Addr() {
			return 1
		}
		if _, taken := usedAddrs(conf)[a]; taken {
			return 1
		}
		return 0
	case "next":
		p, gw, err := potNetwork(conf, bridge)
		if err != nil {
			fmt.Fprintln(os.Stderr, "potnet:", err)
			return 1
		}
		used := usedAddrs(conf)
		dns, _ := netip.ParseAddr(conf["POT_DNS_IP"])
		for a := p.Addr().Next(); p.Contains(a); a = a.Next() {
			if _, taken := used[a]; taken || a == gw || (bridge == "" && a == dns) {
				continue
			}
			fmt.Println(a)
			return 0
		}
		fmt.Fprintln(os.Stderr, "potnet: no free address")
		return 1
	case "etc-hosts":
		p, _, err := potNetwork(conf, bridge)
		if err != nil {
			return 0
		}
		var lines []string
		for a, name := range usedAddrs(conf) {
			if p.Contains(a) {
				lines = append(lines, a.String()+" "+name)
			}
		}
		sort.Strings(lines)
		for _, l := range lines {
			fmt.Println(l)
		}
		return 0
	case "new-net":
		return potnetNewNet(conf, size)
	case "show":
		for a, name := range usedAddrs(conf) {
			fmt.Printf("%s\t%s\n", a, name)
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "potnet: unknown subcommand %s\n", sub)
	return 1
}

// potnetNewNet prints a private bridge's net= and gateway=: the first
// block of `size` hosts in POT_NETWORK that no bridge uses, from the top.
func potnetNewNet(conf map[string]string, size int) int {
	p, _, err := potNetwork(conf, "")
	if err != nil || size <= 0 {
		fmt.Fprintln(os.Stderr, "potnet: invalid size")
		return 1
	}
	bits := 32
	for n := 2; n < size+2 && bits > 0; n *= 2 {
		bits--
	}
	bits--
	taken := map[netip.Prefix]bool{}
	files, _ := filepath.Glob(filepath.Join(conf["POT_FS_ROOT"], "bridges", "*"))
	for _, f := range files {
		if n, err := netip.ParsePrefix(readRCConf(f)["net"]); err == nil {
			taken[n.Masked()] = true
		}
	}
	// Candidates from the end of the network, away from the public pots.
	last := lastAddr(p)
	for a := last; p.Contains(a); {
		cand, _ := a.Prefix(bits)
		if !taken[cand] {
			fmt.Printf("net=%s\ngateway=%s\n", cand, cand.Addr().Next())
			return 0
		}
		prev := cand.Addr().Prev()
		if !prev.IsValid() {
			break
		}
		a = prev
	}
	fmt.Fprintln(os.Stderr, "potnet: no free network")
	return 1
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << host) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func cmdPotcpu(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "potcpu: a subcommand is needed")
		return 1
	}
	switch args[0] {
	case "get-cpu":
		n := 1
		for i := 1; i+1 < len(args); i++ {
			if args[i] == "-n" {
				n, _ = strconv.Atoi(args[i+1])
			}
		}
		if n < 1 {
			n = 1
		}
		if n > runtime.NumCPU() {
			n = runtime.NumCPU()
		}
		cpus := make([]string, n)
		for i := range cpus {
			cpus[i] = strconv.Itoa(i)
		}
		fmt.Println(strings.Join(cpus, ","))
		return 0
	case "rebalance", "show":
		return 0
	}
	fmt.Fprintf(os.Stderr, "potcpu: unknown subcommand %s\n", args[0])
	return 1
}
