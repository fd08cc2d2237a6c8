package main

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// zfsPropDef is one native property.
type zfsPropDef struct {
	name    string
	col     string   // zfs list column header
	def     string   // default value (settable properties)
	inherit bool     // children inherit it
	ro      bool     // read-only (computed, or set at creation only)
	fs      bool     // applies to filesystems
	snap    bool     // applies to snapshots
	size    bool     // a size in bytes: human-readable unless -p
	values  []string // what set accepts (nil: anything, or checked apart)
	all     bool     // listed by zfs get all
}

var onOff = []string{"on", "off"}

var zfsProps = func() []*zfsPropDef {
	const (
		F = 1 << iota // filesystem
		S             // snapshot
		I             // inherited
		R             // read-only
		Z             // size
		H             // hidden from get all
	)
	p := func(name, col, def string, fl int, values ...string) *zfsPropDef {
		return &zfsPropDef{name: name, col: col, def: def, fs: fl&F != 0, snap: fl&S != 0,
			inherit: fl&I != 0, ro: fl&R != 0, size: fl&Z != 0, values: values, all: fl&H == 0}
	}
	return []*zfsPropDef{
		p("type", "TYPE", "", F|S|R),
		p("creation", "CREATION", "", F|S|R),
		p("used", "USED", "", F|S|R|Z),
		p("available", "AVAIL", "", F|R|Z),
		p("referenced", "REFER", "", F|S|R|Z),
		p("compressratio", "RATIO", "", F|S|R),
		p("mounted", "MOUNTED", "", F|R),
		p("origin", "ORIGIN", "", F|R),
		p("quota", "QUOTA", "0", F|Z),
		p("reservation", "RESERV", "0", F|Z),
		p("recordsize", "RECSIZE", "131072", F|I|Z),
		p("mountpoint", "MOUNTPOINT", "", F|I),
		p("sharenfs", "SHARENFS", "off", F|I),
		p("checksum", "CHECKSUM", "on", F|I, "on", "off", "fletcher2", "fletcher4", "sha256", "noparity", "sha512", "skein", "edonr", "blake3"),
		p("compression", "COMPRESS", "on", F|I),
		p("atime", "ATIME", "on", F|I, onOff...),
		p("devices", "DEVICES", "on", F|S|I, onOff...),
		p("exec", "EXEC", "on", F|S|I, onOff...),
		p("setuid", "SETUID", "on", F|S|I, onOff...),
		p("readonly", "RDONLY", "off", F|I, onOff...),
		p("jailed", "JAILED", "off", F|I, onOff...),
		p("snapdir", "SNAPDIR", "hidden", F|I, "hidden", "visible"),
		p("aclmode", "ACLMODE", "discard", F|I, "discard", "groupmask", "passthrough", "restricted"),
		p("aclinherit", "ACLINHERIT", "restricted", F|I, "discard", "noallow", "restricted", "passthrough", "passthrough-x"),
		p("createtxg", "CREATETXG", "", F|S|R),
		p("canmount", "CANMOUNT", "on", F, "on", "off", "noauto"),
		p("xattr", "XATTR", "on", F|S|I, "on", "off", "dir", "sa"),
		p("copies", "COPIES", "1", F|I, "1", "2", "3"),
		p("version", "VERSION", "5", F|S|R),
		p("utf8only", "UTF8ONLY", "off", F|S|R),
		p("normalization", "NORMALIZATION", "none", F|S|R),
		p("casesensitivity", "CASE", "sensitive", F|S|R),
		p("vscan", "VSCAN", "off", F|I, onOff...),
		p("nbmand", "NBMAND", "off", F|S|I, onOff...),
		p("sharesmb", "SHARESMB", "off", F|I),
		p("refquota", "REFQUOTA", "0", F|Z),
		p("refreservation", "REFRESERV", "0", F|Z),
		p("guid", "GUID", "", F|S|R),
		p("primarycache", "PRIMARYCACHE", "all", F|I, "all", "none", "metadata"),
		p("secondarycache", "SECONDARYCACHE", "all", F|I, "all", "none", "metadata"),
		p("usedbysnapshots", "USEDSNAP", "", F|R|Z),
		p("usedbydataset", "USEDDS", "", F|R|Z),
		p("usedbychildren", "USEDCHILD", "", F|R|Z),
		p("usedbyrefreservation", "USEDREFRESERV", "", F|R|Z),
		p("logbias", "LOGBIAS", "latency", F|I, "latency", "throughput"),
		p("objsetid", "OBJSETID", "", F|S|R),
		p("dedup", "DEDUP", "off", F|I),
		p("mlslabel", "MLSLABEL", "none", F|S|I),
		p("sync", "SYNC", "standard", F|I, "standard", "always", "disabled"),
		p("dnodesize", "DNSIZE", "legacy", F|I, "legacy", "auto", "1k", "2k", "4k", "8k", "16k"),
		p("refcompressratio", "REFRATIO", "", F|S|R),
		p("written", "WRITTEN", "", F|S|R|Z),
		p("logicalused", "LUSED", "", F|R|Z),
		p("logicalreferenced", "LREFER", "", F|S|R|Z),
		p("volmode", "VOLMODE", "default", F|I, "default", "full", "geom", "dev", "none"),
		p("filesystem_limit", "FSLIMIT", "none", F),
		p("snapshot_limit", "SSLIMIT", "none", F),
		p("filesystem_count", "FSCOUNT", "none", F|R),
		p("snapshot_count", "SSCOUNT", "none", F|R),
		p("snapdev", "SNAPDEV", "hidden", F|I, "hidden", "visible"),
		p("acltype", "ACLTYPE", "nfsv4", F|S|I, "off", "nfsv4", "posix", "noacl", "posixacl"),
		p("context", "CONTEXT", "none", F|S),
		p("fscontext", "FSCONTEXT", "none", F|S),
		p("defcontext", "DEFCONTEXT", "none", F|S),
		p("rootcontext", "ROOTCONTEXT", "none", F|S),
		p("relatime", "RELATIME", "off", F|I, onOff...),
		p("redundant_metadata", "REDUND_MD", "all", F|I, "all", "most", "some", "none"),
		p("overlay", "OVERLAY", "on", F|I, onOff...),
		p("encryption", "ENCRYPTION", "off", F|S|R),
		p("keylocation", "KEYLOCATION", "none", F),
		p("keyformat", "KEYFORMAT", "none", F|R),
		p("pbkdf2iters", "PBKDF2ITERS", "0", F|R),
		p("special_small_blocks", "SPECIAL_SMALL_BLOCKS", "0", F|I|Z),
		p("clones", "CLONES", "", S|R),
		p("defer_destroy", "DEFER_DESTROY", "off", S|R),
		p("userrefs", "USERREFS", "0", S|R),
		p("name", "NAME", "", F|S|R|H),
		p("volsize", "VOLSIZE", "", R|Z|H),
	}
}()

