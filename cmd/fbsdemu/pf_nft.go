package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// pf's translation rules as nftables rules. After every change pfctl makes
// (-e, -d, -f, -F) the nat and rdr rules of the main ruleset and of every
// anchor become one nftables table in the machine's network namespace,
// rebuilt whole in one nft transaction, so that an exported port is
// reachable from the wire as it is from a LAN through pf. FreeBSD applies
// no rule while pf is disabled: then the table is gone. Filter rules (pass,
// block, ...), options and anchors are stored and read back but not
// applied: nothing filters here.
//
// The forms translated are what pot writes and their near relatives:
//
//	rdr [pass] [log] on IF [inet] [proto tcp|udp|{tcp udp}] from ADDRS [port P] to ADDRS [port P] -> IP [port N]
//	nat [pass] [log] on IF [inet] [proto ...] from ADDRS [port P] to ADDRS [port P] -> (IF[:0])|IF|IP [static-port|round-robin]
//
// ADDRS is any, an address, a network, (IF) or IF (the interface's IPv4
// addresses when the table is rebuilt: pf follows a dynamic (IF) as its
// addresses change, this does not), or a { list } of these; P is N, = N
// or N:M. Macros (name = "value") are substituted. Anything else of nat or
// rdr (binat, no nat, IPv6, negation, tables, pools, N:* ports) is refused
// as pfctl refuses a syntax error, so that a rule is never silently
// dropped.

// nftTable is the table standing for pf's translation rules.
const nftTable = "fbsdemu_pf"

// machineNetnsFile is the state file naming the machine's network
// namespace (its /proc/self/ns/net link): rules are applied only there,
// never to the nftables of another namespace (the real machine's when the
// tools run outside `fbsdemu run`, as their own tests do).
const machineNetnsFile = "netns"

// pfLine is one line of a ruleset as loaded, and where it came from.
type pfLine struct {
	file string // the file, or the anchor it was loaded into
	num  int
	text string
}

// pfError is a line pf's grammar or this translation refuses.
type pfError struct {
	line pfLine
	msg  string
}

func (e *pfError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.line.file, e.line.num, e.msg, e.line.text)
}

// pfAddr is one address of a rule: a host or network, or an interface's
// IPv4 addresses (first only: (IF:0)) read when the table is rebuilt.
type pfAddr struct {
	cidr  string
	iface string
	first bool
}

// pfPorts is a port match, lo..hi inclusive; zero is no match.
type pfPorts struct{ lo, hi int }

// pfTransRule is one nat or rdr rule.
type pfTransRule struct {
	kind      string   // "nat" or "rdr"
	ifaces    []string // on (Linux names); empty: any
	protos    []string // tcp, udp; empty: any protocol
	from, to  []pfAddr // empty: any
	fromPorts pfPorts
	toPorts   pfPorts
	target    pfAddr // -> (nat: interface or address; rdr: address)
	port      int    // rdr: -> ... port N; 0: the port is kept
	line      pfLine
}

// pfIgnored are the first words of statements stored and read back but
// not applied: filter rules, options, tables, queues, anchors.
var pfIgnored = map[string]bool{
	"pass": true, "block": true, "match": true, "antispoof": true, "scrub": true,
	"set": true, "table": true, "altq": true, "queue": true, "ether": true,
	"anchor": true, "nat-anchor": true, "rdr-anchor": true, "binat-anchor": true, "load": true,
}

// parsePfRules reads a ruleset as one file: its macros, and its nat and
// rdr rules in order.
func parsePfRules(lines []pfLine) ([]pfTransRule, error) {
	macros := map[string]string{}
	var rules []pfTransRule
	for _, l := range lines {
		toks, err := pfTokens(l.text, macros)
		if err != nil {
			return nil, &pfError{l, err.Error()}
		}
		if len(toks) == 0 {
			continue
		}
		if len(toks) >= 2 && toks[1].text == "=" && !toks[0].quoted && pfMacroName(toks[0].text) {
			var vals []string
			for _, t := range toks[2:] {
				vals = append(vals, t.text)
			}
			macros[toks[0].text] = strings.Join(vals, " ")
			continue
		}
		switch w := toks[0].text; {
		case toks[0].quoted:
			return nil, &pfError{l, "syntax error"}
		case w == "nat" || w == "rdr":
			p := &pfParser{toks: toks[1:], line: l}
			r, err := p.rule(w)
			if err != nil {
				return nil, &pfError{l, err.Error()}
			}
			rules = append(rules, r)
		case w == "binat" || w == "no":
			return nil, &pfError{l, "cannot translate to nftables: " + w + " is not emulated"}
		case pfIgnored[w]:
		default:
			return nil, &pfError{l, "syntax error"}
		}
	}
	return rules, nil
}

