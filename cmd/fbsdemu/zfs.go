package main

// zfs and zpool: an emulation of FreeBSD 14's ZFS commands over plain
// folders. The registry of pools, datasets and snapshots is one JSON file
// (zfs/registry.json in the state folder, changed only under
// withLock("zfs")); a filesystem's files live in zfs/data/ID and, when
// mounted, that folder is bind-mounted at its mountpoint. A snapshot is a
// copy of the folder (cp -a --reflink=auto), a clone a copy of the
// snapshot. Sizes are du(1) of those folders, computed on demand.

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func init() {
	register("zfs", func(args []string) int { return zfsMain(args, os.Stdin, os.Stdout, os.Stderr) })
	register("zpool", func(args []string) int { return zpoolMain(args, os.Stdin, os.Stdout, os.Stderr) })
	createPool = zfsCreatePool
}

// zfsRegistry is the state file, relative to the state folder.
var zfsRegistry = filepath.Join("zfs", "registry.json")

// zfsReg is the emulated kernel's view of all pools.
type zfsReg struct {
	TXG      uint64              `json:"txg"`
	Pools    map[string]*zfsPool `json:"pools"`
	Datasets map[string]*zfsDS   `json:"datasets"`
}

type zfsPool struct {
	Created int64             `json:"created"`
	GUID    uint64            `json:"guid"`
	Props   map[string]string `json:"props,omitempty"`
}

// zfsDS is a filesystem or a snapshot (its name has an @).
type zfsDS struct {
	ID       string            `json:"id"`
	Type     string            `json:"type"`
	Local    map[string]string `json:"local,omitempty"`
	Received map[string]string `json:"received,omitempty"`
	Origin   string            `json:"origin,omitempty"`
	Creation int64             `json:"creation"`
	TXG      uint64            `json:"txg"`
	GUID     uint64            `json:"guid"`
	// MountedAt is where the folder was bind-mounted (symbolic links
	// resolved); it counts only if the mount is still in this mount
	// namespace's table.
	MountedAt string `json:"mounted_at,omitempty"`
}

const (
	zfsTypeFS   = "filesystem"
	zfsTypeSnap = "snapshot"
)

func newZfsReg() *zfsReg {
	return &zfsReg{Pools: map[string]*zfsPool{}, Datasets: map[string]*zfsDS{}}
}

func loadZfsReg() (*zfsReg, error) {
	r := newZfsReg()
	if err := loadJSON(zfsRegistry, r); err != nil {
		return nil, err
	}
	if r.Pools == nil {
		r.Pools = map[string]*zfsPool{}
	}
	if r.Datasets == nil {
		r.Datasets = map[string]*zfsDS{}
	}
	return r, nil
}

// zc is one invocation of zfs or zpool: its standard streams and what it
// has learnt so far (sizes, the mount table).
type zc struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	reg            *zfsReg
	du             map[string]uint64
	mounts         []zfsMount
	mountsRead     bool
	trash          []string
}

// zfsExit is an error whose message was already printed: exit with code.
type zfsExit int

func (e zfsExit) Error() string { return "exit " + strconv.Itoa(int(e)) }

func (c *zc) errf(format string, a ...any) {
	fmt.Fprintf(c.stderr, format+"\n", a...)
}

// fail prints a message and returns zfsExit(1).
func (c *zc) fail(format string, a ...any) error {
	c.errf(format, a...)
	return zfsExit(1)
}

// exitOf turns an error into an exit status, printing it unless printed.
func (c *zc) exitOf(err error) int {
	if err == nil {
		return 0
	}
	var e zfsExit
	if errors.As(err, &e) {
		return int(e)
	}
	c.errf("%v", err)
	return 1
}

// load reads the registry (without the lock: it is replaced atomically).
func (c *zc) load() error {
	r, err := loadZfsReg()
	if err != nil {
		return err
	}
	c.reg = r
	return nil
}

