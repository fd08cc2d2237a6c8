package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

const prepareHelp = `pot prepare [-hvS] -p pot -U URL -t tag -a aID -n potname -c cmd
            [-e [proto:]port[:pot_port]] [-N network-type]
            [-i ipaddr] [-B bridge-name] [-C pubkey]
  -h print this help
  -h verbose
  -p pot : the pot image
  -U URL : the base URL where to find the image file
  -t tag : the tag of the pot
  -a aID : the allocation ID
  -n potname : the new potname (used instead of pot_tag)
  -c cmd : the command line to start the container
  -N network-type : new network type of the imported pot
  -i ipaddr : an ip address or the keyword auto (if applicable)
  -e [proto:]port[:pot_port] : port(s) to export
         This option can be repeated to export multiple ports.
         See ` + "`pot help export-ports`" + ` for details.
  -B bridge-name : the name of the private bridge to be used
  -S network-stack : the network stack (ipv4, ipv6 or dual)
  -d dns : change pot dns resolver configuration, one of
           inherit       - inherit from jailhost
           pot           - the pot configured in POT_DNS_NAME
           custom:<file> - copy <file> into pot configuration
           off           - leave resolver config unaltered
  -s : start the newly generated pot immediately
  -C pubkey : verify with public key 'pubkey' using signify(1)
              on pot import
`

const createHelpText = `pot create [-hv] -p potname [-N network-type] [-i ipaddr] [-l lvl] [-f flavour]
  [-b base | -P basepot ] [-d dns] [-t type]
`

