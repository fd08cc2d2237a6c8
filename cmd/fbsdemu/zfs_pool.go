package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// zfsCreatePool makes pool name with its root dataset at mountpoint
// ("" for /NAME, or none), mounted; when the pool exists (a kept state
// folder) it mounts what should be mounted in this mount namespace, as
// importing a pool at boot does. `fbsdemu run` calls it (createPool).
func zfsCreatePool(name, mountpoint string) error {
	var msgs strings.Builder
	c := &zc{stdin: os.Stdin, stdout: io.Discard, stderr: &msgs}
	if m := zfsCheckName(name, false); m != "" || strings.Contains(name, "/") {
		return fmt.Errorf("cannot create '%s': invalid pool name", name)
	}
	err := c.update(func(r *zfsReg) error {
		if r.Pools[name] == nil {
			if mountpoint != "" && mountpoint != "none" && mountpoint != "legacy" && !strings.HasPrefix(mountpoint, "/") {
				return fmt.Errorf("invalid mountpoint '%s'", mountpoint)
			}
			if err := c.createPool(name, mountpoint, nil); err != nil {
				return err
			}
		}
		return c.mountAll(name)
	})
	if err != nil {
		if _, ok := err.(zfsExit); ok || msgs.Len() > 0 {
			return fmt.Errorf("%s", strings.TrimSpace(msgs.String()))
		}
		return err
	}
	return nil
}

func (c *zc) createPool(name, mountpoint string, props map[string]string) error {
	c.reg.Pools[name] = &zfsPool{Created: time.Now().Unix(), GUID: zfsNewGUID()}
	local := map[string]string{}
	for k, v := range props {
		local[k] = v
	}
	if mountpoint != "" && mountpoint != "/"+name {
		local["mountpoint"] = mountpoint
	}
	_, err := c.newFS(name, local, nil)
	return err
}

// zpoolProps are the pool properties, in zpool get all's order.
var zpoolProps = []string{"size", "capacity", "altroot", "health", "guid", "version", "bootfs",
	"delegation", "autoreplace", "cachefile", "failmode", "listsnapshots", "autoexpand",
	"dedupratio", "free", "allocated", "readonly", "ashift", "comment", "expandsize",
	"freeing", "fragmentation", "leaked", "multihost", "checkpoint", "load_guid",
	"autotrim", "compatibility", "bcloneused", "bclonesaved", "bcloneratio", "name"}

var zpoolCols = map[string]string{"size": "SIZE", "allocated": "ALLOC", "free": "FREE",
	"checkpoint": "CKPOINT", "expandsize": "EXPANDSZ", "fragmentation": "FRAG",
	"capacity": "CAP", "dedupratio": "DEDUP", "health": "HEALTH", "altroot": "ALTROOT"}

var zpoolAlias = map[string]string{"alloc": "allocated", "cap": "capacity", "dedup": "dedupratio",
	"frag": "fragmentation", "expandsz": "expandsize", "ckpoint": "checkpoint"}

func zpoolPropName(p string) (string, bool) {
	if a, ok := zpoolAlias[p]; ok {
		p = a
	}
	if strings.HasPrefix(p, "feature@") {
		return p, true
	}
	for _, q := range zpoolProps {
		if q == p {
			return p, true
		}
	}
	return p, false
}

// zpoolValue is a pool property's value and source.
func (c *zc) zpoolValue(pool, prop string, parsable bool) (string, string) {
	pr := c.reg.Pools[pool]
	size, free := zfsStatfs()
	alloc := size - free
	num := func(n uint64) string {
		if parsable {
			return strconv.FormatUint(n, 10)
		}
		return zfsNicenum(n)
	}
	if v, ok := pr.Props[prop]; ok {
		return v, "local"
	}
	switch prop {
	case "name":
		return pool, "-"
	case "size":
		return num(size), "-"
	case "free":
		return num(free), "-"
	case "allocated":
		return num(alloc), "-"
	case "capacity":
		cp := uint64(0)
		if size > 0 {
			cp = alloc * 100 / size
		}
		if parsable {
			return strconv.FormatUint(cp, 10), "-"
		}
		return strconv.FormatUint(cp, 10) + "%", "-"
	case "health":
		return "ONLINE", "-"
	case "guid", "load_guid":
		return strconv.FormatUint(pr.GUID, 10), "-"
	case "dedupratio", "bcloneratio":
		if parsable {
			return "1.00", "-"
		}
		return "1.00x", "-"
	case "fragmentation":
		if parsable {
			return "0", "-"
		}
		return "0%", "-"
	case "freeing", "leaked", "bcloneused", "bclonesaved":
		return num(0), "-"
	case "expandsize", "checkpoint":
		return "-", "-"
	case "altroot", "cachefile", "bootfs", "comment", "version":
		return "-", "default"
	case "readonly":
		return "off", "-"
	case "ashift":
		return "0", "default"
	case "delegation", "autoexpand", "autoreplace", "listsnapshots", "multihost", "autotrim":
		if prop == "delegation" {
			return "on", "default"
		}
		return "off", "default"
	case "failmode":
		return "wait", "default"
	case "compatibility":
		return "off", "default"
	}
	if strings.HasPrefix(prop, "feature@") {
		return "active", "local"
	}
	return "-", "-"
}