var zfsPropByName = func() map[string]*zfsPropDef {
	m := map[string]*zfsPropDef{}
	for _, p := range zfsProps {
		m[p.name] = p
	}
	return m
}()

var zfsPropAlias = map[string]string{
	"avail": "available", "refer": "referenced", "ratio": "compressratio",
	"reserv": "reservation", "recsize": "recordsize", "compress": "compression",
	"refreserv": "refreservation", "usedsnap": "usedbysnapshots", "usedds": "usedbydataset",
	"usedchild": "usedbychildren", "usedrefreserv": "usedbyrefreservation",
	"lused": "logicalused", "lrefer": "logicalreferenced", "refratio": "refcompressratio",
	"rdonly": "readonly", "dnsize": "dnodesize",
}

// zfsUserProp: user properties contain a colon.
func zfsUserProp(name string) bool { return strings.Contains(name, ":") }

// zfsPropName normalises a property name; ok is false for an unknown one.
func zfsPropName(name string) (string, bool) {
	if zfsUserProp(name) {
		return name, true
	}
	if a, ok := zfsPropAlias[name]; ok {
		name = a
	}
	_, ok := zfsPropByName[name]
	return name, ok
}

// zfsCheckUserProp checks a user property's name.
func zfsCheckUserProp(name string) string {
	if len(name) > 256 {
		return "property name is too long"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(":+-._", r)) {
			return fmt.Sprintf("invalid character '%c' in property name", r)
		}
	}
	return ""
}