// cmdPrepare is prepare.sh: import the image once, clone it, configure the
// clone for an orchestrator.
func cmdPrepare(args []string) int {
	lockGlobal()
	var pname, url, tag, cmd, alloc, tpname, ntype, bridge, stack, dns string
	var ports []string
	var ipList []string
	autoStart := false
	pubkey := ""
	opts, _ := getopts(args, "hvp:U:t:c:e:a:n:sN:i:B:S:d:C:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(prepareHelp)
			exit(0)
		case 'v':
			verbosity++
		case 'p':
			pname = o.arg
		case 'U':
			url = o.arg
		case 't':
			tag = o.arg
		case 'c':
			cmd = o.arg
		case 'a':
			alloc = o.arg
		case 'n':
			tpname = o.arg
		case 'e':
			if !isExportPortValid(o.arg) {
				errorf("%s is not a valid port number", o.arg)
				printHelp(prepareHelp)
				exit(1)
			}
			ports = append(ports, strings.Fields(o.arg)...)
		case 's':
			autoStart = true
		case 'N':
			ntype = o.arg
			if ntype == "host" {
				ntype = "inherit"
			}
			if !inList(ntype, potNetworkTypes) {
				errorf("Network type %s not recognized", ntype)
				printHelp(prepareHelp)
				exit(1)
			}
		case 'B':
			bridge = o.arg
		case 'i':
			ipList = append(ipList, strings.Fields(o.arg)...)
		case 'S':
			if !inList(o.arg, []string{"ipv4", "ipv6", "dual"}) {
				errorf("Network stack %s not valid", o.arg)
				printHelp(createHelpText)
				exit(1)
			}
			stack = o.arg
		case 'd':
			switch {
			case o.arg == "inherit" || o.arg == "pot" || o.arg == "off":
				dns = o.arg
			case strings.HasPrefix(o.arg, "custom:"):
				if !isReadable(strings.TrimPrefix(o.arg, "custom:")) {
					errorf("The file %s is not valid or readable", strings.TrimPrefix(o.arg, "custom:"))
					exit(1)
				}
				dns = o.arg
			default:
				// pot prints ${OPTART}, a typo, hence the empty name.
				errorf("'' is not a valid dns option")
				printHelp(prepareHelp)
				exit(1)
			}
		case 'C':
			pubkey = o.arg
		default:
			printHelp(prepareHelp)
			exit(1)
		}
	}
	mandatory(pname, "A pot name is mandatory", prepareHelp)
	mandatory(tag, "A tag is mandatory", prepareHelp)
	mandatory(alloc, "An allocation id is mandatory", prepareHelp)
	if ntype == "private-bridge" && bridge == "" {
		errorf("A bridge name has to be provided if private-bridge is selected as network-type")
		printHelp(prepareHelp)
		exit(1)
	}
	imported := strings.ReplaceAll(pname+"_"+tag, ".", "_")
	if tpname == "" {
		tpname = imported
	}
	newName := strings.ReplaceAll(tpname+"_"+alloc, ".", "_")
	if isPot(newName, true) {
		errorf("A pot with name %s already exists", newName)
		printHelp(prepareHelp)
		exit(1)
	}
	if !isPot(imported, true) {
		// pot-cmd import runs in prepare's own shell: its exit ends prepare.
		if cmdImport([]string{"-U", url, "-t", tag, "-p", pname, "-C", pubkey}) != 0 {
			errorf("pot import failed")
			exit(1)
		}
		if !isPot(imported, true) {
			errorf("imported pot is weirdly not found after import - cannot proceed")
			cmdDestroy([]string{"-p", imported})
			exit(1)
		}
	} else {
		debugf("pot %s already imported - reusing it", imported)
	}
	cloneArgs := []string{"-P", imported, "-p", newName}
	if ntype != "" {
		cloneArgs = append(cloneArgs, "-N", ntype)
	}
	if ntype == "private-bridge" {
		cloneArgs = append(cloneArgs, "-B", bridge)
	}
	for _, ip := range ipList {
		cloneArgs = append(cloneArgs, "-i", ip)
	}
	if stack != "" {
		cloneArgs = append(cloneArgs, "-S", stack)
	}
	if dns != "" {
		cloneArgs = append(cloneArgs, "-d", dns)
	}
	if cmdClone(cloneArgs) != 0 {
		errorf("Not able to clone imported pot as %s", newName)
	}
	if cmd != "" {
		if cmdSetCmd([]string{"-p", newName, "-c", cmd}) != 0 {
			errorf("Couldn't set the command %s ot the pot - ignoring", cmd)
		}
	}
	attrs := []struct{ attr, value, failure string }{
		{"persistent", "OFF", "Couldn't disable the persistent attribute - ignoring"},
		{"no-rc-script", "ON", "Couldn't enable the no-rc-script attribute - ignoring"},
		{"prunable", "ON", "Couldn't enable the no-rc-script attribute - ignoring"},
		{"localhost-tunnel", "YES", "Couldn't enable the localhost-tunnel attribute - ignoring"},
		{"no-etc-hosts", "YES", "Couldn't disable the enrichment of /etc/hosts - ignoring"},
		{"no-tmpfs", "YES", "Couldn't disable tmpfs for /tmp - ignoring"},
	}
	for _, a := range attrs {
		if cmdSetAttribute([]string{"-A", a.attr, "-V", a.value, "-p", newName}) != 0 {
			errorf("%s", a.failure)
		}
	}
	if len(ports) > 0 {
		// prepare builds "-e P $args" in a loop: the order is reversed.
		portArgs := []string{"-p", newName}
		for i := len(ports) - 1; i >= 0; i-- {
			portArgs = append(portArgs, "-e", ports[i])
		}
		if cmdExportPorts(portArgs) != 0 {
			errorf("Couldn't export ports %s - ignoring", strings.Join(ports, " "))
		}
	}
	if autoStart {
		debugf("Auto starting the pot %s", newName)
		if cmdStart([]string{newName}) != 0 {
			errorf("pot %s failed to start", newName)
			cmdStop([]string{newName})
			exit(1)
		}
	} else {
		infof("Prepared the pot %s", newName)
	}
	return 0
}

const importHelp = `pot import [-hv] -p pot -t tag -U URL [-C pubkey]
  -h print this help
  -v verbose
  -p pot : the remote pot name
  -t tag : the tag of the pot
  -U URL : the base URL where to find the image file
  -C pubkey : verify with public key 'pubkey' using signify(1)
`