func (c *zc) zpoolNames(ops []string) ([]string, int) {
	if len(ops) == 0 {
		var names []string
		for p := range c.reg.Pools {
			names = append(names, p)
		}
		sort.Strings(names)
		return names, 0
	}
	status := 0
	var names []string
	for _, p := range ops {
		if c.reg.Pools[p] == nil {
			c.errf("cannot open '%s': no such pool", p)
			status = 1
			continue
		}
		names = append(names, p)
	}
	return names, status
}

func zpoolMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &zc{stdin: stdin, stdout: stdout, stderr: stderr}
	usage := func() int {
		c.errf("usage: zpool command args ...\nwhere 'command' is one of the following:\n\n" +
			"\tcreate [-f] [-m mountpoint] [-O file-system-property=value] ... <pool> <vdev> ...\n" +
			"\tdestroy [-f] <pool>\n" +
			"\tlist [-Hp] [-o property[,...]] [pool] ...\n" +
			"\tget [-Hp] [-o \"all\" | field[,...]] <\"all\" | property[,...]> <pool> ...\n" +
			"\tstatus [-x] [pool] ...")
		return 2
	}
	if len(args) == 0 {
		c.errf("missing command")
		return usage()
	}
	if _, err := stateDir(); err != nil {
		warnx("zpool", "%v", err)
		return 1
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		opts, ops, err := zfsGetopt(rest, "HpPvLgo:T:")
		if err != nil {
			c.errf("%v", err)
			return usage()
		}
		scripted, parsable := false, false
		fields := []string{"name", "size", "allocated", "free", "checkpoint", "expandsize", "fragmentation", "capacity", "dedupratio", "health", "altroot"}
		for _, o := range opts {
			switch o.c {
			case 'H':
				scripted = true
			case 'p':
				parsable = true
			case 'o':
				fields = nil
				for _, f := range strings.Split(o.arg, ",") {
					n, ok := zpoolPropName(f)
					if !ok {
						c.errf("property '%s' is not a valid pool or vdev property", f)
						return usage()
					}
					fields = append(fields, n)
				}
			}
		}
		if err := c.load(); err != nil {
			return c.exitOf(err)
		}
		names, status := c.zpoolNames(ops)
		if len(names) == 0 && len(ops) == 0 {
			c.errf("no pools available")
			return 0
		}
		header := make([]string, len(fields))
		right := make([]bool, len(fields))
		for i, f := range fields {
			if h, ok := zpoolCols[f]; ok {
				header[i] = h
			} else {
				header[i] = strings.ToUpper(f)
			}
			right[i] = f == "size" || f == "allocated" || f == "free" || f == "capacity" || f == "fragmentation" || f == "dedupratio"
		}
		var rows [][]string
		for _, p := range names {
			row := make([]string, len(fields))
			for i, f := range fields {
				row[i], _ = c.zpoolValue(p, f, parsable)
			}
			rows = append(rows, row)
		}
		if len(rows) > 0 {
			zfsTable(c.stdout, header, rows, scripted, right)
		}
		return status
	case "get":
		opts, ops, err := zfsGetopt(rest, "Hpo:")
		if err != nil {
			c.errf("%v", err)
			return usage()
		}
		scripted, parsable := false, false
		fields := []string{"name", "property", "value", "source"}
		for _, o := range opts {
			switch o.c {
			case 'H':
				scripted = true
			case 'p':
				parsable = true
			case 'o':
				fields = nil
				for _, f := range strings.Split(o.arg, ",") {
					switch f {
					case "name", "property", "value", "source":
						fields = append(fields, f)
					case "all":
						fields = append(fields, "name", "property", "value", "source")
					default:
						c.errf("invalid column name '%s'", f)
						return usage()
					}
				}
			}
		}
		if len(ops) == 0 {
			c.errf("missing property argument")
			return usage()
		}
		var props []string
		for _, p := range strings.Split(ops[0], ",") {
			if p == "all" {
				props = append(props, zpoolProps...)
				continue
			}
			n, ok := zpoolPropName(p)
			if !ok {
				c.errf("bad property list: invalid property '%s'", p)
				return usage()
			}
			props = append(props, n)
		}
		if err := c.load(); err != nil {
			return c.exitOf(err)
		}
		names, status := c.zpoolNames(ops[1:])
		header := make([]string, len(fields))
		for i, f := range fields {
			header[i] = strings.ToUpper(f)
		}
		var rows [][]string
		for _, p := range names {
			for _, prop := range props {
				v, src := c.zpoolValue(p, prop, parsable)
				row := make([]string, len(fields))
				for i, f := range fields {
					switch f {
					case "name":
						row[i] = p
					case "property":
						row[i] = prop
					case "value":
						row[i] = v
					case "source":
						row[i] = src
					}
				}
				rows = append(rows, row)
			}
		}
		if len(rows) > 0 {
			zfsTable(c.stdout, header, rows, scripted, nil)
		}
		return status
	case "status":
		_, ops, err := zfsGetopt(rest, "xvpPDegiLtT:c:")
		if err != nil {
			c.errf("%v", err)
			return usage()
		}
		if err := c.load(); err != nil {
			return c.exitOf(err)
		}
		names, status := c.zpoolNames(ops)
		if len(names) == 0 && len(ops) == 0 {
			fmt.Fprintln(c.stdout, "no pools available")
			return status
		}
		for i, p := range names {
			if i > 0 {
				fmt.Fprintln(c.stdout)
			}
			fmt.Fprintf(c.stdout, "  pool: %s\n state: ONLINE\nconfig:\n\n", p)
			fmt.Fprintf(c.stdout, "\tNAME        STATE     READ WRITE CKSUM\n")
			fmt.Fprintf(c.stdout, "\t%-10s  ONLINE       0     0     0\n", p)
			fmt.Fprintf(c.stdout, "\t  %-8s  ONLINE       0     0     0\n", "emulated")
			fmt.Fprintf(c.stdout, "\nerrors: No known data errors\n")
		}
		return status
	case "create":
		opts, ops, err := zfsGetopt(rest, "fndm:o:O:R:t:")
		if err != nil {
			c.errf("%v", err)
			return usage()
		}
		mountpoint := ""
		var fsOpts []zfsOpt
		for _, o := range opts {
			switch o.c {
			case 'm':
				mountpoint = o.arg
			case 'O':
				fsOpts = append(fsOpts, zfsOpt{'o', o.arg})
			}
		}
		if len(ops) == 0 {
			c.errf("missing pool name argument")
			return usage()
		}
		name := ops[0]
		if m := zfsCheckName(name, false); m != "" || strings.Contains(name, "/") {
			c.errf("cannot create '%s': invalid pool name", name)
			return 1
		}
		props, msg := zfsParseProps(fsOpts, zfsTypeFS)
		if msg != "" {
			c.errf("cannot create '%s': %s", name, msg)
			return 1
		}
		if mp, ok := props["mountpoint"]; ok {
			if mountpoint == "" {
				mountpoint = mp
			}
			delete(props, "mountpoint")
		}
		return c.exitOf(c.update(func(r *zfsReg) error {
			if r.Pools[name] != nil {
				return c.fail("cannot create '%s': pool already exists", name)
			}
			if err := c.createPool(name, mountpoint, props); err != nil {
				return err
			}
			return c.mountNew(name)
		}))
	case "destroy":
		_, ops, err := zfsGetopt(rest, "f")
		if err != nil {
			c.errf("%v", err)
			return usage()
		}
		if len(ops) != 1 {
			c.errf("missing pool argument")
			return usage()
		}
		name := ops[0]
		return c.exitOf(c.update(func(r *zfsReg) error {
			if r.Pools[name] == nil {
				return c.fail("cannot open '%s': no such pool", name)
			}
			set := map[string]bool{}
			for _, n := range r.below(name) {
				set[n] = true
			}
			if err := c.doDestroy(set, true); err != nil {
				return err
			}
			delete(r.Pools, name)
			return nil
		}))
	case "version":
		fmt.Fprintln(stdout, "zfs-2.2.4-FreeBSD_fbsdemu\nzfs-kmod-2.2.4-FreeBSD_fbsdemu")
		return 0
	}
	c.errf("unrecognized command '%s'", sub)
	return usage()
}