// update runs f on the registry under the lock and saves it if f
// succeeds or asks to by returning zfsSave(err).
func (c *zc) update(f func(r *zfsReg) error) error {
	err := withLock("zfs", func() error {
		if err := c.load(); err != nil {
			return err
		}
		ferr := f(c.reg)
		save := ferr == nil
		var s *zfsSaveErr
		if errors.As(ferr, &s) {
			save, ferr = true, s.err
		}
		if save {
			if err := saveJSON(zfsRegistry, c.reg); err != nil {
				return err
			}
		}
		return ferr
	})
	c.emptyTrash()
	return err
}

// zfsSaveErr: fail, but keep what was changed (e.g. created, not mounted).
type zfsSaveErr struct{ err error }

func (e *zfsSaveErr) Error() string { return e.err.Error() }

func zfsSave(err error) error {
	if err == nil {
		return nil
	}
	return &zfsSaveErr{err}
}

func zfsNewID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

func zfsNewGUID() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return binary.BigEndian.Uint64(b[:]) >> 1
}

func zfsDataDir(id string) (string, error) { return statePath("zfs", "data", id) }

// discard moves a dataset's folder aside (quick, under the lock); it is
// removed once the lock is released.
func (c *zc) discard(id string) {
	dir, err := zfsDataDir(id)
	if err != nil {
		return
	}
	trash, err := statePath("zfs", "trash", id)
	if err != nil {
		return
	}
	if err := os.Rename(dir, trash); err == nil {
		c.trash = append(c.trash, trash)
	}
}

func (c *zc) emptyTrash() {
	for _, t := range c.trash {
		zfsRemoveAll(t)
	}
	c.trash = nil
}

// zfsRemoveAll removes a folder, making read-only folders writable first.
func zfsRemoveAll(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	os.RemoveAll(dir)
}