// cmdImport is import.sh: fetch IMAGE_TAG.xz and check it against its
// .skein (and, given -C, the .skein's signature), all kept in the cache
// folder as pot keeps them in POT_CACHE, and make the pot IMAGE_TAG from
// it. potsim has no pot.conf: its POT_DEFAULT_SIGNATURE_PUBKEY is pot's
// default, none, so only -C asks for a signature.
func cmdImport(args []string) int {
	lockGlobal()
	var rpname, tag, url, pubkey string
	opts, _ := getopts(args, "hvp:t:U:C:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(importHelp)
			exit(0)
		case 'v':
			verbosity++
		case 'p':
			rpname = o.arg
		case 't':
			tag = o.arg
		case 'U':
			if o.arg == "" {
				errorf("Argument of -U cannot be empty")
				printHelp(importHelp)
				exit(1)
			}
			url = o.arg
		case 'C':
			pubkey = o.arg
		default:
			printHelp(importHelp)
			exit(1)
		}
	}
	mandatory(rpname, "A remote pot name is mandatory", importHelp)
	mandatory(tag, "A tag name is mandatory", importHelp)
	pname := strings.ReplaceAll(rpname+"_"+tag, ".", "_")
	if isPot(pname, true) {
		errorf("pot %s is already present", pname)
		printHelp(importHelp)
		exit(1)
	}
	// Also keeps the image's files (the same name, dots kept) inside
	// the cache folder.
	if !safeName(pname) {
		errorf("%s is not a valid name for a pot", pname)
		exit(1)
	}
	if pubkey != "" {
		if !isReadable(pubkey) {
			errorf("Public key %s not found", pubkey)
			exit(1)
		}
		if signifyProgram() == "" {
			errorf("Could not find 'signify', try 'pkg install signify'")
			exit(1)
		}
	}
	infof("importing %s @ %s as %s", rpname, tag, pname)
	filename := rpname + "_" + tag + ".xz"
	if !fetchPot(url, filename, pubkey) {
		exit(1)
	}
	cached := filepath.Join(cacheDir(), filename)
	infof("Pot %s has no dependencies", pname)
	if err := importPot(pname, cached, url); err != nil {
		errorf("%v", err)
		os.RemoveAll(jailDir(pname))
		_ = datasetsDestroyed(pname)
		exit(1)
	}
	return 0
}

