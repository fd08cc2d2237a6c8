package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Attributes, as in common.sh.
var (
	potRWAttributes     = strings.Fields("start-at-boot early-start-at-boot persistent no-rc-script prunable localhost-tunnel no-tmpfs no-etc-hosts")
	potROAttributes     = strings.Fields("to-be-pruned")
	potJailRWAttributes = strings.Fields("enforce_statfs mount fdescfs linprocfs nullfs procfs tmpfs zfs raw_sockets sysvshm sysvsem sysvmsg children mlock devfs_ruleset exec_stop stop_timeout")
	potNetworkTypes     = strings.Fields("inherit alias public-bridge private-bridge")
)

// jailAttr describes a jail attribute: its jail(8) parameter, type and default.
type jailAttr struct{ param, typ, def string }

var jailAttrs = map[string]jailAttr{
	"mount":          {"allow.mount", "bool", "NO"},
	"fdescfs":        {"mount.fdescfs", "bool", "NO"},
	"linprocfs":      {"allow.mount.linprocfs", "bool", "NO"},
	"nullfs":         {"allow.mount.nullfs", "bool", "NO"},
	"procfs":         {"mount.procfs", "bool", "NO"},
	"tmpfs":          {"allow.mount.tmpfs", "bool", "NO"},
	"zfs":            {"allow.mount.zfs", "bool", "NO"},
	"raw_sockets":    {"allow.raw_sockets", "bool", "NO"},
	"sysvshm":        {"sysvshm", "sysvopt", "new"},
	"sysvsem":        {"sysvsem", "sysvopt", "new"},
	"sysvmsg":        {"sysvmsg", "sysvopt", "new"},
	"children":       {"children.max", "uint", "0"},
	"devfs_ruleset":  {"devfs_ruleset", "uint", "4"},
	"mlock":          {"allow.mlock", "bool", "NO"},
	"exec_stop":      {"exec.stop", "string", ""},
	"stop_timeout":   {"stop.timeout", "uint", "10"},
	"enforce_statfs": {"enforce_statfs", "uint", "2"},
}

func inList(v string, list []string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// --- version

const versionHelp = `pot version [-hvq]
  -h print this help
  -v verbose
  -q quiet
`

func cmdVersion(args []string) int {
	quiet := false
	opts, _ := getopts(args, "hvq")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(versionHelp)
			return 0
		case 'v':
			verbosity++
		case 'q':
			quiet = true
		default:
			printHelp(versionHelp)
			return 1
		}
	}
	if quiet {
		fmt.Println(potVersion)
		return 0
	}
	fmt.Println("pot version: " + potVersion)
	return 0
}

// --- config

var configNames = strings.Fields("fs_root zfs_root gateway syslogd pot_prefix fscomp_prefix network_stack")

func configHelp() string {
	names := append([]string(nil), configNames...)
	var lines []string
	for _, n := range names {
		lines = append(lines, "     + "+n)
	}
	sort.Strings(lines)
	return "pot config [-hvq] [-g name]\n  -h print this help\n  -v verbose\n  -q quiet\n  -g name : get value of config item \"name\", one of:\n" +
		strings.Join(lines, "\n") + "\n"
}

func cmdConfig(args []string) int {
	quiet := false
	get := ""
	opts, _ := getopts(args, "hvqg:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(configHelp())
			return 0
		case 'v':
			verbosity++
		case 'q':
			quiet = true
		case 'g':
			if inList(o.arg, configNames) {
				get = o.arg
			} else {
				qerrorf(quiet, "%s is not a valid name", o.arg)
				if !quiet {
					printHelp(configHelp())
				}
				return 1
			}
		default:
			printHelp(configHelp())
			return 1
		}
	}
	if get == "" {
		qerrorf(quiet, "option -g is mandatory")
		if !quiet {
			printHelp(configHelp())
		}
		return 1
	}
	echo := func(label, value string) {
		if quiet {
			fmt.Println(value)
		} else {
			fmt.Printf("%s = %s\n", label, value)
		}
	}
	switch get {
	case "fs_root":
		echo("fs_root", root)
	case "zfs_root":
		echo("zfs_root", zfsRoot)
	case "gateway":
		echo("gateway", potGateway)
	case "syslogd":
		echo("syslogd flags", "-b 127.0.0.1 -b "+potGateway+" -a "+potNetwork)
	case "pot_prefix":
		echo("pot prefix", root+"/jails")
	case "fscomp_prefix":
		echo("fscomp prefix", root+"/fscomp")
	case "network_stack":
		echo("network stack", networkStack)
	}
	return 0
}

// --- info

const infoHelp = `pot info [-hvqr] [-p pname|-B bname]
  -h print this help
  -v verbose
  -q quiet
  -p pname : pot name
  -B bname : bridge name
  -r check only if the pot is running
  -E output some pot information as environment variables
  -s list the available snapshots for the pot
`