// hostCp is the real cp(1) (PATH may hold stand-ins).
func hostCp() string {
	for _, p := range []string{"/usr/bin/cp", "/bin/cp"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "cp"
}

// zfsCopyTree copies the contents and attributes of folder src into dst
// (created if needed), keeping modes, owners, times and symbolic links.
func zfsCopyTree(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(hostCp(), "-a", "--reflink=auto", src+"/.", dst+"/").CombinedOutput()
	if err != nil {
		return fmt.Errorf("copy %s: %v: %s", src, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// zfsClearDir removes everything in dir, keeping folders that are mount
// points (rmdir says EBUSY) and dir itself.
func zfsClearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			os.Chmod(p, 0o700)
			if err := zfsClearDir(p); err != nil {
				return err
			}
			if err := syscall.Rmdir(p); err != nil && err != syscall.EBUSY {
				return err
			}
			continue
		}
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// zfsDu is du(1) of a folder in bytes: allocated blocks, hard links
// counted once, not crossing into other mounts (it walks the data folder,
// which no dataset is mounted on).
func zfsDu(dir string) uint64 {
	var total uint64
	seen := map[uint64]bool{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if !fi.IsDir() && uint64(st.Nlink) > 1 {
				if seen[uint64(st.Ino)] {
					return nil
				}
				seen[uint64(st.Ino)] = true
			}
			total += uint64(st.Blocks) * 512
		} else {
			total += uint64(fi.Size())
		}
		return nil
	})
	return total
}

func (c *zc) duOf(id string) uint64 {
	if c.du == nil {
		c.du = map[string]uint64{}
	}
	if v, ok := c.du[id]; ok {
		return v
	}
	dir, err := zfsDataDir(id)
	var v uint64
	if err == nil {
		v = zfsDu(dir)
	}
	c.du[id] = v
	return v
}

// zfsStatfs is the space of the state folder's filesystem.
func zfsStatfs() (size, free uint64) {
	d, err := stateDir()
	if err != nil {
		return 0, 0
	}
	var st zfsStatfsT
	if err := zfsStatfsCall(d, &st); err != nil {
		return 0, 0
	}
	return st.size, st.avail
}

type zfsStatfsT struct{ size, avail uint64 }

// --- names -----------------------------------------------------------

func zfsPoolOf(name string) string {
	if i := strings.IndexAny(name, "/@"); i >= 0 {
		return name[:i]
	}
	return name
}

// zfsParent is the parent filesystem of a filesystem ("" for a pool's
// root) or the filesystem of a snapshot.
func zfsParent(name string) string {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		return name[:i]
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

func zfsIsSnap(name string) bool { return strings.Contains(name, "@") }

// zfsUnder says whether name is base or below it (a descendant filesystem,
// or a snapshot of either).
func zfsUnder(name, base string) bool {
	if name == base {
		return true
	}
	if !strings.HasPrefix(name, base) {
		return false
	}
	ch := name[len(base)]
	return ch == '/' || ch == '@'
}

// zfsDepth is how deep name is below base (zfsUnder(name, base)).
func zfsDepth(name, base string) int {
	fs, snap, isSnap := strings.Cut(name, "@")
	_ = snap
	d := 0
	if fs != base {
		d = strings.Count(fs[len(base):], "/")
	}
	if isSnap {
		d++
	}
	return d
}

func zfsValidChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '_' || r == '-' || r == '.' || r == ':' || r == ' '
}

// zfsCheckName checks a dataset or snapshot name; the message is what
// zfs prints after "cannot open 'NAME': ".
func zfsCheckName(name string, snapOK bool) string {
	if name == "" {
		return "empty component or misplaced '@' or '#' delimiter in name"
	}
	if len(name) >= 256 {
		return "name is too long"
	}
	if strings.HasPrefix(name, "/") {
		return "leading slash in name"
	}
	if strings.HasSuffix(name, "/") {
		return "trailing slash in name"
	}
	if strings.Count(name, "@") > 1 {
		return "multiple '@' and/or '#' delimiters in name"
	}
	fs, snap, isSnap := strings.Cut(name, "@")
	if isSnap && !snapOK {
		return "snapshot delimiter '@' is not expected here"
	}
	for _, comp := range strings.Split(fs, "/") {
		if comp == "" {
			return "empty component or misplaced '@' or '#' delimiter in name"
		}
		if comp == "." || comp == ".." {
			return "self reference, '.' is found in name"
		}
		for _, r := range comp {
			if !zfsValidChar(r) {
				if r == '#' || r == '%' {
					return "empty component or misplaced '@' or '#' delimiter in name"
				}
				return fmt.Sprintf("invalid character '%c' in name", r)
			}
		}
	}
	if isSnap {
		if snap == "" {
			return "empty component or misplaced '@' or '#' delimiter in name"
		}
		for _, r := range snap {
			if !zfsValidChar(r) {
				return fmt.Sprintf("invalid character '%c' in name", r)
			}
		}
	}
	return ""
}

// zfsCompare orders names as zfs list does without -s: by filesystem
// name, a filesystem before its snapshots, snapshots by creation.
func (r *zfsReg) compare(a, b string) int {
	af, as, _ := strings.Cut(a, "@")
	bf, bs, _ := strings.Cut(b, "@")
	if c := strings.Compare(af, bf); c != 0 {
		return c
	}
	switch {
	case as == bs:
		return 0
	case as == "":
		return -1
	case bs == "":
		return 1
	}
	da, db := r.Datasets[a], r.Datasets[b]
	if da != nil && db != nil && da.TXG != db.TXG {
		if da.TXG < db.TXG {
			return -1
		}
		return 1
	}
	return strings.Compare(as, bs)
}

func (r *zfsReg) sorted(names []string) []string {
	sort.SliceStable(names, func(i, j int) bool { return r.compare(names[i], names[j]) < 0 })
	return names
}

// below lists name and everything under it (descendants and snapshots),
// sorted.
func (r *zfsReg) below(name string) []string {
	var out []string
	for n := range r.Datasets {
		if zfsUnder(n, name) {
			out = append(out, n)
		}
	}
	return r.sorted(out)
}

// snapshots of a filesystem, oldest first.
func (r *zfsReg) snapshots(fs string) []string {
	var out []string
	for n := range r.Datasets {
		if strings.HasPrefix(n, fs+"@") {
			out = append(out, n)
		}
	}
	return r.sorted(out)
}

// clones of a snapshot.
func (r *zfsReg) clones(snap string) []string {
	var out []string
	for n, d := range r.Datasets {
		if d.Origin == snap {
			out = append(out, n)
		}
	}
	return r.sorted(out)
}

func (r *zfsReg) nextTXG() uint64 {
	r.TXG++
	return r.TXG
}

// --- options ---------------------------------------------------------

type zfsOpt struct {
	c   byte
	arg string
}

// zfsGetopt parses args like getopt(3) with spec ("Hpo:" ...), permuting
// operands as glibc does; "--" ends the options.
func zfsGetopt(args []string, spec string) ([]zfsOpt, []string, error) {
	var opts []zfsOpt
	var operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			operands = append(operands, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			ch := a[j]
			k := strings.IndexByte(spec, ch)
			if k < 0 || ch == ':' {
				return nil, nil, fmt.Errorf("invalid option '%c'", ch)
			}
			if k+1 < len(spec) && spec[k+1] == ':' {
				if j+1 < len(a) {
					opts = append(opts, zfsOpt{ch, a[j+1:]})
				} else if i+1 < len(args) {
					i++
					opts = append(opts, zfsOpt{ch, args[i]})
				} else {
					return nil, nil, fmt.Errorf("missing argument for '%c' option", ch)
				}
				break
			}
			opts = append(opts, zfsOpt{ch, ""})
		}
	}
	return opts, operands, nil
}