// checkSet checks prop=value for dataset name (typ is its type), and
// returns the value to store. The message follows "cannot set property
// for 'NAME': ".
func zfsCheckSet(prop, value, typ string, creating bool) (string, string) {
	if zfsUserProp(prop) {
		if m := zfsCheckUserProp(prop); m != "" {
			return "", m
		}
		if len(value) > 8192 {
			return "", fmt.Sprintf("property value for '%s' is too long", prop)
		}
		return value, ""
	}
	p, ok := zfsPropByName[prop]
	if !ok {
		return "", fmt.Sprintf("invalid property '%s'", prop)
	}
	if typ == zfsTypeSnap {
		return "", "this property can not be modified for snapshots"
	}
	if p.ro {
		if creating && (p.name == "encryption" || p.name == "utf8only" || p.name == "normalization" || p.name == "casesensitivity") {
			if (p.name == "encryption" && value != "off") || (p.name != "encryption" && value != p.def) {
				return "", fmt.Sprintf("'%s' is not supported by this emulation", p.name)
			}
			return value, ""
		}
		return "", fmt.Sprintf("'%s' is readonly", p.name)
	}
	if !p.fs {
		return "", "property does not apply to filesystems"
	}
	switch p.name {
	case "mountpoint":
		if value == "none" || value == "legacy" {
			return value, ""
		}
		if !strings.HasPrefix(value, "/") {
			return "", "'mountpoint' must be an absolute path, 'none', or 'legacy'"
		}
		v := path.Clean(value)
		return v, ""
	case "compression":
		ok := false
		for _, c := range []string{"on", "off", "lzjb", "gzip", "zle", "lz4", "zstd", "zstd-fast"} {
			if value == c {
				ok = true
			}
		}
		if n, found := strings.CutPrefix(value, "gzip-"); found {
			if i, err := strconv.Atoi(n); err == nil && i >= 1 && i <= 9 {
				ok = true
			}
		}
		if n, found := strings.CutPrefix(value, "zstd-"); found && !ok {
			n = strings.TrimPrefix(n, "fast-")
			if i, err := strconv.Atoi(n); err == nil && i >= 1 && i <= 1000 {
				ok = true
			}
		}
		if !ok {
			return "", "'compression' must be one of 'on | off | lzjb | gzip | gzip-[1-9] | zle | lz4 | zstd | zstd-[1-19] | zstd-fast | zstd-fast-[1-10,20,30,40,50,60,70,80,90,100,500,1000]'"
		}
		return value, ""
	case "sharenfs", "sharesmb", "keylocation", "context", "fscontext", "defcontext", "rootcontext", "mlslabel":
		return value, ""
	case "dedup":
		switch value {
		case "on", "off", "verify", "sha256", "sha256,verify", "sha512", "sha512,verify", "skein", "skein,verify", "edonr,verify", "blake3", "blake3,verify":
			return value, ""
		}
		return "", "'dedup' must be one of 'on | off | verify | sha256[,verify] | sha512[,verify] | skein[,verify] | edonr,verify | blake3[,verify]'"
	case "filesystem_limit", "snapshot_limit":
		if value == "none" {
			return value, ""
		}
		if _, err := strconv.ParseUint(value, 10, 64); err != nil {
			return "", fmt.Sprintf("'%s' must be a number or 'none'", p.name)
		}
		return value, ""
	}
	if p.size {
		n, ok := zfsParseSize(value)
		if !ok {
			return "", fmt.Sprintf("bad numeric value '%s'", value)
		}
		if p.name == "recordsize" && (n < 512 || n > 16<<20 || n&(n-1) != 0) {
			return "", "'recordsize' must be a power of 2 from 512B to 16M"
		}
		return strconv.FormatUint(n, 10), ""
	}
	if p.values != nil {
		for _, v := range p.values {
			if v == value {
				return value, ""
			}
		}
		return "", fmt.Sprintf("'%s' must be one of '%s'", p.name, strings.Join(p.values, " | "))
	}
	return value, ""
}