// pfMacroName is pf's macro name: a letter, then letters, digits, _.
func pfMacroName(s string) bool {
	for i, c := range s {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '_')) {
			return false
		}
	}
	return s != ""
}

type pfToken struct {
	text   string
	quoted bool
}

// pfTokens splits a line as pf's lexer does: macros expanded outside
// quotes (and their values lexed in turn), quoted strings as one token,
// { } ( ) , ! = and -> on their own, a comment to the end of the line.
func pfTokens(line string, macros map[string]string) ([]pfToken, error) {
	expanded, err := pfExpand(line, macros, 0)
	if err != nil {
		return nil, err
	}
	var toks []pfToken
	s := expanded
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '#':
			return toks, nil
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quoted string")
			}
			toks = append(toks, pfToken{text: s[i+1 : i+1+j], quoted: true})
			i += j + 2
		case strings.IndexByte("{}(),!=", c) >= 0:
			toks = append(toks, pfToken{text: string(c)})
			i++
		case strings.HasPrefix(s[i:], "->"):
			toks = append(toks, pfToken{text: "->"})
			i += 2
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t#\"{}(),!=", s[j]) < 0 && !strings.HasPrefix(s[j:], "->") {
				j++
			}
			toks = append(toks, pfToken{text: s[i:j]})
			i = j
		}
	}
	return toks, nil
}

// pfExpand substitutes $name outside quotes.
func pfExpand(s string, macros map[string]string, depth int) (string, error) {
	if depth > 16 {
		return "", fmt.Errorf("macro expansion too deep")
	}
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			quoted = !quoted
		}
		if c == '#' && !quoted {
			b.WriteString(s[i:])
			break
		}
		if c != '$' || quoted {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= '0' && s[j] <= '9' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
			j++
		}
		name := s[i+1 : j]
		v, ok := macros[name]
		if !ok {
			return "", fmt.Errorf("macro '%s' not defined", name)
		}
		v, err := pfExpand(v, macros, depth+1)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i = j - 1
	}
	return b.String(), nil
}

// pfParser reads one nat or rdr rule after its first word.
type pfParser struct {
	toks []pfToken
	line pfLine
}

func (p *pfParser) peek() string {
	if len(p.toks) == 0 {
		return ""
	}
	return p.toks[0].text
}

func (p *pfParser) next() string {
	t := p.peek()
	if len(p.toks) > 0 {
		p.toks = p.toks[1:]
	}
	return t
}

func (p *pfParser) accept(w string) bool {
	if len(p.toks) > 0 && p.toks[0].text == w && !p.toks[0].quoted {
		p.toks = p.toks[1:]
		return true
	}
	return false
}

// untranslatable is a rule pf takes and this emulation cannot apply.
func untranslatable(format string, a ...any) error {
	return fmt.Errorf("cannot translate to nftables: "+format, a...)
}

func (p *pfParser) rule(kind string) (pfTransRule, error) {
	r := pfTransRule{kind: kind, line: p.line}
	p.accept("pass")
	if p.accept("log") && p.peek() == "(" {
		return r, untranslatable("log options")
	}
	if p.accept("on") {
		list, err := p.list(func(w string) (string, error) {
			if w == "!" {
				return "", untranslatable("negated interfaces")
			}
			if !ifaceName(w) {
				return "", fmt.Errorf("syntax error")
			}
			return linuxIfName(w), nil
		})
		if err != nil {
			return r, err
		}
		r.ifaces = list
	}
	switch {
	case p.accept("inet"):
	case p.accept("inet6"):
		return r, untranslatable("IPv6 rules (the table is ip)")
	}
	if p.accept("proto") {
		list, err := p.list(func(w string) (string, error) {
			if w != "tcp" && w != "udp" {
				return "", untranslatable("proto %s", w)
			}
			return w, nil
		})
		if err != nil {
			return r, err
		}
		r.protos = list
	}
	if !p.accept("all") {
		if p.accept("from") {
			var err error
			if r.from, err = p.addrs(); err != nil {
				return r, err
			}
			if r.fromPorts, err = p.ports(); err != nil {
				return r, err
			}
		}
		if p.accept("to") {
			var err error
			if r.to, err = p.addrs(); err != nil {
				return r, err
			}
			if r.toPorts, err = p.ports(); err != nil {
				return r, err
			}
		}
	}
	if (r.fromPorts.lo != 0 || r.toPorts.lo != 0) && len(r.protos) == 0 {
		return r, fmt.Errorf("port only applies to tcp/udp")
	}
	if p.peek() == "tag" || p.peek() == "tagged" {
		return r, untranslatable("tags")
	}
	if !p.accept("->") {
		return r, fmt.Errorf("syntax error")
	}
	target, err := p.target()
	if err != nil {
		return r, err
	}
	r.target = target
	if kind == "rdr" && p.accept("port") {
		w := p.next()
		if strings.Contains(w, ":") {
			return r, untranslatable("port ranges of the redirection (%s)", w)
		}
		n, err := pfPort(w, r.protos)
		if err != nil {
			return r, err
		}
		if len(r.protos) == 0 {
			return r, fmt.Errorf("port only applies to tcp/udp")
		}
		r.port = n
	}
	for len(p.toks) > 0 {
		switch w := p.next(); w {
		case "static-port", "round-robin":
			// One address: every pool type picks it; nftables keeps source
			// ports when it can.
			if kind != "nat" && w == "static-port" {
				return r, fmt.Errorf("syntax error")
			}
		default:
			return r, untranslatable("%s", w)
		}
	}
	return r, nil
}