// importPot creates the pot pname from the image file, as `zfs receive`
// followed by import.sh's pot.conf modifications.
func importPot(pname, image, url string) error {
	jdir := jailDir(pname)
	if err := os.MkdirAll(filepath.Join(jdir, "conf"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(jdir, "m"), 0o755); err != nil {
		return err
	}
	if err := unpackImage(image, jdir); err != nil {
		return fmt.Errorf("cannot unpack the image %s: %v", image, err)
	}
	for _, d := range []string{"tmp", "etc", "root"} {
		p := filepath.Join(jdir, "m", d)
		if !fileExists(p) {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			if d == "tmp" {
				_ = os.Chmod(p, 0o777|os.ModeSticky)
			}
		}
	}
	if !fileExists(confFile(pname)) {
		if err := os.WriteFile(confFile(pname), []byte(defaultImageConf()), 0o644); err != nil {
			return err
		}
	}
	if !fileExists(fscompFile(pname)) {
		if err := os.WriteFile(fscompFile(pname), nil, 0o644); err != nil {
			return err
		}
	}
	host, _ := os.Hostname()
	if err := confDeleteLines(pname, "^host.hostname=.*"); err != nil {
		return err
	}
	if err := confAppend(pname, `host.hostname="`+pname+"."+host+"."+host+`"`); err != nil {
		return err
	}
	switch networkType(pname) {
	case "alias":
		errorf("Static IP not supported by import. Moving the pot to the internal network")
		if err := replaceConfLines(pname, "^vnet=.*$", "vnet=true"); err != nil {
			return err
		}
		ip, err := nextIP(publicNet())
		if err != nil {
			return err
		}
		if err := replaceConfLines(pname, "^ip=.*$", "ip="+ip); err != nil {
			return err
		}
		infof("Assigning new IP: %s", ip)
	case "public-bridge":
		ip, err := nextIP(publicNet())
		if err != nil {
			return err
		}
		if err := replaceConfLines(pname, "^ip=.*$", "ip="+ip); err != nil {
			return err
		}
		infof("Assigning new IP: %s", ip)
	}
	if err := datasetsImported(pname); err != nil {
		return err
	}
	// potsim's own record of where the image came from (not in pot.conf,
	// so that clones do not copy it).
	return os.WriteFile(filepath.Join(confDir(pname), ".potsim_import"), []byte("url="+url+"\nimage="+image+"\n"), 0o644)
}

// replaceConfLines is `sed -i ” -e "s%PATTERN%REPL%" pot.conf`.
func replaceConfLines(name, pattern, repl string) error {
	r := regexp.MustCompile(pattern)
	lines := readLines(confFile(name))
	var b strings.Builder
	for _, l := range lines {
		if r.MatchString(l) {
			l = repl
		}
		b.WriteString(l + "\n")
	}
	return writeFileAtomic(confFile(name), []byte(b.String()), 0o644)
}

// defaultImageConf is the pot.conf of an image that does not bring its
// own: what `pot create -t single` writes for an inherit pot.
func defaultImageConf() string {
	var b strings.Builder
	b.WriteString("pot.level=0\npot.type=single\npot.base=14.1\npot.potbase=\npot.dns=inherit\npot.cmd=sh /etc/rc\n")
	b.WriteString("host.hostname=\"image\"\nosrelease=\"14.1-RELEASE\"\n")
	b.WriteString("pot.attr.no-rc-script=NO\npot.attr.persistent=YES\npot.attr.start-at-boot=NO\npot.attr.prunable=NO\npot.attr.no-tmpfs=NO\n")
	for _, a := range potJailRWAttributes {
		b.WriteString("pot.attr." + a + "=" + jailAttrs[a].def + "\n")
	}
	b.WriteString("pot.stack=ipv4\nnetwork_type=inherit\nvnet=false\n")
	return b.String()
}

const cloneHelp = `pot clone [-hvF] -p potname -P basepot [-i ipaddr]
  -h print this help
  -v verbose
  -k keep the pot, if clone fails
  -P potname : the pot to be cloned (template)
  -s snapshot : the snapshot to be used to clone
  -p potname : the name of the pot that is created
  -f flavour : flavour to be used
  -N network-type : new network type of the cloned pot
  -i ipaddr : an ip address or the keyword auto (if applicable)
  -B bridge-name : the name of the private bridge to be used
  -S network-stack : the network stack (ipv4, ipv6 or dual)
  -d dns : change pot dns resolver configuration, one of
           inherit       - inherit from jailhost
           pot           - the pot configured in POT_DNS_NAME
           custom:<file> - copy <file> into pot configuration
           off           - leave resolver config unaltered
  -F : automatically take snapshots of dataset that has none
`

// cmdClone is clone.sh: a new pot from a copy of another one's file system.
func cmdClone(args []string) int {
	lockGlobal()
	var pname, potbase, ntype, bridge, stack, dns, ipaddr string
	keep := false
	opts, _ := getopts(args, "hvp:i:P:FN:B:S:f:ks:d:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(cloneHelp)
			exit(0)
		case 'v':
			verbosity++
		case 'k':
			keep = true
		case 'p':
			if strings.Contains(o.arg, ".") {
				errorf("%s is not a valid name for a pot ('.' is the only character not allowed)", o.arg)
				exit(1)
			}
			pname = o.arg
		case 'N':
			if !inList(o.arg, potNetworkTypes) {
				errorf("Network type %s not recognized", o.arg)
				printHelp(cloneHelp)
				exit(1)
			}
			ntype = o.arg
		case 'i':
			if ipaddr == "" {
				ipaddr = o.arg
			} else {
				ipaddr += " " + o.arg
			}
		case 'P':
			potbase = o.arg
		case 's':
			errorf("snapshot %s not found", o.arg)
			printHelp(cloneHelp)
			exit(1)
		case 'B':
			bridge = o.arg
		case 'S':
			if !inList(o.arg, []string{"ipv4", "ipv6", "dual"}) {
				errorf("Network stack %s not valid", o.arg)
				printHelp(createHelpText)
				exit(1)
			}
			stack = o.arg
		case 'F':
		case 'f':
			errorf("Flavour %s not found", o.arg)
			exit(1)
		case 'd':
			switch {
			case o.arg == "inherit" || o.arg == "pot" || o.arg == "off":
				dns = o.arg
			case strings.HasPrefix(o.arg, "custom:"):
				if !isReadable(strings.TrimPrefix(o.arg, "custom:")) {
					errorf("The file %s is not valid or readable", strings.TrimPrefix(o.arg, "custom:"))
					exit(1)
				}
				dns = o.arg
			default:
				errorf("'%s' is not a valid dns option", o.arg)
				printHelp(cloneHelp)
				exit(1)
			}
		default:
			printHelp(cloneHelp)
			exit(1)
		}
	}
	_ = keep
	mandatory(pname, "pot name is missing (option -p)", cloneHelp)
	mandatory(potbase, "reference pot name is missing (option -P)", cloneHelp)
	if !isPot(potbase, true) {
		errorf("reference pot %s not found", potbase)
		printHelp(cloneHelp)
		exit(1)
	}
	if !safeName(pname) {
		errorf("%s is not a valid name for a pot", pname)
		exit(1)
	}
	if isPot(pname, true) {
		errorf("pot %s already exists", pname)
		printHelp(cloneHelp)
		exit(1)
	}
	if ntype == "" {
		ntype = networkType(potbase)
		if ntype == "" {
			errorf("Configuration file for %s contains obsolete elements", potbase)
			errorf("Please run pot update-config -p %s to fix", potbase)
			exit(1)
		}
	}
	if stack == "" {
		stack = potNetworkStack(potbase)
	}
	ip, ok := validateNetworkParam(ntype, ipaddr, bridge, stack)
	if !ok {
		printHelp(cloneHelp)
		exit(1)
	}
	if dns == "" {
		dns = getConfVar(potbase, "pot.dns")
	}
	lvl := getConfVar(potbase, "pot.level")
	typ := getConfVar(potbase, "pot.type")
	if lvl == "0" && typ != "single" {
		errorf("Level 0 pots cannot be cloned")
		printHelp(cloneHelp)
		exit(1)
	}
	if err := clonePot(pname, potbase, ntype, ip, bridge, stack, dns); err != nil {
		errorf("%v", err)
		if !keep {
			os.RemoveAll(jailDir(pname))
			_ = datasetsDestroyed(pname)
		}
		exit(1)
	}
	return 0
}