// ownValue is a property's value set on the dataset itself.
func (d *zfsDS) ownValue(prop string) (string, string, bool) {
	if v, ok := d.Local[prop]; ok {
		return v, "local", true
	}
	if v, ok := d.Received[prop]; ok {
		return v, "received", true
	}
	return "", "", false
}

// inheritedValue looks a property up on the dataset and then its parents
// (a snapshot's parent is its filesystem).
func (r *zfsReg) inheritedValue(name, prop string) (string, string, bool) {
	d := r.Datasets[name]
	if d == nil {
		return "", "", false
	}
	if v, src, ok := d.ownValue(prop); ok {
		return v, src, true
	}
	for p := zfsParent(name); p != ""; p = zfsParent(p) {
		pd := r.Datasets[p]
		if pd == nil {
			break
		}
		if v, _, ok := pd.ownValue(prop); ok {
			return v, "inherited from " + p, true
		}
	}
	return "", "", false
}

// mountpoint is a filesystem's effective mountpoint and its source.
func (r *zfsReg) mountpoint(name string) (string, string) {
	if d := r.Datasets[name]; d != nil {
		if v, src, ok := d.ownValue("mountpoint"); ok {
			return v, src
		}
	}
	parent := zfsParent(name)
	if parent == "" {
		return "/" + name, "default"
	}
	pv, psrc := r.mountpoint(parent)
	src := psrc
	if psrc == "local" || psrc == "received" {
		src = "inherited from " + parent
	}
	if pv == "none" || pv == "legacy" {
		return pv, src
	}
	return path.Join(pv, name[len(parent)+1:]), src
}

func (r *zfsReg) canmount(name string) string {
	if d := r.Datasets[name]; d != nil {
		if v, _, ok := d.ownValue("canmount"); ok {
			return v
		}
	}
	return "on"
}

// propValue is what zfs get prints for a property of a dataset: its
// value and source; ok is false when it does not apply.
func (c *zc) propValue(name, prop string, parsable bool) (string, string, bool) {
	r := c.reg
	d := r.Datasets[name]
	if d == nil {
		return "-", "-", false
	}
	isSnap := d.Type == zfsTypeSnap
	if zfsUserProp(prop) {
		if v, src, ok := r.inheritedValue(name, prop); ok {
			return v, src, true
		}
		return "-", "-", true
	}
	p := zfsPropByName[prop]
	if p == nil || (isSnap && !p.snap) || (!isSnap && !p.fs) {
		return "-", "-", false
	}
	size := func(n uint64) string {
		if parsable {
			return strconv.FormatUint(n, 10)
		}
		return zfsNicenum(n)
	}
	ro := func(v string) (string, string, bool) { return v, "-", true }
	switch prop {
	case "name":
		return ro(name)
	case "type":
		return ro(d.Type)
	case "creation":
		if parsable {
			return ro(strconv.FormatInt(d.Creation, 10))
		}
		return ro(zfsDate(d.Creation))
	case "used":
		return ro(size(c.used(name)))
	case "available":
		_, free := zfsStatfs()
		return ro(size(free))
	case "referenced", "logicalreferenced", "written", "usedbydataset":
		return ro(size(c.duOf(d.ID)))
	case "logicalused":
		return ro(size(c.used(name)))
	case "usedbysnapshots":
		return ro(size(c.usedSnaps(name)))
	case "usedbychildren":
		return ro(size(c.usedChildren(name)))
	case "usedbyrefreservation":
		return ro(size(0))
	case "compressratio", "refcompressratio":
		if parsable {
			return ro("1.00")
		}
		return ro("1.00x")
	case "mounted":
		if c.isMounted(name) {
			return ro("yes")
		}
		return ro("no")
	case "origin":
		if d.Origin == "" {
			return ro("-")
		}
		return ro(d.Origin)
	case "createtxg":
		return ro(strconv.FormatUint(d.TXG, 10))
	case "guid":
		return ro(strconv.FormatUint(d.GUID, 10))
	case "objsetid":
		return ro(strconv.FormatUint(d.TXG+54, 10))
	case "clones":
		cl := r.clones(name)
		if len(cl) == 0 {
			return ro("")
		}
		return ro(strings.Join(cl, ","))
	case "volsize":
		return ro("-")
	case "mountpoint":
		v, src := r.mountpoint(name)
		return v, src, true
	}
	if p.ro {
		return ro(p.def)
	}
	var v, src string
	if p.inherit {
		var ok bool
		v, src, ok = r.inheritedValue(name, prop)
		if !ok {
			v, src = p.def, "default"
		}
	} else if vv, s, ok := d.ownValue(prop); ok {
		v, src = vv, s
	} else {
		v, src = p.def, "default"
	}
	if p.size {
		n, _ := strconv.ParseUint(v, 10, 64)
		if !parsable && n == 0 && (prop == "quota" || prop == "reservation" || prop == "refquota" || prop == "refreservation") {
			return "none", src, true
		}
		return size(n), src, true
	}
	return v, src, true
}

