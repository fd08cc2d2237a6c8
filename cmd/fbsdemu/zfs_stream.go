package main

// The send stream (this emulation's own format, byte-exact through pipes,
// files and xz):
//
//	"FBSDEMU-ZFS-STREAM 1\n" (a full stream) or "FBSDEMU-ZFS-STREAM 2\n"
//	(an incremental one, send -i/-I: a receiver that does not know it
//	refuses it rather than take it for a full one)
//	uint32 big-endian length, then that many bytes of JSON (zfsStreamHeader)
//	then, for each dataset of the header in order and each of its
//	snapshots in order, a payload: a PAX tar of the snapshot's files, cut
//	in chunks (uint32 big-endian length, then the bytes), ended by a chunk
//	of length 0.
//
// In an incremental stream (one dataset, never -R) the header names the
// base snapshot (fromsnap, fromguid) and each snapshot the one its payload
// is a delta from (fromguid: the base, or with -I the snapshot before it)
// and the paths deleted since then (deleted, also those whose type
// changed); the payload holds only what is new or changed (type, mode,
// owner, size, modification time, content, link target), with the folders
// above each such entry for their times; a file whose data is unchanged
// (its mode, owner or times are not) is a header without data, marked by
// the PAX record FBSDEMU.attrsonly. The incremental fields are omitted
// from full streams, which are what they always were.

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	zfsStreamMagic     = "FBSDEMU-ZFS-STREAM 1\n"
	zfsStreamMagicIncr = "FBSDEMU-ZFS-STREAM 2\n"
)

type zfsStreamHeader struct {
	Source    string        `json:"source"` // the sent filesystem
	Snap      string        `json:"snap"`
	Recursive bool          `json:"recursive"`
	Datasets  []zfsStreamFS `json:"datasets"`
	Created   int64         `json:"created"`
	// An incremental stream's base snapshot (its name after the @).
	FromSnap string `json:"fromsnap,omitempty"`
	FromGUID uint64 `json:"fromguid,omitempty"`
}

type zfsStreamFS struct {
	Rel       string            `json:"rel"` // "" for Source, else the path below it
	Props     map[string]string `json:"props,omitempty"`
	Snapshots []zfsStreamSnap   `json:"snapshots"`
}

type zfsStreamSnap struct {
	Name     string            `json:"name"`
	Creation int64             `json:"creation"`
	GUID     uint64            `json:"guid"`
	Props    map[string]string `json:"props,omitempty"`
	// Incremental streams: the snapshot the payload is a delta from and
	// the paths ("a/b", relative to the filesystem) gone since.
	FromGUID uint64   `json:"fromguid,omitempty"`
	Deleted  []string `json:"deleted,omitempty"`
}

// chunked framing of a payload.
type zfsChunkWriter struct{ w io.Writer }

func (cw zfsChunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := len(p)
		if k > 1<<20 {
			k = 1 << 20
		}
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(k))
		if _, err := cw.w.Write(l[:]); err != nil {
			return n, err
		}
		if _, err := cw.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

func (cw zfsChunkWriter) end() error {
	_, err := cw.w.Write([]byte{0, 0, 0, 0})
	return err
}

type zfsChunkReader struct {
	r    io.Reader
	left uint32
	done bool
}