// validateNetworkParam is network.sh's _validate_network_param; it returns
// the address to store.
func validateNetworkParam(ntype, ipaddr, bridge, stack string) (string, bool) {
	if stack == "" {
		stack = networkStack
	}
	switch ntype {
	case "inherit":
		return "", true
	case "alias":
		if ipaddr == "" {
			errorf("option -i is mandatory with network type is alias")
			return "", false
		}
		if ipaddr == "auto" {
			errorf("-i auto not usable with network type alias - a real IP address has to be provided")
			return "", false
		}
		if !validateAliasIPAddr(ipaddr, stack) {
			errorf("%s is not a valid alias configuration", ipaddr)
			return "", false
		}
		return ipaddr, true
	case "public-bridge":
		return bridgeAddress(publicNet(), ipaddr,
			fmt.Sprintf("The %s IP is not valid - run potnet validate -H %s for more information", ipaddr, ipaddr))
	case "private-bridge":
		if stack == "ipv6" {
			errorf("private-bridge network type is not supported on ipv6 stack only")
			return "", false
		}
		if bridge == "" {
			errorf("private-bridge network type requires -B option, to specify which private bridge to use")
			return "", false
		}
		if !isBridge(bridge, false) {
			errorf("bridge %s is not valid. Have you already created it?", bridge)
			return "", false
		}
		n, err := bridgeNet(bridge)
		if err != nil {
			errorf("%v", err)
			return "", false
		}
		return bridgeAddress(n, ipaddr,
			fmt.Sprintf("The %s IP is not valid for bridge %s - run potnet validate -H %s -b %s for more information", ipaddr, bridge, ipaddr, bridge))
	}
	errorf("Network type %s not recognized", ntype)
	return "", false
}