func (c *zc) usedSnaps(name string) uint64 {
	var t uint64
	for _, s := range c.reg.snapshots(name) {
		t += c.duOf(c.reg.Datasets[s].ID)
	}
	return t
}

func (c *zc) usedChildren(name string) uint64 {
	var t uint64
	for n, d := range c.reg.Datasets {
		if d.Type == zfsTypeFS && zfsParent(n) == name {
			t += c.used(n)
		}
	}
	return t
}

// used: the dataset's data, its snapshots and its children's.
func (c *zc) used(name string) uint64 {
	d := c.reg.Datasets[name]
	if d == nil {
		return 0
	}
	if d.Type == zfsTypeSnap {
		return c.duOf(d.ID)
	}
	return c.duOf(d.ID) + c.usedSnaps(name) + c.usedChildren(name)
}

// allProps are the properties zfs get all shows for a dataset, native
// ones first, then user properties (set on it or inherited) sorted.
func (c *zc) allProps(name string) []string {
	d := c.reg.Datasets[name]
	var out []string
	for _, p := range zfsProps {
		if !p.all {
			continue
		}
		if d.Type == zfsTypeSnap && !p.snap || d.Type != zfsTypeSnap && !p.fs {
			continue
		}
		if p.name == "origin" && d.Origin == "" {
			continue
		}
		out = append(out, p.name)
	}
	user := map[string]bool{}
	for n := name; n != ""; n = zfsParent(n) {
		if dd := c.reg.Datasets[n]; dd != nil {
			for k := range dd.Local {
				if zfsUserProp(k) {
					user[k] = true
				}
			}
			for k := range dd.Received {
				if zfsUserProp(k) {
					user[k] = true
				}
			}
		}
	}
	var us []string
	for k := range user {
		us = append(us, k)
	}
	sort.Strings(us)
	return append(out, us...)
}

// zfsIsNumeric: properties whose list column is right-aligned.
func zfsIsNumeric(prop string) bool {
	if p := zfsPropByName[prop]; p != nil {
		return p.size || prop == "createtxg" || prop == "guid" || prop == "objsetid" || prop == "userrefs"
	}
	return false
}

// zfsNumericValue is a property as a number for sorting (ok false: sort
// as a string).
func (c *zc) numericValue(name, prop string) (uint64, bool) {
	if !zfsIsNumeric(prop) && prop != "creation" {
		return 0, false
	}
	v, _, _ := c.propValue(name, prop, true)
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}