// target is the redirection after ->: one address, or an
// interface's.
func (p *pfParser) target() (pfAddr, error) {
	if p.peek() == "{" {
		return pfAddr{}, untranslatable("address pools")
	}
	a, err := p.addr()
	if err != nil {
		return a, err
	}
	if a.cidr == "" && a.iface == "" {
		return a, fmt.Errorf("syntax error")
	}
	if a.cidr != "" {
		if ip, n, err := net.ParseCIDR(a.cidr); err == nil {
			if ones, _ := n.Mask.Size(); ones != 32 {
				return a, untranslatable("address pools (%s)", a.cidr)
			}
			a.cidr = ip.String()
		}
	}
	return a, nil
}

// list reads one item or a { list } of them (commas optional).
func (p *pfParser) list(item func(string) (string, error)) ([]string, error) {
	if !p.accept("{") {
		v, err := item(p.next())
		if err != nil {
			return nil, err
		}
		return []string{v}, nil
	}
	var out []string
	for {
		switch w := p.next(); w {
		case "}":
			if len(out) == 0 {
				return nil, fmt.Errorf("syntax error")
			}
			return out, nil
		case ",":
		case "":
			return nil, fmt.Errorf("syntax error")
		default:
			v, err := item(w)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
}

// addrs reads the addresses of from or to; nil is any (also when only a
// port follows).
func (p *pfParser) addrs() ([]pfAddr, error) {
	if p.accept("any") || p.peek() == "port" {
		return nil, nil
	}
	if !p.accept("{") {
		a, err := p.addr()
		if err != nil {
			return nil, err
		}
		return []pfAddr{a}, nil
	}
	var out []pfAddr
	for {
		switch p.peek() {
		case "}":
			p.next()
			if len(out) == 0 {
				return nil, fmt.Errorf("syntax error")
			}
			return out, nil
		case ",":
			p.next()
		case "", "any":
			return nil, fmt.Errorf("syntax error")
		default:
			a, err := p.addr()
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
}

// addr reads one address: IP, IP/len, (IF), (IF:0), IF.
func (p *pfParser) addr() (pfAddr, error) {
	if p.accept("(") {
		w := p.next()
		if !p.accept(")") {
			return pfAddr{}, fmt.Errorf("syntax error")
		}
		name, mod, _ := strings.Cut(w, ":")
		if !ifaceName(name) {
			return pfAddr{}, fmt.Errorf("syntax error")
		}
		switch mod {
		case "":
			return pfAddr{iface: linuxIfName(name)}, nil
		case "0":
			return pfAddr{iface: linuxIfName(name), first: true}, nil
		}
		return pfAddr{}, untranslatable("(%s)", w)
	}
	w := p.next()
	switch {
	case w == "!":
		return pfAddr{}, untranslatable("negated addresses")
	case strings.HasPrefix(w, "<"):
		return pfAddr{}, untranslatable("tables (%s)", w)
	case w == "self" || w == "no-route" || w == "urpf-failed" || w == "route":
		return pfAddr{}, untranslatable("%s", w)
	}
	if ip := net.ParseIP(w); ip != nil {
		if ip.To4() == nil {
			return pfAddr{}, untranslatable("IPv6 addresses (the table is ip)")
		}
		return pfAddr{cidr: ip.String()}, nil
	}
	if ip, n, err := net.ParseCIDR(w); err == nil {
		if ip.To4() == nil {
			return pfAddr{}, untranslatable("IPv6 addresses (the table is ip)")
		}
		return pfAddr{cidr: n.String()}, nil
	}
	if ifaceName(w) && strings.ContainsAny(w, "0123456789") {
		// An interface (a driver's name and a unit) as an address: its
		// addresses (pf reads them when the rules are loaded). Host names
		// are not resolved.
		return pfAddr{iface: linuxIfName(w)}, nil
	}
	return pfAddr{}, fmt.Errorf("no IP address found for %s", w)
}

// ports reads an optional port match.
func (p *pfParser) ports() (pfPorts, error) {
	if !p.accept("port") {
		return pfPorts{}, nil
	}
	p.accept("=")
	w := p.next()
	switch w {
	case "!", "<", ">", "<=", ">=", "><", "<>":
		return pfPorts{}, untranslatable("port operator %s", w)
	}
	lo, hi, isRange := strings.Cut(w, ":")
	a, err := pfPort(lo, nil)
	if err != nil {
		return pfPorts{}, err
	}
	b := a
	if isRange {
		if b, err = pfPort(hi, nil); err != nil {
			return pfPorts{}, err
		}
		if b < a {
			return pfPorts{}, fmt.Errorf("syntax error")
		}
	}
	return pfPorts{a, b}, nil
}

// pfPort is a port number or a service name of /etc/services.
func pfPort(w string, protos []string) (int, error) {
	if n, err := strconv.Atoi(w); err == nil {
		if n < 1 || n > 65535 {
			return 0, fmt.Errorf("illegal port value %d", n)
		}
		return n, nil
	}
	proto := "tcp"
	if len(protos) > 0 {
		proto = protos[0]
	}
	if w != "" && w[0] >= 'a' && w[0] <= 'z' {
		if n, err := net.LookupPort(proto, w); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("unknown port %s", w)
}

// ifaceName is an interface name nftables can be given quoted.
func ifaceName(s string) bool {
	if s == "" || len(s) > 15 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// pfRulesets are the rulesets of a state in the order their translation
// rules apply: the main ruleset, then the anchors by name.
func pfRulesets(s pfState) []string {
	names := make([]string, 0, len(s.Anchors))
	for n := range s.Anchors {
		names = append(names, n)
	}
	sort.Strings(names) // "" (the main ruleset) first
	return names
}

// anchorLines are an anchor's stored rules as lines for the parser.
func anchorLines(anchor string, rules []string) []pfLine {
	name := anchor
	if name == "" {
		name = "main ruleset"
	}
	lines := make([]pfLine, len(rules))
	for i, r := range rules {
		lines[i] = pfLine{file: name, num: i + 1, text: r}
	}
	return lines
}

// pfNftScript is the nft script that makes the table what the state says:
// the table removed and, when pf is enabled, made anew with a prerouting
// chain of the rdr rules and a postrouting chain of the nat rules.
// ifAddrs gives an interface's IPv4 addresses.
func pfNftScript(s pfState, ifAddrs func(string) []string) (string, error) {
	var b strings.Builder
	// Declaring the table first makes its deletion succeed when it does
	// not exist yet; all of the script is one transaction.
	fmt.Fprintf(&b, "table ip %s\ndelete table ip %s\n", nftTable, nftTable)
	if !s.Enabled {
		return b.String(), nil
	}
	var rdr, nat []string
	for _, anchor := range pfRulesets(s) {
		rules, err := parsePfRules(anchorLines(anchor, s.Anchors[anchor]))
		if err != nil {
			return "", err
		}
		for _, r := range rules {
			lines, err := r.nft(ifAddrs)
			if err != nil {
				return "", &pfError{r.line, err.Error()}
			}
			where := fmt.Sprintf("\t\t# %s:%d: %s\n", r.line.file, r.line.num, r.line.text)
			if r.kind == "rdr" {
				rdr = append(rdr, where)
				rdr = append(rdr, lines...)
			} else {
				nat = append(nat, where)
				nat = append(nat, lines...)
			}
		}
	}
	fmt.Fprintf(&b, "table ip %s {\n", nftTable)
	b.WriteString("\tchain rdr {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
	b.WriteString(strings.Join(rdr, ""))
	b.WriteString("\t}\n\tchain nat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	b.WriteString(strings.Join(nat, ""))
	b.WriteString("\t}\n}\n")
	return b.String(), nil
}

// nft is the rule's nftables rules (one per protocol), each a line of the
// chain; none when an interface it names has no IPv4 address (pf's rule
// then matches nothing).
func (r pfTransRule) nft(ifAddrs func(string) []string) ([]string, error) {
	var match []string
	if len(r.ifaces) > 0 {
		dir := "iifname"
		if r.kind == "nat" {
			dir = "oifname"
		}
		quoted := make([]string, len(r.ifaces))
		for i, n := range r.ifaces {
			quoted[i] = strconv.Quote(n)
		}
		match = append(match, dir+" "+nftSet(quoted))
	}
	for _, side := range []struct {
		key   string
		addrs []pfAddr
	}{{"ip saddr", r.from}, {"ip daddr", r.to}} {
		if len(side.addrs) == 0 {
			continue
		}
		var cidrs []string
		for _, a := range side.addrs {
			cidrs = append(cidrs, a.resolve(ifAddrs)...)
		}
		if len(cidrs) == 0 {
			return nil, nil
		}
		match = append(match, side.key+" "+nftSet(cidrs))
	}
	var action string
	switch {
	case r.kind == "nat" && r.target.iface != "" && len(r.ifaces) == 1 && r.ifaces[0] == r.target.iface:
		// The outgoing interface's own address, followed as it changes.
		action = "masquerade"
	default:
		to := r.target.resolve(ifAddrs)
		if len(to) == 0 {
			return nil, nil
		}
		if r.kind == "nat" {
			action = "snat to " + to[0]
		} else if r.port != 0 {
			action = fmt.Sprintf("dnat to %s:%d", to[0], r.port)
		} else {
			action = "dnat to " + to[0]
		}
	}
	protos := r.protos
	if len(protos) == 0 {
		protos = []string{""}
	}
	var out []string
	for _, proto := range protos {
		m := append([]string(nil), match...)
		if proto != "" && r.fromPorts.lo == 0 && r.toPorts.lo == 0 {
			m = append(m, "meta l4proto "+proto)
		}
		for _, pp := range []struct {
			key string
			p   pfPorts
		}{{"sport", r.fromPorts}, {"dport", r.toPorts}} {
			switch {
			case pp.p.lo == 0:
			case pp.p.lo == pp.p.hi:
				m = append(m, fmt.Sprintf("%s %s %d", proto, pp.key, pp.p.lo))
			default:
				m = append(m, fmt.Sprintf("%s %s %d-%d", proto, pp.key, pp.p.lo, pp.p.hi))
			}
		}
		out = append(out, "\t\t"+strings.Join(append(m, action), " ")+"\n")
	}
	return out, nil
}

// resolve is the address as nftables takes it: itself, or its interface's
// IPv4 addresses (the first only for (IF:0)).
func (a pfAddr) resolve(ifAddrs func(string) []string) []string {
	if a.iface == "" {
		return []string{a.cidr}
	}
	addrs := ifAddrs(a.iface)
	if a.first && len(addrs) > 1 {
		addrs = addrs[:1]
	}
	return addrs
}

// nftSet is one value, or an anonymous set of several.
func nftSet(vals []string) string {
	if len(vals) == 1 {
		return vals[0]
	}
	return "{ " + strings.Join(vals, ", ") + " }"
}

// interfaceIPv4 are an interface's IPv4 addresses, none when it does not
// exist.
func interfaceIPv4(name string) []string {
	i, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	addrs, _ := i.Addrs()
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			out = append(out, n.IP.To4().String())
		}
	}
	return out
}

// inMachineNetns is whether this process runs in the network namespace
// of the machine whose state it uses.
func inMachineNetns() bool {
	p, err := statePath(machineNetnsFile)
	if err != nil {
		return false
	}
	want, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	self, err := os.Readlink("/proc/self/ns/net")
	return err == nil && self == strings.TrimSpace(string(want))
}

// applyPf makes the machine's nftables what pf's state says (nothing
// outside the machine).
func applyPf(s pfState) error {
	if !inMachineNetns() {
		return nil
	}
	script, err := pfNftScript(s, interfaceIPv4)
	if err != nil {
		return err
	}
	nft := hostPath("nft")
	if nft == "" {
		return fmt.Errorf("nft not found: pf's nat and rdr rules are applied as nftables rules (apt-get install nftables)")
	}
	c := exec.Command(nft, "-f", "-")
	c.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}