// bridgeAddress is a bridge pot's address: the next free one for "auto"
// (or none given), else ipaddr if it belongs to the bridge's network.
func bridgeAddress(n ipNet, ipaddr, invalidMsg string) (string, bool) {
	if ipaddr == "auto" || ipaddr == "" {
		ip, err := nextIP(n)
		if err != nil {
			errorf("%v", err)
			return "", false
		}
		return ip, true
	}
	if !validateIP(n, ipaddr) {
		errorf("%s", invalidMsg)
		return "", false
	}
	return ipaddr, true
}

// usableHostname is _get_usable_hostname.
func usableHostname(pname string) string {
	host, _ := os.Hostname()
	if len(pname) > hostnameMaxLn {
		return pname[:hostnameMaxLn]
	}
	if h := pname + "." + host; len(h) <= hostnameMaxLn {
		return h
	}
	return pname
}

var cloneExcluded = regexp.MustCompile(`^(host.hostname|bridge|ip|vnet|network_type|pot.stack|pot.dns)`)

// clonePot is clone.sh's _cj_zfs and _cj_conf: a copy of the file system
// (pot clones a ZFS snapshot) and the new pot.conf.
func clonePot(pname, potbase, ntype, ip, bridge, stack, dns string) error {
	pdir := jailDir(pname)
	pbdir := jailDir(potbase)
	if err := os.MkdirAll(filepath.Join(pdir, "conf"), 0o755); err != nil {
		return err
	}
	if err := copyTree(filepath.Join(pbdir, "m"), filepath.Join(pdir, "m")); err != nil {
		return fmt.Errorf("cannot clone the file system of %s: %v", potbase, err)
	}
	if err := copyFile(fscompFile(potbase), fscompFile(pname)); err != nil {
		if err := os.WriteFile(fscompFile(pname), nil, 0o644); err != nil {
			return err
		}
	}
	potdns := dns
	if strings.HasPrefix(dns, "custom:") {
		if err := copyFile(strings.TrimPrefix(dns, "custom:"), filepath.Join(pdir, "conf", "resolv.conf")); err != nil {
			return err
		}
		potdns = "custom"
	}
	var b strings.Builder
	for _, l := range readLines(confFile(potbase)) {
		if !cloneExcluded.MatchString(l) {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString(`host.hostname="` + usableHostname(pname) + "\"\n")
	b.WriteString("pot.stack=" + stack + "\n")
	b.WriteString("network_type=" + ntype + "\n")
	switch ntype {
	case "inherit":
		b.WriteString("vnet=false\n")
	case "alias":
		b.WriteString("vnet=false\nip=" + ip + "\n")
	case "public-bridge":
		b.WriteString("vnet=true\nip=" + ip + "\n")
	case "private-bridge":
		b.WriteString("vnet=true\nip=" + ip + "\nbridge=" + bridge + "\n")
	}
	b.WriteString("pot.dns=" + potdns + "\n")
	if err := os.WriteFile(confFile(pname), []byte(b.String()), 0o644); err != nil {
		return err
	}
	// potsim's record of what ZFS keeps as the origin of NAME/m (the
	// snapshot of the base pot it was cloned from): not in pot.conf.
	if err := os.WriteFile(originFile(pname), []byte(potbase+"\n"), 0o644); err != nil {
		return err
	}
	if err := datasetsCloned(pname, potbase); err != nil {
		return err
	}
	for _, f := range []string{"prestart.sh", "prestop.sh", "poststart.sh", "poststop.sh", "resolv.conf"} {
		src := filepath.Join(pbdir, "conf", f)
		if fileExists(src) {
			if err := copyFile(src, filepath.Join(pdir, "conf", f)); err != nil {
				return err
			}
		}
	}
	return nil
}