func (cr *zfsChunkReader) Read(p []byte) (int, error) {
	if cr.done {
		return 0, io.EOF
	}
	if cr.left == 0 {
		var l [4]byte
		if _, err := io.ReadFull(cr.r, l[:]); err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		cr.left = binary.BigEndian.Uint32(l[:])
		if cr.left == 0 {
			cr.done = true
			return 0, io.EOF
		}
	}
	if uint32(len(p)) > cr.left {
		p = p[:cr.left]
	}
	n, err := cr.r.Read(p)
	cr.left -= uint32(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// zfsAttrsOnly is the PAX record of a delta's entry for a file whose
// content did not change: a header without data, whose attributes the
// receiver applies to the file it has.
const zfsAttrsOnly = "FBSDEMU.attrsonly"

// zfsWriteTar writes the files of dir as a tar, when dl is not nil only
// those it includes (a folder it lacks is skipped with all below it),
// those of its attrsOnly without their data.
func zfsWriteTar(dir string, w io.Writer, dl *zfsDelta) error {
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		attrsOnly := false
		if dl != nil {
			if !dl.include[filepath.ToSlash(rel)] {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			attrsOnly = dl.attrsOnly[filepath.ToSlash(rel)]
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = "./" + filepath.ToSlash(rel)
		if rel == "." {
			hdr.Name = "./"
		} else if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX
		if attrsOnly && hdr.Typeflag == tar.TypeReg {
			hdr.Size = 0
			hdr.PAXRecords = map[string]string{zfsAttrsOnly: "1"}
		} else if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && uint64(st.Nlink) > 1 {
			key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
			if first, seen := links[key]; seen {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = hdr.Name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && !attrsOnly {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// zfsSafeJoin joins a tar name to dir, refusing to leave it.
func zfsSafeJoin(dir, name string) (string, error) {
	n := path.Clean("/" + name)
	if strings.Contains(name, "..") {
		for _, comp := range strings.Split(name, "/") {
			if comp == ".." {
				return "", fmt.Errorf("bad file name in stream: %q", name)
			}
		}
	}
	return filepath.Join(dir, filepath.FromSlash(n)), nil
}

func zfsApplyAttrs(p string, hdr *tar.Header, symlink bool) error {
	if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	if !symlink {
		if err := os.Chmod(p, hdr.FileInfo().Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
			return err
		}
	}
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// zfsExtractTar unpacks a tar made by zfsWriteTar into dir (existing).
func zfsExtractTar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	type dirAttr struct {
		p   string
		hdr *tar.Header
	}
	var dirs []dirAttr
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		target, err := zfsSafeJoin(dir, hdr.Name)
		if err != nil {
			return err
		}
		if target != dir {
			if fi, err := os.Lstat(filepath.Dir(target)); err != nil || !fi.IsDir() {
				return fmt.Errorf("bad file name in stream: %q", hdr.Name)
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if target != dir {
				if err := os.Mkdir(target, 0o700); err != nil && !os.IsExist(err) {
					return err
				}
			}
			dirs = append(dirs, dirAttr{target, hdr})
			continue
		case tar.TypeReg:
			if hdr.PAXRecords[zfsAttrsOnly] == "1" {
				// A delta's file whose content did not change.
				if fi, err := os.Lstat(target); err != nil || !fi.Mode().IsRegular() {
					return fmt.Errorf("bad file name in stream: %q (not a file here)", hdr.Name)
				}
				err = zfsApplyAttrs(target, hdr, false)
				break
			}
			os.Remove(target)
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			err = zfsApplyAttrs(target, hdr, false)
		case tar.TypeSymlink:
			os.Remove(target)
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
			err = zfsApplyAttrs(target, hdr, true)
		case tar.TypeLink:
			src, err2 := zfsSafeJoin(dir, hdr.Linkname)
			if err2 != nil {
				return err2
			}
			os.Remove(target)
			err = os.Link(src, target)
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			mode := uint32(unix.S_IFIFO)
			if hdr.Typeflag == tar.TypeChar {
				mode = unix.S_IFCHR
			} else if hdr.Typeflag == tar.TypeBlock {
				mode = unix.S_IFBLK
			}
			os.Remove(target)
			if err := zfsMknod(target, mode|0o600, unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))); err != nil {
				return err
			}
			err = zfsApplyAttrs(target, hdr, false)
		default:
			continue
		}
		if err != nil {
			return err
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := zfsApplyAttrs(dirs[i].p, dirs[i].hdr, false); err != nil {
			return err
		}
	}
	return nil
}

// streamProps are the properties send -R carries: local and received.
func (d *zfsDS) streamProps() map[string]string {
	if len(d.Local)+len(d.Received) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range d.Received {
		out[k] = v
	}
	for k, v := range d.Local {
		out[k] = v
	}
	return out
}

func (c *zc) send(args []string) int {
	opts, ops, err := zfsGetopt(args, "DLPbcehnpsvwRX:I:i:t:")
	if err != nil {
		return c.badUsage("send", err)
	}
	var recursive, props, dry, verbose, parsable bool
	var from string
	var fromOpt byte
	for _, o := range opts {
		switch o.c {
		case 'R':
			recursive = true
		case 'p':
			props = true
		case 'n':
			dry = true
		case 'v':
			verbose = true
		case 'P':
			verbose, parsable = true, true
		case 'i', 'I':
			if fromOpt != 0 {
				return c.usage("send")
			}
			from, fromOpt = o.arg, o.c
		case 't':
			c.errf("resuming a stream (-t) is not supported by this emulation")
			return 1
		}
	}
	if len(ops) != 1 {
		if len(ops) == 0 {
			c.errf("missing snapshot argument")
		} else {
			c.errf("too many arguments")
		}
		return c.usage("send")
	}
	snap := ops[0]
	if err := c.load(); err != nil {
		return c.exitOf(err)
	}
	r := c.reg
	top := c.open(snap)
	if top == nil {
		return 1
	}
	if top.Type != zfsTypeSnap {
		c.errf("cannot send '%s': operation not applicable to datasets of this type", snap)
		return 1
	}
	if fromOpt != 0 {
		if recursive {
			c.errf("cannot send '%s': incremental replication streams (-R with -%c) are not supported by this emulation", snap, fromOpt)
			return 1
		}
		return c.sendIncremental(snap, from, fromOpt == 'I', props, dry, verbose, parsable)
	}
	fs, sname, _ := strings.Cut(snap, "@")
	h := zfsStreamHeader{Source: fs, Snap: sname, Recursive: recursive, Created: time.Now().Unix()}
	var ids [][]string
	addFS := func(n string) {
		upto := r.Datasets[n+"@"+sname]
		if upto == nil {
			return
		}
		sfs := zfsStreamFS{Rel: strings.TrimPrefix(n[len(fs):], "/")}
		if recursive || props {
			sfs.Props = r.Datasets[n].streamProps()
		}
		var snaps []string
		if recursive {
			for _, s := range r.snapshots(n) {
				if r.Datasets[s].TXG <= upto.TXG {
					snaps = append(snaps, s)
				}
			}
		} else {
			snaps = []string{n + "@" + sname}
		}
		var sids []string
		for _, s := range snaps {
			sd := r.Datasets[s]
			sfs.Snapshots = append(sfs.Snapshots, zfsStreamSnapOf(s, sd))
			sids = append(sids, sd.ID)
		}
		h.Datasets = append(h.Datasets, sfs)
		ids = append(ids, sids)
	}
	if recursive {
		for _, n := range r.below(fs) {
			if r.Datasets[n].Type == zfsTypeFS {
				addFS(n)
			}
		}
	} else {
		addFS(fs)
	}
	if verbose {
		// The sizes are du(1) of the snapshots.
		out := c.sendVerboseOut(dry)
		var total uint64
		for i, d := range h.Datasets {
			name := fs
			if d.Rel != "" {
				name += "/" + d.Rel
			}
			for j, s := range d.Snapshots {
				var size uint64
				if dir, err := zfsDataDir(ids[i][j]); err == nil {
					size = zfsDu(dir)
				}
				total += size
				zfsPrintSendEstimate(out, name+"@"+s.Name, "", size, parsable)
			}
		}
		zfsPrintSendTotal(out, total, parsable, recursive)
	}
	if dry {
		return 0
	}
	var payloads []zfsPayload
	for _, sids := range ids {
		for _, id := range sids {
			dir, err := zfsDataDir(id)
			if err != nil {
				return c.exitOf(err)
			}
			payloads = append(payloads, zfsPayload{dir: dir})
		}
	}
	return c.sendStream(snap, zfsStreamMagic, &h, payloads)
}

// open looks a dataset or snapshot up in c.reg as libzfs's zfs_open
// does: nil, its message printed, for an invalid name or none there.
func (c *zc) open(name string) *zfsDS {
	if m := zfsCheckName(name, true); m != "" {
		c.errf("cannot open '%s': %s", name, m)
		return nil
	}
	d := c.reg.Datasets[name]
	if d == nil {
		c.errf("cannot open '%s': dataset does not exist", name)
	}
	return d
}

// zfsStreamSnapOf is what a stream's header says of snapshot s (fs@name,
// sd its dataset); an incremental stream adds where its delta is from.
func zfsStreamSnapOf(s string, sd *zfsDS) zfsStreamSnap {
	_, short, _ := strings.Cut(s, "@")
	return zfsStreamSnap{Name: short, Creation: sd.Creation, GUID: sd.GUID, Props: sd.Local}
}

// zfsPayload is what a stream carries of one snapshot: the files of dir,
// with delta (an incremental stream's) only those it includes.
type zfsPayload struct {
	dir   string
	delta *zfsDelta
}

// sendStream writes a stream to standard output: magic, header h, then
// the payloads, in the order of h's snapshots. Its messages name snap,
// the snapshot send was given.
func (c *zc) sendStream(snap, magic string, h *zfsStreamHeader, payloads []zfsPayload) int {
	destroyed := func() int {
		c.errf("cannot send '%s': snapshot was destroyed while sending", snap)
		return 1
	}
	bw := bufio.NewWriterSize(c.stdout, 1<<20)
	if err := zfsPutHeader(bw, magic, h); err != nil {
		return c.exitOf(err)
	}
	for _, p := range payloads {
		// A snapshot may be destroyed before its turn or while its files
		// are read: the registry is not locked while the stream goes.
		if _, err := os.Stat(p.dir); err != nil {
			return destroyed()
		}
		cw := zfsChunkWriter{bw}
		if err := zfsWriteTar(p.dir, cw, p.delta); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return destroyed()
			}
			c.errf("cannot send '%s': %v", snap, err)
			return 1
		}
		if err := cw.end(); err != nil {
			c.errf("cannot send '%s': %v", snap, zfsErrno(err))
			return 1
		}
	}
	if err := bw.Flush(); err != nil {
		c.errf("cannot send '%s': %v", snap, zfsErrno(err))
		return 1
	}
	return 0
}

// zfsPutHeader writes the magic and the header of a stream.
func zfsPutHeader(bw *bufio.Writer, magic string, h *zfsStreamHeader) error {
	hj, err := json.Marshal(h)
	if err != nil {
		return err
	}
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(hj)))
	bw.WriteString(magic)
	bw.Write(l[:])
	bw.Write(hj)
	return nil
}

// sendVerboseOut is where send -v/-P reports: standard output for a dry
// run (-n), else standard error (the stream goes to standard output).
func (c *zc) sendVerboseOut(dry bool) io.Writer {
	if dry {
		return c.stdout
	}
	return c.stderr
}

// zfsPrintSendEstimate is libzfs's send_print_verbose: one snapshot's
// line of send -v or -P (from "" for a full send; a short name, without
// its @, as the -I and -R code paths give it, or a full one as -i does).
func zfsPrintSendEstimate(w io.Writer, to, from string, size uint64, parsable bool) {
	var b strings.Builder
	switch {
	case parsable && from != "":
		fmt.Fprintf(&b, "incremental\t%s\t%s\t%d", from, to, size)
	case parsable:
		fmt.Fprintf(&b, "full\t%s\t%d", to, size)
	default:
		switch {
		case from == "":
			fmt.Fprintf(&b, "full send of %s", to)
		case !strings.ContainsAny(from, "@#"):
			fmt.Fprintf(&b, "send from @%s to %s", from, to)
		default:
			fmt.Fprintf(&b, "send from %s to %s", from, to)
		}
		if size != 0 {
			fmt.Fprintf(&b, " estimated size is %s", zfsNicenum(size))
		}
	}
	fmt.Fprintln(w, b.String())
}

// zfsPrintSendTotal ends send -v/-P's report. zfs prints the total in
// bytes ("512B") on the -R/-I code path (multi), without the unit below
// 1K ("512") on the single-snapshot one.
func zfsPrintSendTotal(w io.Writer, total uint64, parsable, multi bool) {
	if parsable {
		fmt.Fprintf(w, "size\t%d\n", total)
		return
	}
	n := zfsNicenum(total)
	if !multi && total < 1024 {
		n = strconv.FormatUint(total, 10)
	}
	fmt.Fprintf(w, "total estimated size is %s\n", n)
}

// zfsReadHeader reads the magic and the header of a stream (a full or
// an incremental one: FromGUID is set only in the latter).
func zfsReadHeader(r io.Reader) (*zfsStreamHeader, error) {
	magic := make([]byte, len(zfsStreamMagic))
	if _, err := io.ReadFull(r, magic); err != nil {
		return nil, errors.New("failed to read from stream")
	}
	incremental := false
	switch string(magic) {
	case zfsStreamMagic:
	case zfsStreamMagicIncr:
		incremental = true
	default:
		return nil, errors.New("invalid stream (bad magic number)")
	}
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, errors.New("failed to read from stream")
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > 64<<20 {
		return nil, errors.New("invalid stream (header too large)")
	}
	hj := make([]byte, n)
	if _, err := io.ReadFull(r, hj); err != nil {
		return nil, errors.New("failed to read from stream")
	}
	var h zfsStreamHeader
	if err := json.Unmarshal(hj, &h); err != nil {
		return nil, fmt.Errorf("invalid stream (bad header: %v)", err)
	}
	if len(h.Datasets) == 0 {
		return nil, errors.New("invalid stream (no datasets)")
	}
	for _, d := range h.Datasets {
		if len(d.Snapshots) == 0 {
			return nil, errors.New("invalid stream (a dataset without snapshots)")
		}
	}
	if !incremental {
		h.FromSnap, h.FromGUID = "", 0
		for i := range h.Datasets {
			for j := range h.Datasets[i].Snapshots {
				h.Datasets[i].Snapshots[j].FromGUID = 0
				h.Datasets[i].Snapshots[j].Deleted = nil
			}
		}
		return &h, nil
	}
	if h.FromGUID == 0 || h.Recursive || len(h.Datasets) != 1 {
		return nil, errors.New("invalid stream (bad incremental header)")
	}
	for _, s := range h.Datasets[0].Snapshots {
		if s.FromGUID == 0 {
			return nil, errors.New("invalid stream (bad incremental header)")
		}
	}
	return &h, nil
}

// zfsSkipPayload reads the next payload of a stream, unpacking nothing.
func zfsSkipPayload(in io.Reader) error {
	_, err := io.Copy(io.Discard, &zfsChunkReader{r: in})
	return err
}

// zfsStaging is the dataset folders a receive fills outside the lock:
// removed at the end, but for those the registry took (keep).
type zfsStaging struct{ dirs []string }

// newDir names a new dataset folder, not made yet, and stages it.
func (st *zfsStaging) newDir() (id, dir string, err error) {
	id = zfsNewID()
	if dir, err = zfsDataDir(id); err != nil {
		return "", "", err
	}
	st.dirs = append(st.dirs, dir)
	return id, dir, nil
}

// receivePayload makes a snapshot's folder of the next payload of the
// stream: a full one's is unpacked into an empty folder (base ""), a
// delta over a copy of base, the snapshot it is from, less the paths
// deleted since.
func (st *zfsStaging) receivePayload(in io.Reader, base string, deleted []string) (id, dir string, err error) {
	if id, dir, err = st.newDir(); err != nil {
		return "", "", err
	}
	if base == "" {
		err = os.MkdirAll(dir, 0o755)
	} else {
		err = zfsCopyTree(base, dir)
	}
	if err == nil {
		err = zfsApplyDeletions(dir, deleted)
	}
	cr := &zfsChunkReader{r: in}
	if err == nil {
		err = zfsExtractTar(cr, dir)
	}
	if err == nil {
		// The tar reader stops at the tar's end: read on to the payload's,
		// where the next one starts.
		_, err = io.Copy(io.Discard, cr)
	}
	return id, dir, err
}

// keep leaves the staged folders to the registry, which now names them.
func (st *zfsStaging) keep() { st.dirs = nil }

func (st *zfsStaging) removeAll() {
	for _, d := range st.dirs {
		zfsRemoveAll(d)
	}
}

// payloadFailed reports a payload that could not be received: the
// stream ended early, or unpacking it failed. errbuf starts zfs's
// message, which names the kind of stream.
func (c *zc) payloadFailed(errbuf string, err error) int {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		c.errf("%s: failed to read from stream", errbuf)
	} else {
		c.errf("%s: %v", errbuf, zfsErrno(err))
	}
	return 1
}

// refuseDependentClones fails, listing them, when clones outside set
// (what receive -F destroys) depend on its snapshots.
func (c *zc) refuseDependentClones(errbuf string, set map[string]bool) error {
	if blocking := c.destroySet(set, false); len(blocking) > 0 {
		c.errf("%s: destination has dependent clones", errbuf)
		for _, b := range blocking {
			c.errf("%s", b)
		}
		return zfsExit(1)
	}
	return nil
}

// zfsReceivedProps are the properties of a stream's filesystem (send -p
// or -R) that receive sets as received: not those -x excludes or -o
// sets, nor those this emulation does not know; nil when none.
func zfsReceivedProps(props map[string]string, exclude map[string]bool, set map[string]string) map[string]string {
	var recv map[string]string
	for k, v := range props {
		if exclude[k] {
			continue
		}
		if _, over := set[k]; over {
			continue
		}
		if _, ok := zfsPropName(k); !ok {
			continue
		}
		if recv == nil {
			recv = map[string]string{}
		}
		recv[k] = v
	}
	return recv
}

// addReceivedSnap records the received snapshot name, whose folder is
// id: it keeps the stream's GUID (the next incremental stream's base is
// found by it), creation time and user properties, but those -x excludes.
func (r *zfsReg) addReceivedSnap(name, id string, s zfsStreamSnap, exclude map[string]bool) {
	var props map[string]string
	for k, v := range s.Props {
		if zfsUserProp(k) && !exclude[k] {
			if props == nil {
				props = map[string]string{}
			}
			props[k] = v
		}
	}
	r.Datasets[name] = &zfsDS{ID: id, Type: zfsTypeSnap, Local: props,
		Creation: s.Creation, TXG: r.nextTXG(), GUID: s.GUID}
}

func (c *zc) receive(args []string) int {
	opts, ops, err := zfsGetopt(args, "vMnsFhuAdeo:x:")
	if err != nil {
		return c.badUsage("receive", err)
	}
	var force, nomount, dry, verbose, discard, lastOnly bool
	exclude := map[string]bool{}
	var setOpts []zfsOpt
	origin := ""
	for _, o := range opts {
		switch o.c {
		case 'F':
			force = true
		case 'u':
			nomount = true
		case 'n':
			dry = true
		case 'v':
			verbose = true
		case 'd':
			discard = true
		case 'e':
			lastOnly = true
		case 'A', 's':
			c.errf("resumable receives (-%c) are not supported by this emulation", o.c)
			return 1
		case 'x':
			n, ok := zfsPropName(o.arg)
			if !ok {
				c.errf("invalid property '%s'", o.arg)
				return c.usage("receive")
			}
			exclude[n] = true
		case 'o':
			if v, ok := strings.CutPrefix(o.arg, "origin="); ok {
				origin = v
				continue
			}
			setOpts = append(setOpts, o)
		}
	}
	if len(ops) != 1 {
		if len(ops) == 0 {
			c.errf("missing snapshot argument")
		} else {
			c.errf("too many arguments")
		}
		return c.usage("receive")
	}
	if discard && lastOnly {
		c.errf("-d and -e cannot be used together")
		return c.usage("receive")
	}
	target := ops[0]
	setProps, msg := zfsParseProps(setOpts, zfsTypeFS)
	if msg != "" {
		c.errf("cannot receive: %s", msg)
		return 1
	}
	if origin != "" {
		if err := c.load(); err != nil {
			return c.exitOf(err)
		}
		if od := c.reg.Datasets[origin]; od == nil || od.Type != zfsTypeSnap {
			c.errf("cannot open '%s': dataset does not exist", origin)
			return 1
		}
	}
	in := bufio.NewReaderSize(c.stdin, 1<<20)
	h, err := zfsReadHeader(in)
	if err != nil {
		c.errf("cannot receive: %v", err)
		return 1
	}
	// The names the stream's datasets get.
	topName, snapOverride := target, ""
	if fs, s, ok := strings.Cut(target, "@"); ok {
		if h.Recursive || discard || lastOnly {
			c.errf("cannot receive: a snapshot name can only be given for a stream of one snapshot")
			return 1
		}
		topName, snapOverride = fs, s
	}
	if discard {
		if _, rest, ok := strings.Cut(h.Source, "/"); ok {
			topName = target + "/" + rest
		} else {
			topName = target
		}
	} else if lastOnly {
		topName = target + "/" + path.Base(h.Source)
	}
	if m := zfsCheckName(topName, false); m != "" {
		c.errf("cannot receive: '%s': %s", topName, m)
		return 1
	}
	if h.FromGUID != 0 {
		return c.receiveIncremental(h, in, topName, snapOverride, zfsRecvOpts{force: force, dry: dry, verbose: verbose,
			exclude: exclude, setProps: setProps, origin: origin})
	}
	names := make([]string, len(h.Datasets))
	for i, d := range h.Datasets {
		names[i] = topName
		if d.Rel != "" {
			names[i] += "/" + d.Rel
		}
	}
	check := func(r *zfsReg) error {
		if r.Pools[zfsPoolOf(topName)] == nil {
			return c.fail("cannot receive new filesystem stream: no such pool '%s'", zfsPoolOf(topName))
		}
		if origin != "" {
			if od := r.Datasets[origin]; od == nil || od.Type != zfsTypeSnap {
				return c.fail("cannot open '%s': dataset does not exist", origin)
			}
		}
		for _, n := range names {
			if r.Datasets[n] != nil && !force {
				c.errf("cannot receive new filesystem stream: destination '%s' exists", n)
				c.errf("must specify -F to overwrite it")
				return zfsExit(1)
			}
		}
		if p := zfsParent(topName); p != "" && r.Datasets[p] == nil && !discard && !lastOnly {
			return c.fail("cannot receive new filesystem stream: parent of '%s' does not exist", topName)
		}
		return nil
	}
	if err := withLock("zfs", func() error {
		if err := c.load(); err != nil {
			return err
		}
		return check(c.reg)
	}); err != nil {
		return c.exitOf(err)
	}
	// Unpack outside the lock: the stream may come slowly.
	type staged struct {
		fsID  string
		snaps []string
	}
	stage := make([]staged, len(h.Datasets))
	staging := &zfsStaging{}
	defer staging.removeAll()
	for i, d := range h.Datasets {
		for j, s := range d.Snapshots {
			if dry {
				if err := zfsSkipPayload(in); err != nil {
					c.errf("cannot receive: failed to read from stream")
					return 1
				}
				if verbose {
					fmt.Fprintf(c.stdout, "would receive full stream of %s@%s into %s@%s\n", path.Join(h.Source, d.Rel), s.Name, names[i], s.Name)
				}
				continue
			}
			id, dir, err := staging.receivePayload(in, "", nil)
			if err != nil {
				return c.payloadFailed("cannot receive new filesystem stream", err)
			}
			if verbose {
				fmt.Fprintf(c.stdout, "receiving full stream of %s@%s into %s@%s\n", path.Join(h.Source, d.Rel), s.Name, names[i], s.Name)
			}
			stage[i].snaps = append(stage[i].snaps, id)
			if j == len(d.Snapshots)-1 {
				fid, fdir, err := staging.newDir()
				if err == nil {
					err = zfsCopyTree(dir, fdir)
				}
				if err != nil {
					c.errf("cannot receive new filesystem stream: %v", err)
					return 1
				}
				stage[i].fsID = fid
			}
		}
	}
	if dry {
		return 0
	}
	err = c.update(func(r *zfsReg) error {
		if err := check(r); err != nil {
			return err
		}
		if force {
			set := map[string]bool{}
			for _, n := range names {
				if r.Datasets[n] != nil {
					for _, b := range r.below(n) {
						set[b] = true
					}
				}
			}
			if err := c.refuseDependentClones("cannot receive new filesystem stream", set); err != nil {
				return err
			}
			if err := c.doDestroy(set, true); err != nil {
				return err
			}
		}
		if discard || lastOnly {
			if err := c.makeParents(topName); err != nil {
				return zfsSave(err)
			}
		}
		var created []string
		for i, d := range h.Datasets {
			n := names[i]
			if p := zfsParent(n); p != "" && r.Datasets[p] == nil {
				return zfsSave(c.fail("cannot receive new filesystem stream: parent of '%s' does not exist", n))
			}
			fs := &zfsDS{ID: stage[i].fsID, Type: zfsTypeFS, Creation: time.Now().Unix(), GUID: zfsNewGUID(),
				Received: zfsReceivedProps(d.Props, exclude, setProps)}
			if i == 0 {
				if len(setProps) > 0 {
					fs.Local = map[string]string{}
					for k, v := range setProps {
						fs.Local[k] = v
					}
				}
				fs.Origin = origin
			}
			fs.TXG = r.nextTXG()
			r.Datasets[n] = fs
			for j, s := range d.Snapshots {
				sname := s.Name
				if snapOverride != "" && j == len(d.Snapshots)-1 {
					sname = snapOverride
				}
				r.addReceivedSnap(n+"@"+sname, stage[i].snaps[j], s, exclude)
			}
			created = append(created, n)
		}
		staging.keep()
		if nomount {
			return nil
		}
		var failed error
		for _, n := range c.byMountpoint(created) {
			if err := c.mountNew(n); err != nil {
				failed = err
			}
		}
		return zfsSave(failed)
	})
	return c.exitOf(err)
}
