package main

// Incremental send streams (zfs send -i/-I) and their receipt: the payload
// of a snapshot is what changed since the one before it (zfsDiff), the
// paths deleted since travel in the header (see zfs_stream.go).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// zfsDelta is what changed from one folder (a snapshot's) to another.
type zfsDelta struct {
	// include: the entries to send, slash paths relative to the folder
	// ("." for the folder itself): those new or changed, the folders
	// above them, and every name of a hard-linked file one of whose
	// names is sent.
	include map[string]bool
	// attrsOnly: the included files whose content is unchanged (their
	// mode, owner or times changed): sent without their data.
	attrsOnly map[string]bool
	// deleted: the paths gone, or whose type changed, sorted (below a
	// folder gone only the folder).
	deleted []string
}

var errZfsDiffers = errors.New("the folders differ")

// zfsDiff compares folder dir with base (an earlier state of it). With
// quick it stops at the first difference, returning errZfsDiffers.
// Sockets are not sent (zfsWriteTar skips them) and not compared.
func zfsDiff(base, dir string, quick bool) (*zfsDelta, error) {
	dl := &zfsDelta{include: map[string]bool{}, attrsOnly: map[string]bool{}}
	mark := func(rel string) {
		for !dl.include[rel] {
			dl.include[rel] = true
			if rel == "." {
				return
			}
			rel = path.Dir(rel)
		}
	}
	deleted := map[string]bool{}
	groups := map[[2]uint64][]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		bp := filepath.Join(base, rel)
		rel = filepath.ToSlash(rel)
		bfi, berr := os.Lstat(bp)
		if fi.Mode()&os.ModeSocket != 0 {
			if berr == nil && bfi.Mode()&os.ModeSocket == 0 && !quick {
				deleted[rel] = true
			}
			return nil
		}
		changed, attrsOnly := false, false
		switch {
		case berr != nil:
			// New (or below what was no folder: ENOTDIR).
			changed = true
		case bfi.Mode().Type() != fi.Mode().Type():
			deleted[rel] = true
			changed = true
		default:
			same, sameData, err := zfsSameEntry(bp, p, bfi, fi)
			if err != nil {
				return err
			}
			changed, attrsOnly = !same, !same && sameData && fi.Mode().IsRegular()
		}
		if changed && quick {
			return errZfsDiffers
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && uint64(st.Nlink) > 1 {
			key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
			groups[key] = append(groups[key], rel)
		}
		if changed {
			mark(rel)
			if attrsOnly {
				dl.attrsOnly[rel] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil || rel == "." {
			return err
		}
		nfi, nerr := os.Lstat(filepath.Join(dir, rel))
		if nerr != nil {
			if d.Type()&os.ModeSocket == 0 {
				if quick {
					return errZfsDiffers
				}
				deleted[filepath.ToSlash(rel)] = true
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() && !nfi.IsDir() {
			return filepath.SkipDir // listed by the walk above
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A hard-linked file whose data goes goes whole, every name of it:
	// the receiver links them anew.
	for _, g := range groups {
		for _, rel := range g {
			if dl.include[rel] && !dl.attrsOnly[rel] {
				for _, r := range g {
					mark(r)
					delete(dl.attrsOnly, r)
				}
				break
			}
		}
	}
	for rel := range deleted {
		dl.deleted = append(dl.deleted, rel)
		mark(path.Dir(rel)) // its folder's times change on the receiver
	}
	sort.Strings(dl.deleted)
	return dl, nil
}

// zfsModified says whether dir differs from base (zfsDiff).
func zfsModified(base, dir string) (bool, error) {
	_, err := zfsDiff(base, dir, true)
	if errors.Is(err, errZfsDiffers) {
		return true, nil
	}
	return false, err
}

// zfsSameEntry compares two entries of the same type: mode, owner,
// modification time (but of symbolic links), and what they hold: link
// count, size and content of files, target of symbolic links, device
// number. Access times are not compared. sameData: what they hold is the
// same (whatever the rest).
func zfsSameEntry(a, b string, afi, bfi os.FileInfo) (same, sameData bool, err error) {
	same = afi.Mode() == bfi.Mode()
	ast, aok := afi.Sys().(*syscall.Stat_t)
	bst, bok := bfi.Sys().(*syscall.Stat_t)
	if aok && bok {
		if ast.Uid != bst.Uid || ast.Gid != bst.Gid {
			same = false
		}
		if afi.Mode().IsRegular() && ast.Nlink != bst.Nlink {
			return false, false, nil
		}
		if afi.Mode()&os.ModeDevice != 0 && ast.Rdev != bst.Rdev {
			return false, false, nil
		}
	}
	switch {
	case afi.Mode()&os.ModeSymlink != 0:
		la, err := os.Readlink(a)
		if err != nil {
			return false, false, err
		}
		lb, err := os.Readlink(b)
		if err != nil {
			return false, false, err
		}
		return same && la == lb, la == lb, nil
	case afi.Mode().IsRegular():
		if afi.Size() != bfi.Size() {
			return false, false, nil
		}
		if same && !afi.ModTime().Equal(bfi.ModTime()) {
			same = false
		}
		sameData, err = zfsSameContent(a, b)
		return same && sameData, sameData, err
	}
	return same && afi.ModTime().Equal(bfi.ModTime()), true, nil
}

func zfsSameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		aEnd := ea == io.EOF || ea == io.ErrUnexpectedEOF
		bEnd := eb == io.EOF || eb == io.ErrUnexpectedEOF
		switch {
		case ea != nil && !aEnd:
			return false, ea
		case eb != nil && !bEnd:
			return false, eb
		case aEnd || bEnd:
			return aEnd && bEnd, nil
		}
	}
}

// zfsCounter counts what is written to it.
type zfsCounter struct{ n uint64 }

func (w *zfsCounter) Write(p []byte) (int, error) {
	w.n += uint64(len(p))
	return len(p), nil
}

// zfsDeltaPayloadSize is the size of a delta's payload in the stream
// (tar and chunk framing), what send -v reports for it.
func zfsDeltaPayloadSize(dir string, dl *zfsDelta) (uint64, error) {
	var n zfsCounter
	cw := zfsChunkWriter{&n}
	if err := zfsWriteTar(dir, cw, dl); err != nil {
		return 0, err
	}
	if err := cw.end(); err != nil {
		return 0, err
	}
	return n.n, nil
}

// zfsBeforeViaOrigin: snap (of another filesystem) is fs's origin or an
// earlier snapshot of an origin's filesystem (libzfs's
// snapshot_is_before through clones).
func (r *zfsReg) beforeViaOrigin(snap, fs string) bool {
	sd := r.Datasets[snap]
	for guard := 0; guard < 64; guard++ {
		d := r.Datasets[fs]
		if d == nil || d.Origin == "" {
			return false
		}
		if d.Origin == snap {
			return true
		}
		ofs := zfsParent(d.Origin)
		if od := r.Datasets[d.Origin]; od != nil && ofs == zfsParent(snap) && sd != nil && sd.TXG < od.TXG {
			return true
		}
		fs = ofs
	}
	return false
}

// sendIncremental is zfs send [-i|-I] FROM SNAP (top: SNAP, a snapshot;
// c.reg loaded). The messages are those of zfs: -i goes libzfs's
// zfs_send_one way, -I its zfs_send one.
func (c *zc) sendIncremental(snap, from string, doall, props, dry, verbose, parsable bool) int {
	r := c.reg
	fs, sname, _ := strings.Cut(snap, "@")
	top := r.Datasets[snap]
	originMsg := func() int {
		c.errf("cannot send '%s': incremental streams from a clone's origin are not supported by this emulation", snap)
		return 1
	}
	var base, shown string // the base snapshot; how -v names it
	if !doall {
		if !strings.ContainsAny(from, "@#") {
			c.errf("Warning: incremental source didn't specify type, assuming snapshot. Use '@' or '#' prefix to avoid ambiguity.")
			from = "@" + from
		}
		if from[0] == '@' || from[0] == '#' {
			from = fs + from
		}
		if strings.Contains(from, "#") {
			// There are no bookmarks in this emulation.
			c.errf("warning: cannot send '%s': incremental source (%s) does not exist", snap, from)
			return 1
		}
		base, shown = from, from
	} else {
		if strings.Contains(from, "#") {
			c.errf("Error: multiple snapshots cannot be sent from a bookmark.")
			return 1
		}
		if at := strings.IndexByte(from, '@'); at >= 0 {
			if r.Datasets[fs].Origin == from {
				return originMsg()
			}
			if at > 0 && from[:at] != fs {
				c.errf("incremental source must be in same filesystem")
				return c.usage("send")
			}
			from = from[at+1:]
			if strings.ContainsAny(from, "@/") {
				c.errf("invalid incremental source")
				return c.usage("send")
			}
		}
		if from == "" {
			c.errf("cannot send '%s': zero-length incremental source", fs)
			return 1
		}
		base, shown = fs+"@"+from, from
	}
	bd := c.open(base)
	if bd == nil {
		return 1
	}
	if zfsParent(base) != fs || bd.TXG >= top.TXG {
		switch {
		case doall:
			c.errf("WARNING: could not send %s:\nincremental source (%s) is not earlier than it", snap, base)
		case zfsParent(base) != fs && r.beforeViaOrigin(base, fs):
			return originMsg()
		default:
			c.errf("warning: cannot send '%s': not an earlier snapshot from the same fs", snap)
		}
		return 1
	}

	snaps := []string{snap}
	if doall {
		snaps = nil
		for _, s := range r.snapshots(fs) {
			if d := r.Datasets[s]; d.TXG > bd.TXG && d.TXG <= top.TXG {
				snaps = append(snaps, s)
			}
		}
	}
	_, baseShort, _ := strings.Cut(base, "@")
	h := zfsStreamHeader{Source: fs, Snap: sname, Created: time.Now().Unix(), FromSnap: baseShort, FromGUID: bd.GUID}
	sfs := zfsStreamFS{}
	if props {
		sfs.Props = r.Datasets[fs].streamProps()
	}
	parts := make([]zfsPayload, len(snaps))
	prev := base
	for i, s := range snaps {
		pd, sd := r.Datasets[prev], r.Datasets[s]
		pdir, err := zfsDataDir(pd.ID)
		if err != nil {
			return c.exitOf(err)
		}
		sdir, err := zfsDataDir(sd.ID)
		if err != nil {
			return c.exitOf(err)
		}
		dl, err := zfsDiff(pdir, sdir, false)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				c.errf("cannot send '%s': snapshot was destroyed while sending", snap)
			} else {
				c.errf("cannot send '%s': %v", snap, zfsErrno(err))
			}
			return 1
		}
		ss := zfsStreamSnapOf(s, sd)
		ss.FromGUID, ss.Deleted = pd.GUID, dl.deleted
		sfs.Snapshots = append(sfs.Snapshots, ss)
		parts[i] = zfsPayload{dir: sdir, delta: dl}
		prev = s
	}
	h.Datasets = []zfsStreamFS{sfs}

	if verbose {
		// The sizes are those of the payloads.
		out := c.sendVerboseOut(dry)
		var total uint64
		for i, s := range snaps {
			size, err := zfsDeltaPayloadSize(parts[i].dir, parts[i].delta)
			if err != nil {
				c.errf("cannot send '%s': %v", snap, zfsErrno(err))
				return 1
			}
			total += size
			f := shown
			if doall && i > 0 {
				_, f, _ = strings.Cut(snaps[i-1], "@")
			}
			zfsPrintSendEstimate(out, s, f, size, parsable)
		}
		zfsPrintSendTotal(out, total, parsable, doall)
	}
	if dry {
		return 0
	}
	return c.sendStream(snap, zfsStreamMagicIncr, &h, parts)
}

// zfsApplyDeletions removes the paths of a delta's deleted list from dir.
func zfsApplyDeletions(dir string, deleted []string) error {
	for _, rel := range deleted {
		p, err := zfsSafeJoin(dir, rel)
		if err != nil {
			return err
		}
		if p == dir {
			return fmt.Errorf("bad file name in stream: %q", rel)
		}
		// Never through a symbolic link: every folder above must be one.
		gone := false
		for q := filepath.Dir(p); q != dir && !gone; q = filepath.Dir(q) {
			fi, err := os.Lstat(q)
			switch {
			case os.IsNotExist(err):
				gone = true
			case err != nil:
				return err
			case !fi.IsDir():
				return fmt.Errorf("bad file name in stream: %q", rel)
			}
		}
		if gone {
			continue
		}
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			continue
		}
		zfsRemoveAll(p)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("cannot remove %s", rel)
		}
	}
	return nil
}

