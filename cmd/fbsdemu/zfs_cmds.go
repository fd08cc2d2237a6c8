package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// zfsTypes parses -t: filesystem, snapshot (snap), volume, bookmark, all.
func zfsTypes(s string) (map[string]bool, error) {
	t := map[string]bool{}
	for _, v := range strings.Split(s, ",") {
		switch v {
		case "filesystem":
			t[zfsTypeFS] = true
		case "snapshot", "snap":
			t[zfsTypeSnap] = true
		case "volume", "bookmark":
			t[v] = true
		case "all":
			t[zfsTypeFS], t[zfsTypeSnap], t["volume"], t["bookmark"] = true, true, true, true
		default:
			return nil, fmt.Errorf("invalid type '%s'", v)
		}
	}
	return t, nil
}

// collect finds the datasets zfs list and zfs get work on: the operands
// (all pools when none), recursively to depth (-1 unlimited), of types.
func (c *zc) collect(ops []string, types map[string]bool, typesSet, recurse bool, depth int) ([]string, int) {
	status := 0
	set := map[string]bool{}
	add := func(base string) {
		for _, n := range c.reg.below(base) {
			if depth >= 0 && zfsDepth(n, base) > depth {
				continue
			}
			if types[c.reg.Datasets[n].Type] {
				set[n] = true
			}
		}
	}
	if len(ops) == 0 {
		for p := range c.reg.Pools {
			if c.reg.Datasets[p] != nil {
				add(p)
			}
		}
	}
	for _, op := range ops {
		if m := zfsCheckName(op, true); m != "" {
			c.errf("cannot open '%s': %s", op, m)
			status = 1
			continue
		}
		d := c.reg.Datasets[op]
		if d == nil {
			c.errf("cannot open '%s': dataset does not exist", op)
			status = 1
			continue
		}
		switch {
		case d.Type == zfsTypeSnap && (!typesSet || types[zfsTypeSnap]):
			set[op] = true
		case recurse:
			add(op)
		case types[d.Type]:
			set[op] = true
		default:
			c.errf("cannot open '%s': operation not applicable to datasets of this type", op)
			status = 1
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	return c.reg.sorted(names), status
}

func (c *zc) list(args []string) int {
	opts, ops, err := zfsGetopt(args, "Hprd:o:s:S:t:")
	if err != nil {
		return c.badUsage("list", err)
	}
	scripted, parsable, recurse, depth := false, false, false, -1
	fields := []string{"name", "used", "available", "referenced", "mountpoint"}
	types := map[string]bool{zfsTypeFS: true, "volume": true}
	typesSet := false
	type sortKey struct {
		prop string
		desc bool
	}
	var keys []sortKey
	for _, o := range opts {
		switch o.c {
		case 'H':
			scripted = true
		case 'p':
			parsable = true
		case 'r':
			recurse = true
		case 'd':
			n, err := strconv.Atoi(o.arg)
			if err != nil || n < 0 {
				c.errf("invalid depth '%s'", o.arg)
				return c.usage("list")
			}
			recurse, depth = true, n
		case 'o':
			fields = nil
			for _, f := range strings.Split(o.arg, ",") {
				if f == "space" {
					fields = append(fields, "name", "available", "used", "usedbysnapshots", "usedbydataset", "usedbyrefreservation", "usedbychildren")
					continue
				}
				n, ok := zfsPropName(f)
				if !ok {
					c.errf("invalid property '%s'", f)
					return c.usage("list")
				}
				fields = append(fields, n)
			}
		case 's', 'S':
			n, ok := zfsPropName(o.arg)
			if !ok {
				c.errf("invalid property '%s'", o.arg)
				return c.usage("list")
			}
			keys = append(keys, sortKey{n, o.c == 'S'})
		case 't':
			t, err := zfsTypes(o.arg)
			if err != nil {
				return c.badUsage("list", err)
			}
			types, typesSet = t, true
		}
	}
	if len(types) == 1 && types[zfsTypeSnap] && len(ops) > 0 && !recurse {
		recurse, depth = true, 1
	}
	if err := c.load(); err != nil {
		return c.exitOf(err)
	}
	names, status := c.collect(ops, types, typesSet, recurse, depth)
	if len(keys) > 0 {
		sort.SliceStable(names, func(i, j int) bool {
			for _, k := range keys {
				a, b := names[i], names[j]
				na, oka := c.numericValue(a, k.prop)
				nb, okb := c.numericValue(b, k.prop)
				cmp := 0
				if oka && okb {
					if na < nb {
						cmp = -1
					} else if na > nb {
						cmp = 1
					}
				} else {
					va, _, _ := c.propValue(a, k.prop, true)
					vb, _, _ := c.propValue(b, k.prop, true)
					cmp = strings.Compare(va, vb)
				}
				if cmp != 0 {
					return (cmp < 0) != k.desc
				}
			}
			return false
		})
	}
	if len(names) == 0 && len(ops) == 0 {
		c.errf("no datasets available")
		return status
	}
	header := make([]string, len(fields))
	right := make([]bool, len(fields))
	for i, f := range fields {
		if p := zfsPropByName[f]; p != nil {
			header[i] = p.col
		} else {
			header[i] = strings.ToUpper(f)
		}
		right[i] = zfsIsNumeric(f)
	}
	rows := make([][]string, 0, len(names))
	for _, n := range names {
		row := make([]string, len(fields))
		for i, f := range fields {
			v, _, _ := c.propValue(n, f, parsable)
			row[i] = v
		}
		rows = append(rows, row)
	}
	if len(rows) > 0 {
		zfsTable(c.stdout, header, rows, scripted, right)
	}
	return status
}

func (c *zc) get(args []string) int {
	opts, ops, err := zfsGetopt(args, "rHpd:o:t:s:")
	if err != nil {
		return c.badUsage("get", err)
	}
	scripted, parsable, recurse, depth := false, false, false, -1
	fields := []string{"name", "property", "value", "source"}
	types := map[string]bool{zfsTypeFS: true, zfsTypeSnap: true, "volume": true, "bookmark": true}
	typesSet := false
	var sources map[string]bool
	for _, o := range opts {
		switch o.c {
		case 'H':
			scripted = true
		case 'p':
			parsable = true
		case 'r':
			recurse = true
		case 'd':
			n, err := strconv.Atoi(o.arg)
			if err != nil || n < 0 {
				c.errf("invalid depth '%s'", o.arg)
				return c.usage("get")
			}
			recurse, depth = true, n
		case 'o':
			fields = nil
			for _, f := range strings.Split(o.arg, ",") {
				switch f {
				case "name", "property", "value", "received", "source":
					fields = append(fields, f)
				case "all":
					fields = append(fields, "name", "property", "value", "received", "source")
				default:
					c.errf("invalid column name '%s'", f)
					return c.usage("get")
				}
			}
		case 't':
			t, err := zfsTypes(o.arg)
			if err != nil {
				return c.badUsage("get", err)
			}
			types, typesSet = t, true
		case 's':
			sources = map[string]bool{}
			for _, s := range strings.Split(o.arg, ",") {
				switch s {
				case "local", "default", "inherited", "received", "temporary", "none":
					sources[s] = true
				default:
					c.errf("invalid source '%s'", s)
					return c.usage("get")
				}
			}
		}
	}
	if len(ops) == 0 {
		c.errf("missing property argument")
		return c.usage("get")
	}
	var props []string
	all := false
	for _, p := range strings.Split(ops[0], ",") {
		if p == "all" {
			all = true
			continue
		}
		n, ok := zfsPropName(p)
		if !ok {
			c.errf("bad property list: invalid property '%s'", p)
			return c.usage("get")
		}
		props = append(props, n)
	}
	if err := c.load(); err != nil {
		return c.exitOf(err)
	}
	names, status := c.collect(ops[1:], types, typesSet, recurse, depth)
	header := make([]string, len(fields))
	for i, f := range fields {
		header[i] = strings.ToUpper(f)
	}
	var rows [][]string
	for _, n := range names {
		list := props
		if all {
			list = append(c.allProps(n), props...)
		}
		for _, p := range list {
			v, src, ok := c.propValue(n, p, parsable)
			if !ok && all {
				continue
			}
			if sources != nil {
				kind := src
				switch {
				case src == "-":
					kind = "none"
				case strings.HasPrefix(src, "inherited"):
					kind = "inherited"
				}
				if !sources[kind] {
					continue
				}
			}
			row := make([]string, len(fields))
			for i, f := range fields {
				switch f {
				case "name":
					row[i] = n
				case "property":
					row[i] = p
				case "value":
					row[i] = v
				case "received":
					row[i] = "-"
					if d := c.reg.Datasets[n]; d != nil {
						if rv, ok := d.Received[p]; ok {
							row[i] = rv
						}
					}
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
}

// setProp stores value (or clears it when inherit) and does what zfs
// does around mountpoint and canmount changes.
func (c *zc) setProp(name, prop, value string, inherit, received bool) error {
	d := c.reg.Datasets[name]
	change := func() {
		if inherit {
			delete(d.Local, prop)
			if !received {
				delete(d.Received, prop)
			}
			return
		}
		if d.Local == nil {
			d.Local = map[string]string{}
		}
		d.Local[prop] = value
	}
	if d.Type != zfsTypeFS || (prop != "mountpoint" && prop != "canmount") {
		change()
		return nil
	}
	if prop == "canmount" {
		change()
		if c.reg.canmount(name) == "off" && c.isMounted(name) {
			if err := c.unmountDS(name, false); err != nil {
				c.errf("%v", err)
				return zfsExit(1)
			}
		}
		return nil
	}
	return c.changeMountpoint(name, false, change)
}

func (c *zc) set(args []string) int {
	_, ops, err := zfsGetopt(args, "u")
	if err != nil {
		return c.badUsage("set", err)
	}
	var props [][2]string
	var dss []string
	for _, o := range ops {
		if k, v, ok := strings.Cut(o, "="); ok && len(dss) == 0 {
			if k == "" {
				c.errf("missing property in property=value argument")
				return c.usage("set")
			}
			props = append(props, [2]string{k, v})
			continue
		}
		dss = append(dss, o)
	}
	if len(props) == 0 {
		c.errf("missing property=value argument(s)")
		return c.usage("set")
	}
	if len(dss) == 0 {
		c.errf("missing dataset name(s)")
		return c.usage("set")
	}
	status := 0
	err = c.update(func(r *zfsReg) error {
		for _, ds := range dss {
			d := r.Datasets[ds]
			if m := zfsCheckName(ds, true); m != "" {
				c.errf("cannot open '%s': %s", ds, m)
				status = 1
				continue
			}
			if d == nil {
				c.errf("cannot open '%s': dataset does not exist", ds)
				status = 1
				continue
			}
			vals := map[string]string{}
			var order []string
			bad := false
			for _, kv := range props {
				n, _ := zfsPropName(kv[0])
				v, msg := zfsCheckSet(n, kv[1], d.Type, false)
				if msg != "" {
					c.errf("cannot set property for '%s': %s", ds, msg)
					bad = true
					break
				}
				if _, dup := vals[n]; !dup {
					order = append(order, n)
				}
				vals[n] = v
			}
			if bad {
				status = 1
				continue
			}
			for _, n := range order {
				if err := c.setProp(ds, n, vals[n], false, false); err != nil {
					status = 1
				}
			}
		}
		return nil
	})
	if err != nil {
		return c.exitOf(err)
	}
	return status
}

func (c *zc) inherit(args []string) int {
	opts, ops, err := zfsGetopt(args, "rS")
	if err != nil {
		return c.badUsage("inherit", err)
	}
	recurse, received := false, false
	for _, o := range opts {
		switch o.c {
		case 'r':
			recurse = true
		case 'S':
			received = true
		}
	}
	if len(ops) < 1 {
		c.errf("missing property argument")
		return c.usage("inherit")
	}
	if len(ops) < 2 {
		c.errf("missing dataset argument")
		return c.usage("inherit")
	}
	prop, ok := zfsPropName(ops[0])
	if !ok {
		c.errf("invalid property '%s'", ops[0])
		return c.usage("inherit")
	}
	if p := zfsPropByName[prop]; p != nil {
		if p.ro {
			c.errf("%s property is read-only", prop)
			return 1
		}
		if !p.inherit && !received {
			c.errf("'%s' property cannot be inherited", prop)
			if p.size || prop == "filesystem_limit" || prop == "snapshot_limit" {
				c.errf("use 'zfs set %s=none' to clear", prop)
			}
			return 1
		}
	}
	status := 0
	err = c.update(func(r *zfsReg) error {
		for _, ds := range ops[1:] {
			d := r.Datasets[ds]
			if d == nil {
				c.errf("cannot open '%s': dataset does not exist", ds)
				status = 1
				continue
			}
			targets := []string{ds}
			if recurse {
				targets = r.below(ds)
			}
			for _, n := range targets {
				td := r.Datasets[n]
				if td.Type == zfsTypeSnap && !zfsUserProp(prop) {
					if n == ds {
						c.errf("cannot inherit %s for '%s': property does not apply to datasets of this type", prop, n)
						status = 1
					}
					continue
				}
				if err := c.setProp(n, prop, "", true, received); err != nil {
					status = 1
				}
			}
		}
		return nil
	})
	if err != nil {
		return c.exitOf(err)
	}
	return status
}

// parseProps reads -o k=v options for create, clone and receive; the
// message follows "cannot create 'X': " (or is a usage error).
func zfsParseProps(opts []zfsOpt, typ string) (map[string]string, string) {
	props := map[string]string{}
	for _, o := range opts {
		if o.c != 'o' {
			continue
		}
		k, v, ok := strings.Cut(o.arg, "=")
		if !ok {
			return nil, "missing '=' for property=value argument"
		}
		n, _ := zfsPropName(k)
		if _, dup := props[n]; dup {
			return nil, fmt.Sprintf("property '%s' specified multiple times", k)
		}
		val, msg := zfsCheckSet(n, v, typ, true)
		if msg != "" {
			return nil, msg
		}
		props[n] = val
	}
	return props, ""
}

// newFS registers a filesystem whose folder is filled by fill (an empty
// folder when nil).
func (c *zc) newFS(name string, local map[string]string, fill func(dir string) error) (*zfsDS, error) {
	id := zfsNewID()
	dir, err := zfsDataDir(id)
	if err != nil {
		return nil, err
	}
	if fill != nil {
		err = fill(dir)
	} else {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		zfsRemoveAll(dir)
		return nil, err
	}
	if len(local) == 0 {
		local = nil
	}
	d := &zfsDS{ID: id, Type: zfsTypeFS, Local: local, Creation: time.Now().Unix(), TXG: c.reg.nextTXG(), GUID: zfsNewGUID()}
	c.reg.Datasets[name] = d
	return d, nil
}

// mountNew mounts a new filesystem if it should be.
func (c *zc) mountNew(name string) error {
	if mp, _ := c.reg.mountpoint(name); mp == "none" || mp == "legacy" || c.reg.canmount(name) != "on" {
		return nil
	}
	if err := c.mountDS(name); err != nil {
		c.errf("%v", err)
		return zfsExit(1)
	}
	return nil
}

// makeParents creates the missing ancestors of name (zfs create -p).
func (c *zc) makeParents(name string) error {
	var missing []string
	for p := zfsParent(name); p != "" && c.reg.Datasets[p] == nil; p = zfsParent(p) {
		missing = append([]string{p}, missing...)
	}
	for _, p := range missing {
		if _, err := c.newFS(p, nil, nil); err != nil {
			return err
		}
		if err := c.mountNew(p); err != nil {
			return err
		}
	}
	return nil
}

func (c *zc) create(args []string) int {
	opts, ops, err := zfsGetopt(args, "PpnuvsV:b:o:")
	if err != nil {
		return c.badUsage("create", err)
	}
	parents, nomount, dry := false, false, false
	for _, o := range opts {
		switch o.c {
		case 'p':
			parents = true
		case 'u':
			nomount = true
		case 'n':
			dry = true
		case 'V', 'b', 's':
			c.errf("cannot create volumes: volumes are not supported by this emulation")
			return 1
		}
	}
	if len(ops) == 0 {
		c.errf("missing filesystem argument")
		return c.usage("create")
	}
	if len(ops) > 1 {
		c.errf("too many arguments")
		return c.usage("create")
	}
	name := ops[0]
	if m := zfsCheckName(name, false); m != "" {
		c.errf("cannot create '%s': %s", name, m)
		return 1
	}
	props, msg := zfsParseProps(opts, zfsTypeFS)
	if msg != "" {
		c.errf("cannot create '%s': %s", name, msg)
		return 1
	}
	err = c.update(func(r *zfsReg) error {
		pool := zfsPoolOf(name)
		if r.Pools[pool] == nil {
			return c.fail("cannot create '%s': no such pool '%s'", name, pool)
		}
		if r.Datasets[name] != nil {
			if parents {
				return nil
			}
			return c.fail("cannot create '%s': dataset already exists", name)
		}
		if p := zfsParent(name); r.Datasets[p] == nil && !parents {
			return c.fail("cannot create '%s': parent does not exist", name)
		}
		if dry {
			return zfsExit(0)
		}
		if err := c.makeParents(name); err != nil {
			return zfsSave(err)
		}
		if _, err := c.newFS(name, props, nil); err != nil {
			return zfsSave(err)
		}
		if nomount {
			return nil
		}
		if err := c.mountNew(name); err != nil {
			c.errf("filesystem successfully created, but not mounted")
			return zfsSave(err)
		}
		return nil
	})
	return c.exitOf(err)
}

// destroySet grows set (names to destroy) with the clones of its
// snapshots when recursive (-R); without, it returns the clones (and
// what is below them) that stand in the way.
func (c *zc) destroySet(set map[string]bool, withClones bool) []string {
	var blocking []string
	seen := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for n := range set {
			if c.reg.Datasets[n].Type != zfsTypeSnap {
				continue
			}
			for _, cl := range c.reg.clones(n) {
				if set[cl] {
					continue
				}
				if withClones {
					for _, b := range c.reg.below(cl) {
						set[b] = true
					}
					changed = true
				} else if !seen[cl] {
					seen[cl] = true
					blocking = append(blocking, c.reg.below(cl)...)
				}
			}
		}
	}
	return c.reg.sorted(blocking)
}

// destroyOrder: what is below or cloned from something goes first.
func (c *zc) destroyOrder(set map[string]bool) []string {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	names = c.reg.sorted(names)
	// reverse name order puts children and snapshots before parents;
	// then clones go before their origins.
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	rank := map[string]int{}
	var depth func(n string, guard int) int
	depth = func(n string, guard int) int {
		if v, ok := rank[n]; ok {
			return v
		}
		v := 0
		if guard > 0 {
			if o := c.reg.Datasets[n].Origin; o != "" && set[o] {
				v = depth(o, guard-1) + 1
			}
			if p := zfsParent(n); p != "" && set[p] {
				if pv := depth(p, guard-1); pv > v {
					v = pv
				}
			}
		}
		rank[n] = v
		return v
	}
	for _, n := range names {
		depth(n, 64)
	}
	sort.SliceStable(names, func(i, j int) bool { return rank[names[i]] > rank[names[j]] })
	return names
}

// doDestroy unmounts and removes the datasets of set.
func (c *zc) doDestroy(set map[string]bool, force bool) error {
	var fss []string
	for n := range set {
		fss = append(fss, n)
	}
	for _, n := range c.mountedIn(fss) {
		// A forced (detaching) unmount of one may have taken another
		// mounted below it along.
		if force && !c.isMounted(n) {
			continue
		}
		if err := c.unmountDS(n, force); err != nil {
			c.errf("%v", err)
			return zfsSave(zfsExit(1))
		}
	}
	for _, n := range c.destroyOrder(set) {
		if d := c.reg.Datasets[n]; d != nil {
			c.discard(d.ID)
			delete(c.reg.Datasets, n)
		}
	}
	return nil
}

func (c *zc) destroy(args []string) int {
	opts, ops, err := zfsGetopt(args, "dfnpRrv")
	if err != nil {
		return c.badUsage("destroy", err)
	}
	var force, dry, recurse, clones, verbose, parsable bool
	for _, o := range opts {
		switch o.c {
		case 'f':
			force = true
		case 'n':
			dry = true
		case 'r':
			recurse = true
		case 'R':
			clones, recurse = true, true
		case 'v':
			verbose = true
		case 'p':
			parsable = true
		}
	}
	if len(ops) == 0 {
		c.errf("missing dataset argument")
		return c.usage("destroy")
	}
	if len(ops) > 1 {
		c.errf("too many arguments")
		return c.usage("destroy")
	}
	name := ops[0]
	report := func(set map[string]bool) {
		if !verbose && !parsable {
			return
		}
		for _, n := range c.destroyOrder(set) {
			switch {
			case parsable:
				fmt.Fprintf(c.stdout, "destroy\t%s\n", n)
			case dry:
				fmt.Fprintf(c.stdout, "would destroy %s\n", n)
			default:
				fmt.Fprintf(c.stdout, "will destroy %s\n", n)
			}
		}
	}
	err = c.update(func(r *zfsReg) error {
		if fs, snaps, ok := strings.Cut(name, "@"); ok {
			if m := zfsCheckName(fs, false); m != "" {
				return c.fail("cannot open '%s': %s", fs, m)
			}
			if r.Datasets[fs] == nil {
				return c.fail("cannot open '%s': dataset does not exist", fs)
			}
			set := map[string]bool{}
			for _, s := range strings.Split(snaps, ",") {
				bases := []string{fs}
				if recurse {
					bases = nil
					for _, n := range r.below(fs) {
						if r.Datasets[n].Type == zfsTypeFS {
							bases = append(bases, n)
						}
					}
				}
				for _, b := range bases {
					if r.Datasets[b+"@"+s] != nil {
						set[b+"@"+s] = true
					}
				}
			}
			if len(set) == 0 {
				return c.fail("could not find any snapshots to destroy; check snapshot names.")
			}
			if blocking := c.destroySet(set, clones); len(blocking) > 0 {
				target := name
				for n := range set {
					if len(r.clones(n)) > 0 {
						target = n
					}
				}
				c.errf("cannot destroy '%s': snapshot has dependent clones", target)
				c.errf("use '-R' to destroy the following datasets:")
				for _, b := range blocking {
					c.errf("%s", b)
				}
				return zfsExit(1)
			}
			report(set)
			if dry {
				return zfsExit(0)
			}
			return c.doDestroy(set, force)
		}
		if m := zfsCheckName(name, false); m != "" {
			return c.fail("cannot open '%s': %s", name, m)
		}
		if r.Datasets[name] == nil {
			return c.fail("cannot open '%s': dataset does not exist", name)
		}
		isPool := zfsParent(name) == ""
		below := r.below(name)
		if !recurse {
			if isPool {
				c.errf("cannot destroy '%s': operation does not apply to pools", name)
				c.errf("use 'zfs destroy -r %s' to destroy all datasets in the pool", name)
				c.errf("use 'zpool destroy %s' to destroy the pool itself", name)
				return zfsExit(1)
			}
			if len(below) > 1 {
				c.errf("cannot destroy '%s': filesystem has children", name)
				c.errf("use '-r' to destroy the following datasets:")
				for _, n := range below[1:] {
					c.errf("%s", n)
				}
				return zfsExit(1)
			}
		}
		set := map[string]bool{}
		for _, n := range below {
			set[n] = true
		}
		if isPool {
			delete(set, name)
		}
		if blocking := c.destroySet(set, clones); len(blocking) > 0 {
			c.errf("cannot destroy '%s': filesystem has dependent clones", name)
			c.errf("use '-R' to destroy the following datasets:")
			for _, b := range blocking {
				c.errf("%s", b)
			}
			return zfsExit(1)
		}
		report(set)
		if dry {
			return zfsExit(0)
		}
		return c.doDestroy(set, force)
	})
	return c.exitOf(err)
}

// takeSnapshot copies a filesystem's folder into a new snapshot.
func (c *zc) takeSnapshot(snap string, props map[string]string) error {
	fs := zfsParent(snap)
	src, err := zfsDataDir(c.reg.Datasets[fs].ID)
	if err != nil {
		return err
	}
	id := zfsNewID()
	dst, err := zfsDataDir(id)
	if err != nil {
		return err
	}
	if err := zfsCopyTree(src, dst); err != nil {
		zfsRemoveAll(dst)
		return err
	}
	if len(props) == 0 {
		props = nil
	}
	c.reg.Datasets[snap] = &zfsDS{ID: id, Type: zfsTypeSnap, Local: props, Creation: time.Now().Unix(), TXG: c.reg.nextTXG(), GUID: zfsNewGUID()}
	return nil
}

func (c *zc) snapshot(args []string) int {
	opts, ops, err := zfsGetopt(args, "ro:")
	if err != nil {
		return c.badUsage("snapshot", err)
	}
	recurse := false
	for _, o := range opts {
		if o.c == 'r' {
			recurse = true
		}
	}
	if len(ops) == 0 {
		c.errf("missing snapshot argument")
		return c.usage("snapshot")
	}
	props, msg := zfsParseProps(opts, zfsTypeSnap)
	if msg != "" {
		c.errf("cannot create snapshot '%s': %s", ops[0], msg)
		return 1
	}
	err = c.update(func(r *zfsReg) error {
		var snaps []string
		for _, op := range ops {
			fs, s, ok := strings.Cut(op, "@")
			if !ok {
				return c.fail("cannot create snapshot '%s': missing '@' delimiter in snapshot name", op)
			}
			if m := zfsCheckName(op, true); m != "" {
				return c.fail("cannot create snapshot '%s': %s", op, m)
			}
			if d := r.Datasets[fs]; d == nil || d.Type != zfsTypeFS {
				return c.fail("cannot open '%s': dataset does not exist", fs)
			}
			bases := []string{fs}
			if recurse {
				bases = nil
				for _, n := range r.below(fs) {
					if r.Datasets[n].Type == zfsTypeFS {
						bases = append(bases, n)
					}
				}
			}
			for _, b := range bases {
				if r.Datasets[b+"@"+s] != nil {
					return c.fail("cannot create snapshot '%s': dataset already exists", b+"@"+s)
				}
				snaps = append(snaps, b+"@"+s)
			}
		}
		for _, s := range snaps {
			if err := c.takeSnapshot(s, props); err != nil {
				return zfsSave(c.fail("cannot create snapshot '%s': %v", s, err))
			}
		}
		return nil
	})
	return c.exitOf(err)
}

func (c *zc) rollback(args []string) int {
	opts, ops, err := zfsGetopt(args, "rRf")
	if err != nil {
		return c.badUsage("rollback", err)
	}
	recurse, clones, force := false, false, false
	for _, o := range opts {
		switch o.c {
		case 'r':
			recurse = true
		case 'R':
			recurse, clones = true, true
		case 'f':
			force = true
		}
	}
	if len(ops) != 1 {
		if len(ops) == 0 {
			c.errf("missing dataset argument")
		} else {
			c.errf("too many arguments")
		}
		return c.usage("rollback")
	}
	snap := ops[0]
	err = c.update(func(r *zfsReg) error {
		if !zfsIsSnap(snap) {
			if r.Datasets[snap] == nil {
				return c.fail("cannot open '%s': dataset does not exist", snap)
			}
			return c.fail("cannot open '%s': operation not applicable to datasets of this type", snap)
		}
		d := r.Datasets[snap]
		if d == nil {
			return c.fail("cannot open '%s': dataset does not exist", snap)
		}
		fs := zfsParent(snap)
		set := map[string]bool{}
		var later []string
		for _, s := range r.snapshots(fs) {
			if r.Datasets[s].TXG > d.TXG {
				later = append(later, s)
				set[s] = true
			}
		}
		if len(later) > 0 && !recurse {
			c.errf("cannot rollback to '%s': more recent snapshots or bookmarks exist", snap)
			c.errf("use '-r' to force deletion of the following snapshots and bookmarks:")
			for _, s := range later {
				c.errf("%s", s)
			}
			return zfsExit(1)
		}
		if blocking := c.destroySet(set, clones); len(blocking) > 0 {
			c.errf("cannot rollback to '%s': clones of previous snapshots exist", snap)
			c.errf("use '-R' to force deletion of the following clones and bookmarks:")
			for _, b := range blocking {
				c.errf("%s", b)
			}
			return zfsExit(1)
		}
		if err := c.doDestroy(set, force); err != nil {
			return err
		}
		dst, err := zfsDataDir(r.Datasets[fs].ID)
		if err != nil {
			return err
		}
		src, err := zfsDataDir(d.ID)
		if err != nil {
			return err
		}
		if err := zfsClearDir(dst); err != nil {
			return zfsSave(c.fail("cannot rollback '%s': %v", fs, err))
		}
		if err := zfsCopyTree(src, dst); err != nil {
			return zfsSave(c.fail("cannot rollback '%s': %v", fs, err))
		}
		return nil
	})
	return c.exitOf(err)
}

func (c *zc) clone(args []string) int {
	opts, ops, err := zfsGetopt(args, "puo:")
	if err != nil {
		return c.badUsage("clone", err)
	}
	parents, nomount := false, false
	for _, o := range opts {
		switch o.c {
		case 'p':
			parents = true
		case 'u':
			nomount = true
		}
	}
	if len(ops) != 2 {
		if len(ops) < 2 {
			c.errf("missing source dataset argument")
		} else {
			c.errf("too many arguments")
		}
		return c.usage("clone")
	}
	snap, target := ops[0], ops[1]
	if m := zfsCheckName(target, false); m != "" {
		c.errf("cannot create '%s': %s", target, m)
		return 1
	}
	props, msg := zfsParseProps(opts, zfsTypeFS)
	if msg != "" {
		c.errf("cannot create '%s': %s", target, msg)
		return 1
	}
	err = c.update(func(r *zfsReg) error {
		sd := r.Datasets[snap]
		if sd == nil {
			return c.fail("cannot open '%s': dataset does not exist", snap)
		}
		if sd.Type != zfsTypeSnap {
			return c.fail("cannot open '%s': operation not applicable to datasets of this type", snap)
		}
		if r.Datasets[target] != nil {
			return c.fail("cannot create '%s': dataset already exists", target)
		}
		if zfsPoolOf(target) != zfsPoolOf(snap) {
			return c.fail("cannot create '%s': source and target pools differ", target)
		}
		if r.Datasets[zfsParent(target)] == nil {
			if !parents {
				return c.fail("cannot create '%s': parent does not exist", target)
			}
			if err := c.makeParents(target); err != nil {
				return zfsSave(err)
			}
		}
		src, err := zfsDataDir(sd.ID)
		if err != nil {
			return err
		}
		d, err := c.newFS(target, props, func(dir string) error { return zfsCopyTree(src, dir) })
		if err != nil {
			return zfsSave(c.fail("cannot create '%s': %v", target, err))
		}
		d.Origin = snap
		if nomount {
			return nil
		}
		if err := c.mountNew(target); err != nil {
			c.errf("filesystem successfully created, but not mounted")
			return zfsSave(err)
		}
		return nil
	})
	return c.exitOf(err)
}

// moveName renames old (and, for a filesystem, what is below it) to new,
// fixing the origins that named them.
func (r *zfsReg) moveName(old, new string) {
	names := []string{old}
	if !zfsIsSnap(old) {
		names = r.below(old)
	}
	for _, n := range names {
		nn := new + n[len(old):]
		r.Datasets[nn] = r.Datasets[n]
		delete(r.Datasets, n)
	}
	for _, d := range r.Datasets {
		if d.Origin != "" && zfsUnder(d.Origin, old) {
			d.Origin = new + d.Origin[len(old):]
		}
	}
}

func (c *zc) rename(args []string) int {
	opts, ops, err := zfsGetopt(args, "fpur")
	if err != nil {
		return c.badUsage("rename", err)
	}
	var force, parents, nomount, recurse bool
	for _, o := range opts {
		switch o.c {
		case 'f':
			force = true
		case 'p':
			parents = true
		case 'u':
			nomount = true
		case 'r':
			recurse = true
		}
	}
	if len(ops) != 2 {
		if len(ops) < 2 {
			c.errf("missing target dataset argument")
		} else {
			c.errf("too many arguments")
		}
		return c.usage("rename")
	}
	src, dst := ops[0], ops[1]
	err = c.update(func(r *zfsReg) error {
		if r.Datasets[src] == nil {
			if m := zfsCheckName(src, true); m != "" {
				return c.fail("cannot open '%s': %s", src, m)
			}
			return c.fail("cannot open '%s': dataset does not exist", src)
		}
		if zfsIsSnap(src) {
			fs, _, _ := strings.Cut(src, "@")
			if !strings.Contains(dst, "@") {
				dst = fs + "@" + strings.TrimPrefix(dst, "@")
			} else if strings.HasPrefix(dst, "@") {
				dst = fs + dst
			}
			dfs, dsnap, _ := strings.Cut(dst, "@")
			if dfs != fs {
				return c.fail("cannot rename to '%s': snapshots must be part of same dataset", dst)
			}
			if m := zfsCheckName(dst, true); m != "" {
				return c.fail("cannot rename to '%s': %s", dst, m)
			}
			_, ssnap, _ := strings.Cut(src, "@")
			pairs := [][2]string{{src, dst}}
			if recurse {
				pairs = nil
				for _, n := range r.below(fs) {
					if r.Datasets[n].Type == zfsTypeFS && r.Datasets[n+"@"+ssnap] != nil {
						pairs = append(pairs, [2]string{n + "@" + ssnap, n + "@" + dsnap})
					}
				}
			}
			for _, p := range pairs {
				if r.Datasets[p[1]] != nil {
					return c.fail("cannot rename to '%s': dataset already exists", p[1])
				}
			}
			for _, p := range pairs {
				r.moveName(p[0], p[1])
			}
			return nil
		}
		if recurse {
			return c.fail("cannot rename '%s': -r is only valid for snapshots", src)
		}
		if m := zfsCheckName(dst, false); m != "" {
			return c.fail("cannot rename to '%s': %s", dst, m)
		}
		if zfsParent(src) == "" {
			return c.fail("cannot rename to '%s': cannot rename the root of a pool", dst)
		}
		if zfsPoolOf(dst) != zfsPoolOf(src) {
			return c.fail("cannot rename to '%s': datasets must be within same pool", dst)
		}
		if zfsUnder(dst, src) {
			return c.fail("cannot rename to '%s': New dataset name cannot be a descendant of current dataset name", dst)
		}
		if r.Datasets[dst] != nil {
			return c.fail("cannot rename to '%s': dataset already exists", dst)
		}
		if r.Datasets[zfsParent(dst)] == nil {
			if !parents {
				return c.fail("cannot rename to '%s': parent does not exist", dst)
			}
			if err := c.makeParents(dst); err != nil {
				return zfsSave(err)
			}
		}
		var remount []string
		if !nomount {
			for _, n := range c.mountedIn(r.below(src)) {
				if err := c.unmountDS(n, force); err != nil {
					c.errf("%v", err)
					return zfsSave(zfsExit(1))
				}
				remount = append(remount, dst+n[len(src):])
			}
		}
		r.moveName(src, dst)
		var failed error
		for _, n := range c.byMountpoint(remount) {
			if err := c.mountDS(n); err != nil {
				c.errf("%v", err)
				failed = zfsExit(1)
			}
		}
		return zfsSave(failed)
	})
	return c.exitOf(err)
}

func (c *zc) mountCmd(args []string) int {
	opts, ops, err := zfsGetopt(args, "aflvOo:")
	if err != nil {
		return c.badUsage("mount", err)
	}
	all := false
	for _, o := range opts {
		if o.c == 'a' {
			all = true
		}
	}
	if !all && len(ops) == 0 {
		if err := c.load(); err != nil {
			return c.exitOf(err)
		}
		var names []string
		for n := range c.reg.Datasets {
			if c.isMounted(n) {
				names = append(names, n)
			}
		}
		for _, n := range c.reg.sorted(names) {
			fmt.Fprintf(c.stdout, "%-30s  %s\n", n, c.reg.Datasets[n].MountedAt)
		}
		return 0
	}
	if all {
		if len(ops) > 0 {
			c.errf("too many arguments")
			return c.usage("mount")
		}
		return c.exitOf(c.update(func(r *zfsReg) error { return c.mountAll("") }))
	}
	if len(ops) > 1 {
		c.errf("too many arguments")
		return c.usage("mount")
	}
	name := ops[0]
	return c.exitOf(c.update(func(r *zfsReg) error {
		d := r.Datasets[name]
		if d == nil {
			return c.fail("cannot open '%s': dataset does not exist", name)
		}
		if d.Type != zfsTypeFS {
			return c.fail("cannot open '%s': operation not applicable to datasets of this type", name)
		}
		if err := c.mountDS(name); err != nil {
			c.errf("%v", err)
			return zfsSave(zfsExit(1))
		}
		return nil
	}))
}

func (c *zc) unmountCmd(args []string) int {
	opts, ops, err := zfsGetopt(args, "afu")
	if err != nil {
		return c.badUsage("unmount", err)
	}
	all, force := false, false
	for _, o := range opts {
		switch o.c {
		case 'a':
			all = true
		case 'f':
			force = true
		}
	}
	if all {
		if len(ops) > 0 {
			c.errf("too many arguments")
			return c.usage("unmount")
		}
		return c.exitOf(c.update(func(r *zfsReg) error {
			var names []string
			for n := range r.Datasets {
				names = append(names, n)
			}
			var failed error
			for _, n := range c.mountedIn(names) {
				if err := c.unmountDS(n, force); err != nil {
					c.errf("%v", err)
					failed = zfsExit(1)
				}
			}
			return zfsSave(failed)
		}))
	}
	if len(ops) != 1 {
		if len(ops) == 0 {
			c.errf("missing filesystem argument")
		} else {
			c.errf("too many arguments")
		}
		return c.usage("unmount")
	}
	name := ops[0]
	return c.exitOf(c.update(func(r *zfsReg) error {
		if strings.HasPrefix(name, "/") {
			p := filepath.Clean(name)
			if real, err := filepath.EvalSymlinks(p); err == nil {
				p = real
			}
			for n, d := range r.Datasets {
				if d.MountedAt == p && c.isMounted(n) {
					name = n
				}
			}
			if strings.HasPrefix(name, "/") {
				return c.fail("cannot unmount '%s': not a ZFS filesystem", name)
			}
		}
		d := r.Datasets[name]
		if d == nil {
			return c.fail("cannot open '%s': dataset does not exist", name)
		}
		if d.Type != zfsTypeFS {
			return c.fail("cannot open '%s': operation not applicable to datasets of this type", name)
		}
		if err := c.unmountDS(name, force); err != nil {
			c.errf("%v", err)
			return zfsSave(zfsExit(1))
		}
		return nil
	}))
}