func cmdInfo(args []string) int {
	var pname, bname string
	quiet, runOnly, envOut, snaps := false, false, false, false
	opts, _ := getopts(args, "hvqp:rB:Es")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(infoHelp)
			return 0
		case 'v':
			verbosity++
		case 'q':
			quiet = true
		case 'p':
			pname = o.arg
		case 'B':
			bname = o.arg
		case 'r':
			runOnly = true
		case 'E':
			envOut = true
		case 's':
			snaps = true
		default:
			printHelp(infoHelp)
			return 1
		}
	}
	if pname == "" && bname == "" {
		errorf("Option -p or -b are mandatory")
		printHelp(infoHelp)
		return 1
	}
	if pname != "" && bname != "" {
		errorf("Option -p and -b are mutually exclusive")
		printHelp(infoHelp)
		return 1
	}
	if quiet && verbosity > sevInfo {
		errorf("Option -q and -v are mutually exclusive")
		printHelp(infoHelp)
		return 1
	}
	if envOut && pname == "" {
		errorf("Environment variable output available for pot only")
		printHelp(infoHelp)
		return 1
	}
	if bname != "" && snaps {
		infof("Bridges has no snapshots - -s ignored")
		snaps = false
	}
	if pname != "" {
		if !isPot(pname, true) {
			qerrorf(quiet, "%s is not a pot", pname)
			printHelp(infoHelp)
			return 1
		}
		if runOnly {
			if isRunning(pname) {
				return 0
			}
			return 1
		}
		if quiet {
			return 0
		}
		switch {
		case snaps:
			// potsim pots have no ZFS snapshots
		case envOut:
			for _, l := range potEnvLines(pname) {
				fmt.Println(l)
			}
		default:
			printPotInfo(pname)
		}
	}
	if bname != "" {
		if !isBridge(bname, true) {
			qerrorf(quiet, "%s is not a bridge", bname)
			return 1
		}
		if quiet {
			return 0
		}
		for _, l := range readLines(bridgeFile(bname)) {
			fmt.Println(l)
		}
	}
	return 0
}

// potEnvLines is info.sh's _info_pot_env: the `pot info -E` lines.
func potEnvLines(name string) []string {
	out := []string{"export _POT_NAME=" + name}
	ntype := networkType(name)
	if ntype != "alias" {
		out = append(out, "export _POT_IP="+getIPVar(name))
	} else {
		all := getIPVar(name) + " "
		ips := aliasIPv4(name, all) + " " + aliasIPv6(name, all)
		idx := 0
		ipvars, nicvars := "", ""
		for _, ip := range strings.Fields(ips) {
			nic := ip
			if i := strings.IndexByte(ip, '|'); i >= 0 {
				nic = ip[:i]
			}
			if i := strings.LastIndexByte(ip, '|'); i >= 0 {
				ip = ip[i+1:]
			}
			if idx == 0 {
				out = append(out, "export _POT_IP="+ip)
				ipvars = "_POT_IP_0"
				nicvars = "_POT_NIC_0"
			} else {
				ipvars += `\ _POT_IP_` + strconv.Itoa(idx)
				nicvars += `\ _POT_NIC_` + strconv.Itoa(idx)
			}
			out = append(out, fmt.Sprintf("export _POT_IP_%d=%s", idx, ip))
			out = append(out, fmt.Sprintf("export _POT_NIC_%d=%s", idx, nic))
			idx++
		}
		out = append(out, "export _POT_IP_LIST="+ipvars)
		out = append(out, "export _POT_NIC_LIST="+nicvars)
	}
	if ntype == "private-bridge" {
		out = append(out, "export _POT_BRIDGE="+getConfVar(name, "bridge"))
	}
	if isRunning(name) {
		if st, err := loadJail(name); err == nil {
			out = append(out, "export _POT_JID="+strconv.Itoa(st.JID))
		}
	}
	return out
}