// zfsRecvOpts are receive's options an incremental stream uses.
type zfsRecvOpts struct {
	force, dry, verbose bool
	exclude             map[string]bool
	setProps            map[string]string
	origin              string
}

// zfsRecvStep is one snapshot of an incremental stream as it will be
// received.
type zfsRecvStep struct {
	snap string // the snapshot to make, fs@name
	skip bool   // there already, with the stream's GUID: ignored
	base string // the existing snapshot its delta applies to; "" for the step before's
	id   string // its staged folder
}

type zfsRecvPlan struct {
	steps   []zfsRecvStep
	base    string          // the existing snapshot the first received step applies to
	destroy map[string]bool // the later snapshots -F destroys
}

func (p *zfsRecvPlan) same(q *zfsRecvPlan) bool {
	if p.base != q.base || len(p.steps) != len(q.steps) || len(p.destroy) != len(q.destroy) {
		return false
	}
	for i := range p.steps {
		a, b := p.steps[i], q.steps[i]
		if a.snap != b.snap || a.skip != b.skip || a.base != b.base {
			return false
		}
	}
	for n := range p.destroy {
		if !q.destroy[n] {
			return false
		}
	}
	return true
}

// planIncremental checks what the kernel checks of each snapshot of the
// stream, in its order (the new name, then the incremental source), and
// says where each goes; the messages are printed.
func (c *zc) planIncremental(r *zfsReg, name string, d zfsStreamFS, snapName func(int) string, force bool) (*zfsRecvPlan, error) {
	const errbuf = "cannot receive incremental stream"
	p := &zfsRecvPlan{destroy: map[string]bool{}}
	byGUID := map[uint64]string{}
	for _, s := range r.snapshots(name) {
		byGUID[r.Datasets[s].GUID] = s
	}
	taken := map[string]bool{}
	received, lastGUID := false, uint64(0)
	for j, s := range d.Snapshots {
		st := zfsRecvStep{snap: name + "@" + snapName(j)}
		if ex := r.Datasets[st.snap]; (ex != nil && !p.destroy[st.snap]) || taken[st.snap] {
			if ex != nil && !taken[st.snap] && ex.GUID == s.GUID {
				st.skip = true
				p.steps = append(p.steps, st)
				continue
			}
			return nil, c.fail("cannot restore to %s: destination already exists", st.snap)
		}
		switch b, ok := byGUID[s.FromGUID]; {
		case received && s.FromGUID == lastGUID:
		case !received && ok && !p.destroy[b]:
			st.base, p.base = b, b
			if force {
				bt := r.Datasets[b].TXG
				for _, later := range r.snapshots(name) {
					if r.Datasets[later].TXG > bt {
						p.destroy[later] = true
					}
				}
			}
		default:
			return nil, c.fail("%s: most recent snapshot of %s does not\nmatch incremental source", errbuf, name)
		}
		received, lastGUID = true, s.GUID
		taken[st.snap] = true
		p.steps = append(p.steps, st)
	}
	return p, nil
}