// --- output ----------------------------------------------------------

// zfsTable prints rows: tab-separated without a header when scripted,
// else aligned under an upper-case header (right for right[i]).
func zfsTable(w io.Writer, header []string, rows [][]string, scripted bool, right []bool) {
	if scripted {
		for _, row := range rows {
			fmt.Fprintln(w, strings.Join(row, "\t"))
		}
		return
	}
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = len(h)
	}
	for _, row := range rows {
		for i, v := range row {
			if len(v) > width[i] {
				width[i] = len(v)
			}
		}
	}
	line := func(row []string) {
		var b strings.Builder
		for i, v := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-len(v))
			switch {
			case right != nil && right[i]:
				b.WriteString(pad + v)
			case i == len(row)-1:
				b.WriteString(v)
			default:
				b.WriteString(v + pad)
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(header)
	for _, row := range rows {
		line(row)
	}
}

// zfsNicenum formats bytes as zfs does: 0B, 512B, 96K, 1.50M, 12.3G.
func zfsNicenum(n uint64) string {
	const units = "BKMGTPE"
	i := 0
	for v := n; v >= 1024 && i < len(units)-1; v /= 1024 {
		i++
	}
	u := string(units[i])
	if i == 0 {
		return strconv.FormatUint(n, 10) + u
	}
	div := float64(uint64(1) << (10 * i))
	if n%(uint64(1)<<(10*i)) == 0 {
		return strconv.FormatUint(n>>(10*i), 10) + u
	}
	v := float64(n) / div
	for prec := 2; prec >= 0; prec-- {
		s := strconv.FormatFloat(v, 'f', prec, 64) + u
		if len(s) <= 5 {
			return s
		}
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + u
}

// zfsParseSize reads a size as zfs set takes it: 1024, 10K, 1.5G, none.
func zfsParseSize(s string) (uint64, bool) {
	if s == "none" {
		return 0, true
	}
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "B")
	mult := 1.0
	if t != "" {
		if k := strings.IndexByte("KMGTPE", t[len(t)-1]); k >= 0 {
			mult = float64(uint64(1) << (10 * (k + 1)))
			t = t[:len(t)-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return uint64(v * mult), true
}

func zfsDate(unix int64) string {
	return time.Unix(unix, 0).Format("Mon Jan _2 15:04 2006")
}

// --- the command -----------------------------------------------------

var zfsUsages = map[string]string{
	"list": "\tlist [-Hp] [-r|-d max] [-o property[,...]] [-s property]...\n" +
		"\t    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...",
	"get": "\tget [-rHp] [-d max] [-o \"all\" | field[,...]]\n" +
		"\t    [-t type[,...]] [-s source[,...]]\n" +
		"\t    <\"all\" | property[,...]> [filesystem|volume|snapshot|bookmark] ...",
	"set":      "\tset <property=value> ... <filesystem|volume|snapshot> ...",
	"inherit":  "\tinherit [-rS] <property> <filesystem|volume|snapshot> ...",
	"create":   "\tcreate [-Pnpuv] [-o property=value] ... <filesystem>",
	"destroy":  "\tdestroy [-fnpRrv] <filesystem|volume>\n\tdestroy [-dnpRrv] <filesystem|volume>@<snap>[%<snap>][,...]",
	"snapshot": "\tsnapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...",
	"rollback": "\trollback [-rRf] <snapshot>",
	"clone":    "\tclone [-p] [-o property=value] ... <snapshot> <filesystem|volume>",
	"rename": "\trename [-f] <filesystem|volume|snapshot> <filesystem|volume|snapshot>\n" +
		"\trename -p [-f] <filesystem|volume> <filesystem|volume>\n" +
		"\trename -u [-f] <filesystem> <filesystem>\n\trename -r <snapshot> <snapshot>",
	"mount":   "\tmount\n\tmount [-flvO] [-o opts] <-a | filesystem>",
	"unmount": "\tunmount [-fu] <-a | filesystem|mountpoint>",
	"send":    "\tsend [-DLPbcehnpsvw] [-R [-X dataset[,dataset]...]] [[-I|-i] <snapshot>] <snapshot>",
	"receive": "\treceive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ...\n\t    <filesystem|volume|snapshot>\n" +
		"\treceive [-vMnsFhu] [-o <property>=<value>] ... [-x <property>] ... \n\t    [-d | -e] <filesystem>",
	"version": "\tversion",
}

func (c *zc) usage(sub string) int {
	if u, ok := zfsUsages[sub]; ok {
		c.errf("usage:\n%s", u)
		return 2
	}
	c.errf("usage: zfs command args ...\nwhere 'command' is one of the following:\n")
	names := make([]string, 0, len(zfsUsages))
	for n := range zfsUsages {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c.errf("%s", zfsUsages[n])
	}
	return 2
}

// badUsage prints an option error and the usage of sub.
func (c *zc) badUsage(sub string, err error) int {
	c.errf("%v", err)
	return c.usage(sub)
}

func zfsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &zc{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		c.errf("missing command")
		return c.usage("")
	}
	if _, err := stateDir(); err != nil {
		warnx("zfs", "%v", err)
		return 1
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list", "ls":
		return c.list(rest)
	case "get":
		return c.get(rest)
	case "set":
		return c.set(rest)
	case "inherit":
		return c.inherit(rest)
	case "create":
		return c.create(rest)
	case "destroy":
		return c.destroy(rest)
	case "snapshot", "snap":
		return c.snapshot(rest)
	case "rollback":
		return c.rollback(rest)
	case "clone":
		return c.clone(rest)
	case "rename":
		return c.rename(rest)
	case "mount":
		return c.mountCmd(rest)
	case "unmount", "umount":
		return c.unmountCmd(rest)
	case "send":
		return c.send(rest)
	case "receive", "recv":
		return c.receive(rest)
	case "version":
		fmt.Fprintln(stdout, "zfs-2.2.4-FreeBSD_fbsdemu\nzfs-kmod-2.2.4-FreeBSD_fbsdemu")
		return 0
	case "-?", "help", "--help", "-h":
		c.usage("")
		return 0
	}
	c.errf("unrecognized command '%s'", sub)
	return c.usage("")
}