// printPotInfo is info.sh's _info_pot.
func printPotInfo(name string) {
	lvl := getConfVar(name, "pot.level")
	typ := getConfVar(name, "pot.type")
	fmt.Printf("pot name : %s\n", name)
	fmt.Printf("\ttype : %s\n", typ)
	fmt.Printf("\tbase : %s\n", getConfVar(name, "pot.base"))
	fmt.Printf("\tlevel : %s\n", lvl)
	if lvl == "2" {
		fmt.Printf("\tbase pot : %s\n", getConfVar(name, "pot.potbase"))
	}
	ntype := networkType(name)
	fmt.Printf("\tnetwork_type : %s\n", ntype)
	if ntype != "inherit" {
		fmt.Printf("\tip : %s\n", getIPVar(name))
		if ntype == "private-bridge" {
			fmt.Printf("\tbridge : %s\n", getConfVar(name, "bridge"))
		}
		if verbosity > sevInfo {
			if p := getExportPorts(name); p == "" {
				fmt.Printf("\t\tno ports exported\n")
			} else {
				fmt.Printf("\t\texported ports: %s\n", p)
			}
		}
	}
	if isRunning(name) {
		fmt.Printf("\tactive : true\n")
	} else {
		fmt.Printf("\tactive : false\n")
	}
	if verbosity > sevInfo {
		fmt.Printf("\tdatasets:\n")
		if typ == "single" {
			fmt.Printf("\t\t%s\n", name+"/m")
		}
		for _, l := range readLines(fscompFile(name)) {
			f := strings.Fields(l)
			if len(f) >= 2 {
				fmt.Printf("\t\t%s => %s\n", strings.TrimPrefix(f[1], root+"/jails/"), strings.TrimPrefix(f[0], zfsRoot+"/"))
			}
		}
		fmt.Printf("\tsnapshots:\n")
		fmt.Printf("\t\tno snapshots\n")
	}
	fmt.Printf("\tattributes:\n")
	for _, a := range append(append([]string(nil), potRWAttributes...), potROAttributes...) {
		v := getConfVar(name, "pot.attr."+a)
		if v == "" {
			v = "NO"
		}
		fmt.Printf("\t\t%s: %s\n", a, v)
	}
	fmt.Printf("\tjail attributes:\n")
	for _, a := range potJailRWAttributes {
		v := getConfVar(name, "pot.attr."+a)
		if v == "" {
			v = jailAttrs[a].def
		}
		if v == "" {
			v = "NO"
		}
		fmt.Printf("\t\t%s: %s\n", a, v)
	}
	if verbosity > sevInfo {
		cpu := getConfVar(name, "pot.rss.cpus")
		mem := getConfVar(name, "pot.rss.memory")
		if cpu+mem != "" {
			fmt.Printf("\tresource limits:\n")
			if cpu != "" {
				fmt.Printf("\t\tmax amount cpus: %s\n", cpu)
			}
			if mem != "" {
				fmt.Printf("\t\tmax amount memory: %s\n", mem)
			}
		}
	}
	fmt.Println()
}

// --- list

const listHelp = `pot list [-hpbfFa] [-qv]
  -h print this help
  -v verbose
  -q quiet
  -p list pots (default)
  -b list bases instead of pots
  -f list fs components instead of pots
  -F list available flavours
  -B list available bridges (network type)
  -a list everything (incompatible with -q)
`

func cmdList(args []string) int {
	obj := "pots"
	quiet := false
	opts, _ := getopts(args, "hvbfFapqB")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(listHelp)
			return 0
		case 'v':
			verbosity++
		case 'q':
			quiet = true
		case 'p', 'b', 'f', 'F', 'B', 'a':
			if obj != "pots" {
				errorf("Options -b -p -f -F -B -a are mutually exclusive")
				printHelp(listHelp)
				return 1
			}
			obj = map[byte]string{'p': "ppots", 'b': "bases", 'f': "fscomp", 'F': "flavour", 'B': "bridges", 'a': "all"}[o.c]
		default:
			printHelp(listHelp)
			return 1
		}
	}
	if obj == "all" && quiet {
		errorf("Options -a and -q are incompatible")
		printHelp(listHelp)
		return 1
	}
	switch obj {
	case "pots", "ppots":
		lsPots(quiet)
	case "bridges":
		lsBridges(quiet)
	case "all":
		lsPots(false)
		lsBridges(false)
	}
	return 0
}

func lsPots(quiet bool) {
	pots := potList()
	if len(pots) == 0 {
		if !quiet {
			fmt.Println("No pot created yet...")
		}
		return
	}
	for _, p := range pots {
		if quiet {
			fmt.Println(p)
			continue
		}
		ntype := getConfVar(p, "network_type")
		fmt.Printf("pot name : %s\n", p)
		fmt.Printf("\tnetwork : %s\n", ntype)
		if ntype != "inherit" {
			fmt.Printf("\tip : %s\n", getIPVar(p))
		}
		if isRunning(p) {
			fmt.Printf("\tactive : true\n")
		} else {
			fmt.Printf("\tactive : false\n")
		}
		if verbosity > sevInfo {
			fmt.Printf("\tbase : %s\n", getConfVar(p, "pot.base"))
			fmt.Printf("\tlevel : %s\n", getConfVar(p, "pot.level"))
		}
		fmt.Println()
	}
}

func lsBridges(quiet bool) {
	entries, _ := os.ReadDir(bridgesDir())
	for _, e := range entries {
		if e.Type().IsRegular() {
			if quiet {
				fmt.Println(e.Name())
			} else {
				fmt.Println("bridge: " + e.Name())
			}
		}
	}
}