// receiveIncremental is zfs receive of an incremental stream into the
// filesystem name: the target must exist and hold the stream's base
// (by GUID), unmodified since unless -F, which also destroys the
// snapshots after the base. The snapshots are staged outside the lock
// (a copy of the base, the deletions, the delta); the filesystem then
// takes the last one's files and the snapshots their names, GUIDs and
// creation times. Nothing changes when the stream is cut short.
func (c *zc) receiveIncremental(h *zfsStreamHeader, in io.Reader, name, snapOverride string, o zfsRecvOpts) int {
	const errbuf = "cannot receive incremental stream"
	d := h.Datasets[0]
	if snapOverride != "" && len(d.Snapshots) > 1 {
		c.errf("cannot receive: a snapshot name can only be given for a stream of one snapshot")
		return 1
	}
	if o.origin != "" {
		c.errf("%s: -o origin= with an incremental stream is not supported by this emulation", errbuf)
		return 1
	}
	snapName := func(j int) string {
		if snapOverride != "" && j == len(d.Snapshots)-1 {
			return snapOverride
		}
		return d.Snapshots[j].Name
	}
	src := h.Source
	if d.Rel != "" {
		src += "/" + d.Rel
	}
	if err := c.load(); err != nil {
		return c.exitOf(err)
	}
	if fd := c.reg.Datasets[name]; fd == nil || fd.Type != zfsTypeFS {
		c.errf("%s: destination '%s' does not exist", errbuf, name)
		return 1
	}
	if o.dry {
		for j, s := range d.Snapshots {
			if o.verbose {
				fmt.Fprintf(c.stdout, "would receive incremental stream of %s@%s into %s@%s\n", src, s.Name, name, snapName(j))
			}
			if err := zfsSkipPayload(in); err != nil {
				return c.payloadFailed(errbuf, err)
			}
		}
		return 0
	}

	// What the kernel checks before it reads the data.
	plan, err := c.planIncremental(c.reg, name, d, snapName, o.force)
	if err != nil {
		return c.exitOf(err)
	}
	fsID := c.reg.Datasets[name].ID
	liveDir, err := zfsDataDir(fsID)
	if err != nil {
		return c.exitOf(err)
	}
	modified := func(r *zfsReg) error {
		if o.force || plan.base == "" {
			return nil
		}
		bdir, err := zfsDataDir(r.Datasets[plan.base].ID)
		if err != nil {
			return err
		}
		mod, err := zfsModified(bdir, liveDir)
		if err != nil {
			return c.fail("%s: %v", errbuf, zfsErrno(err))
		}
		if mod {
			return c.fail("%s: destination %s has been modified\nsince most recent snapshot", errbuf, name)
		}
		return nil
	}
	if err := modified(c.reg); err != nil {
		return c.exitOf(err)
	}
	if err := c.refuseDependentClones(errbuf, plan.destroy); err != nil {
		return c.exitOf(err)
	}

	// Stage the snapshots.
	staging := &zfsStaging{}
	defer staging.removeAll()
	prevDir := ""
	for j, s := range d.Snapshots {
		st := &plan.steps[j]
		if o.verbose {
			fmt.Fprintf(c.stdout, "receiving incremental stream of %s@%s into %s\n", src, s.Name, st.snap)
		}
		if st.skip {
			if o.verbose {
				fmt.Fprintf(c.stdout, "snap %s already exists; ignoring\n", st.snap)
			}
			if err := zfsSkipPayload(in); err != nil {
				return c.payloadFailed(errbuf, err)
			}
			continue
		}
		baseDir := prevDir
		if st.base != "" {
			if baseDir, err = zfsDataDir(c.reg.Datasets[st.base].ID); err != nil {
				return c.exitOf(err)
			}
		}
		var dir string
		if st.id, dir, err = staging.receivePayload(in, baseDir, s.Deleted); err != nil {
			return c.payloadFailed(errbuf, err)
		}
		prevDir = dir
	}

	err = c.update(func(r *zfsReg) error {
		if fd := r.Datasets[name]; fd == nil || fd.Type != zfsTypeFS || fd.ID != fsID {
			return c.fail("%s: destination '%s' does not exist", errbuf, name)
		}
		now, err := c.planIncremental(r, name, d, snapName, o.force)
		if err != nil {
			return err
		}
		if !now.same(plan) {
			return c.fail("%s: destination %s changed during the receive", errbuf, name)
		}
		if err := modified(r); err != nil {
			return err
		}
		if err := c.refuseDependentClones(errbuf, plan.destroy); err != nil {
			return err
		}
		if len(plan.destroy) > 0 {
			if err := c.doDestroy(plan.destroy, false); err != nil {
				return err
			}
		}
		for j, st := range plan.steps {
			if st.skip {
				continue
			}
			r.addReceivedSnap(st.snap, st.id, d.Snapshots[j], o.exclude)
		}
		staging.keep()
		if prevDir == "" {
			return nil // every snapshot was there already
		}
		if err := zfsClearDir(liveDir); err != nil {
			return zfsSave(c.fail("%s: %v", errbuf, zfsErrno(err)))
		}
		if err := zfsCopyTree(prevDir, liveDir); err != nil {
			return zfsSave(c.fail("%s: %v", errbuf, err))
		}
		return zfsSave(c.receiveProps(name, d.Props, o))
	})
	return c.exitOf(err)
}

// receiveProps applies the properties of an incremental stream (send -p:
// they replace the received ones) and receive -o to an existing
// filesystem, remounting it when its mountpoint or canmount changes.
func (c *zc) receiveProps(name string, streamProps map[string]string, o zfsRecvOpts) error {
	if streamProps == nil && len(o.setProps) == 0 {
		return nil
	}
	fd := c.reg.Datasets[name]
	recv := zfsReceivedProps(streamProps, o.exclude, o.setProps)
	apply := func() {
		if streamProps != nil {
			fd.Received = recv
		}
		if len(o.setProps) > 0 && fd.Local == nil {
			fd.Local = map[string]string{}
		}
		for k, v := range o.setProps {
			fd.Local[k] = v
		}
	}
	oldMp, _ := c.reg.mountpoint(name)
	oldCm := c.reg.canmount(name)
	local, received := fd.Local, fd.Received
	fd.Local, fd.Received = zfsCopyProps(local), zfsCopyProps(received)
	apply()
	newMp, _ := c.reg.mountpoint(name)
	if newMp == oldMp && c.reg.canmount(name) == oldCm {
		return nil
	}
	fd.Local, fd.Received = local, received
	return c.changeMountpoint(name, false, apply)
}

func zfsCopyProps(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