// --- ps

const psHelp = `pot ps [-hvq]
  -h print this help
  -v verbose
  -q quiet : only print pot names
`

func cmdPs(args []string) int {
	quiet := false
	opts, _ := getopts(args, "hvq")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(psHelp)
			return 0
		case 'v':
			verbosity++
		case 'q':
			quiet = true
		default:
			printHelp(psHelp)
			return 1
		}
	}
	if !quiet {
		if os.Geteuid() != 0 {
			infof("Need privileges to read internal network status")
		} else {
			infof("Internal network up")
		}
	}
	for _, p := range potList() {
		if isRunning(p) {
			fmt.Println(p)
		}
	}
	return 0
}

// --- init

const initHelp = `pot init [-hmsv] [-p pf_file]
  -h print this help
  -m minimal modifications (alias for ` + "`-sp ''`" + `)
  -p pf_file : write pot anchors to this file (empty to skip),
               defaults to result of ` + "`sysrc -n pf_rules`" + `
  -f pf_file : alias for -p pf_file (deprecated)
  -s do not alter syslogd config
  -v verbose
`

// cmdInit is init.sh: it makes the root and the folders potsim keeps below
// it (pot: the ZFS datasets bases, jails, fscomp, cache and the bridges
// folder). Run again, it says the root is already present and succeeds.
// pf, syslogd and rc.conf are left alone (not emulated).
func cmdInit(args []string) int {
	opts, _ := getopts(args, "hmsvf:p:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(initHelp)
			return 0
		case 'v':
			verbosity++
		case 'f', 'p', 'm', 's':
		default:
			printHelp(initHelp)
			return 1
		}
	}
	if initialised() {
		infof("%s already present", zfsRoot)
	} else {
		debugf("creating %s file system (mountpoint %s", zfsRoot, root)
	}
	if err := initRoot(); err != nil {
		errorf("Not able to create the dir %s", root)
		stderrf("mkdir: %v\n", err)
		return 1
	}
	return 0
}

// --- last-run-stats

const lastRunStatsHelp = `pot last-run-stats [-hv] [-p pname]
  -h print this help
  -v verbose
  -p pname : pot name
`

func cmdLastRunStats(args []string) int {
	pname := ""
	opts, _ := getopts(args, "hvp:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(lastRunStatsHelp)
			return 0
		case 'v':
			verbosity++
		case 'p':
			pname = o.arg
		default:
			printHelp(lastRunStatsHelp)
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(lastRunStatsHelp)
		return 1
	}
	if !isPot(pname, false) {
		errorf("%s is not a pot", pname)
		return 1
	}
	data, err := os.ReadFile(lastRunStatsFile(pname))
	if err != nil {
		fmt.Println("{}")
		return 0
	}
	os.Stdout.Write(data)
	return 0
}

// --- get-attribute

func attributeList(extra ...[]string) string {
	var all []string
	for _, l := range extra {
		all = append(all, l...)
	}
	var lines []string
	for _, a := range all {
		lines = append(lines, "     + "+a)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func getAttributeHelp() string {
	return "pot get-attribute [-hvq] -p pot -A attribute\n  -h print this help\n  -v verbose\n  -q quiet\n  -p pot : the working pot\n  -A attribute : get value of attribute, one of\n" +
		attributeList(potRWAttributes, potROAttributes, potJailRWAttributes)
}

func cmdGetAttribute(args []string) int {
	var pname, attr string
	quiet := false
	opts, _ := getopts(args, "hvqp:A:V:")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(getAttributeHelp())
			return 0
		case 'v':
			verbosity++
		case 'q':
			quiet = true
		case 'p':
			pname = o.arg
		case 'A':
			attr = o.arg
		case 'V':
		default:
			printHelp(getAttributeHelp())
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(getAttributeHelp())
		return 1
	}
	if attr == "" {
		errorf("Option -A is mandatory")
		printHelp(getAttributeHelp())
		return 1
	}
	if !isPot(pname, quiet) {
		if !quiet {
			errorf("%s is not a valid pot", pname)
			printHelp(getAttributeHelp())
		}
		return 1
	}
	if !inList(attr, potRWAttributes) && !inList(attr, potROAttributes) && !inList(attr, potJailRWAttributes) {
		errorf("%s is not a valid attribute", attr)
		printHelp(getAttributeHelp())
		return 1
	}
	v := getConfVar(pname, "pot.attr."+attr)
	if quiet {
		fmt.Println(v)
	} else if v == "" {
		infof("The attribute %s is not set for the pot %s", attr, pname)
	} else {
		infof("%s: %s", attr, v)
	}
	return 0
}
