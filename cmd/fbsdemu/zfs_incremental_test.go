package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
)

// treeOf describes every entry below dir (type and mode, owner, link
// count of files, modification time but for symbolic links, content
// digest, link target), by slash path; sockets are left out.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" links=%d size=%d sha=%x mtime=%d", st.Nlink, len(b), sha256.Sum256(b), fi.ModTime().UnixNano())
		default:
			desc += fmt.Sprintf(" mtime=%d", fi.ModTime().UnixNano())
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree fails the test unless the two folders hold the same entries.
func sameTree(t *testing.T, what, want, got string) {
	t.Helper()
	w, g := treeOf(t, want), treeOf(t, got)
	var diffs []string
	for k, v := range w {
		if g[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: want %q, got %q", k, v, g[k]))
		}
	}
	for k, v := range g {
		if _, ok := w[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: not wanted, got %q", k, v))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Fatalf("%s differ:\n%s", what, strings.Join(diffs, "\n"))
	}
}

// dataOf is the folder of a dataset or snapshot.
func (z *zfsT) dataOf(name string) string {
	z.t.Helper()
	r, err := loadZfsReg()
	if err != nil {
		z.t.Fatal(err)
	}
	d := r.Datasets[name]
	if d == nil {
		z.t.Fatalf("%s does not exist", name)
	}
	dir, err := zfsDataDir(d.ID)
	if err != nil {
		z.t.Fatal(err)
	}
	return dir
}

// stream runs zfs send and returns the stream.
func (z *zfsT) stream(args ...string) []byte {
	z.t.Helper()
	out, errs, code := z.run(nil, append([]string{"send"}, args...)...)
	if code != 0 {
		z.t.Fatalf("zfs send %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return []byte(out)
}

// recv runs zfs receive of a stream, wanting success; it returns stdout.
func (z *zfsT) recv(stream []byte, args ...string) string {
	z.t.Helper()
	out, errs, code := z.run(stream, append([]string{"receive"}, args...)...)
	if code != 0 {
		z.t.Fatalf("zfs receive %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// recvFail runs zfs receive of a stream, wanting exit 1 and stderr msg.
func (z *zfsT) recvFail(stream []byte, msg string, args ...string) {
	z.t.Helper()
	out, errs, code := z.run(stream, append([]string{"receive"}, args...)...)
	if code != 1 || !strings.Contains(errs, msg) {
		z.t.Fatalf("zfs receive %s: exit %d, want 1 and %q\n%s%s", strings.Join(args, " "), code, msg, out, errs)
	}
}

// newZfsTSrc is newZfsT with a filesystem tp/src, whose folder it
// returns too.
func newZfsTSrc(t *testing.T) (*zfsT, string) {
	t.Helper()
	z := newZfsT(t)
	z.ok("create", "tp/src")
	return z, z.mnt("src")
}

// snapGUIDs is "name guid creation" of a filesystem's snapshots, by
// their names after the @.
func (z *zfsT) snapGUIDs(fs string) string {
	z.t.Helper()
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(z.ok("list", "-Hp", "-o", "name,guid,creation", "-t", "snapshot", "-r", fs)), "\n") {
		if l == "" {
			continue
		}
		_, rest, _ := strings.Cut(l, "@")
		b.WriteString(rest + "\n")
	}
	return b.String()
}

// sameSnaps fails the test unless filesystem dst has the n snapshots of
// src, with their names, GUIDs and creation times.
func (z *zfsT) sameSnaps(dst, src string, n int) {
	z.t.Helper()
	if got, want := z.snapGUIDs(dst), z.snapGUIDs(src); got != want || strings.Count(got, "\n") != n {
		z.t.Fatalf("snapshots of %s:\n%swant (%s's, %d):\n%s", dst, got, src, n, want)
	}
}

// payloadSize is the size of a stream less its magic and header.
func payloadSize(t *testing.T, stream []byte) uint64 {
	t.Helper()
	if len(stream) < 25 {
		t.Fatalf("stream of %d bytes", len(stream))
	}
	return uint64(len(stream)) - 25 - uint64(binary.BigEndian.Uint32(stream[21:25]))
}

func mkdirs(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestZFSSendReceiveIncremental(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	z, src := newZfsTSrc(t)
	dst := z.mnt("dst")
	big1 := bytes.Repeat([]byte("BIG-ONE-MARKER-0123456789abcdef\n"), 1<<15) // 1M
	big2 := bytes.Repeat([]byte("big-two-marker-fedcba9876543210\n"), 1<<15)
	must(t, os.WriteFile(src+"/big1", big1, 0o644))
	must(t, os.WriteFile(src+"/big2", big2, 0o644))
	writeFile(t, src+"/small", "v1")
	mkdirs(t, src+"/sub/deep")
	writeFile(t, src+"/sub/deep/f", "deep v1")
	must(t, os.Chmod(src+"/sub", 0o750))
	must(t, os.Symlink("small", src+"/link"))
	writeFile(t, src+"/gone", "bye")
	mkdirs(t, src+"/gonedir/inner")
	writeFile(t, src+"/gonedir/inner/x", "x")
	writeFile(t, src+"/typechange", "a file for now")
	writeFile(t, src+"/hl1", "hard")
	must(t, os.Link(src+"/hl1", src+"/hl2"))
	writeFile(t, src+"/ha", "same")
	must(t, os.Link(src+"/ha", src+"/hc"))
	writeFile(t, src+"/hb", "other")
	mkdirs(t, src+"/quiet")
	writeFile(t, src+"/quiet/old", "old")
	z.ok("snapshot", "tp/src@s1")

	full1 := z.stream("tp/src@s1")
	var hdr map[string]json.RawMessage
	if !bytes.HasPrefix(full1, []byte(zfsStreamMagic)) || json.Unmarshal(full1[25:25+binary.BigEndian.Uint32(full1[21:25])], &hdr) != nil {
		t.Fatalf("a full stream's magic or header: %q", full1[:40])
	}
	var keys []string
	for k := range hdr {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "created,datasets,recursive,snap,source" {
		t.Fatalf("a full stream's header has %v", keys)
	}
	z.recv(full1, "tp/dst")
	sameTree(t, "tp/dst after the full receive", src, dst)

	// Changes: content, metadata, owner, new files and folders, deletions,
	// a retargeted and a new symbolic link, a file become a folder.
	writeFile(t, src+"/small", "v2 changed")
	must(t, os.Chown(src+"/small", 1000, 1001))
	writeFile(t, src+"/new", "brand new")
	writeFile(t, src+"/sub/deep/new2", "n2")
	mkdirs(t, src+"/newdir/a/b")
	writeFile(t, src+"/newdir/a/b/leaf", "leaf")
	must(t, os.Remove(src+"/gone"))
	must(t, os.RemoveAll(src+"/gonedir"))
	must(t, os.Remove(src+"/link"))
	must(t, os.Symlink("sub/deep/f", src+"/link"))
	must(t, os.Symlink("../big1", src+"/sub/l2"))
	must(t, os.Remove(src+"/typechange"))
	mkdirs(t, src+"/typechange")
	writeFile(t, src+"/typechange/in", "inside")
	must(t, os.Chmod(src+"/big2", 0o600))
	// ha keeps its data and link count but changes mode; hb becomes
	// another name of it.
	must(t, os.Remove(src+"/hc"))
	must(t, os.Remove(src+"/hb"))
	must(t, os.Link(src+"/ha", src+"/hb"))
	must(t, os.Chmod(src+"/ha", 0o600))
	// A deletion whose folder gets its time back.
	qfi, err := os.Stat(src + "/quiet")
	must(t, err)
	must(t, os.Remove(src+"/quiet/old"))
	must(t, os.Chtimes(src+"/quiet", qfi.ModTime(), qfi.ModTime()))
	z.ok("set", "user:note=two", "tp/src")
	z.ok("snapshot", "tp/src@s2")

	inc := z.stream("-p", "-i", "@s1", "tp/src@s2")
	full2 := z.stream("tp/src@s2")
	if !bytes.HasPrefix(inc, []byte(zfsStreamMagicIncr)) {
		t.Fatalf("incremental magic: %q", inc[:21])
	}
	if bytes.Contains(inc, []byte("BIG-ONE-MARKER")) || !bytes.Contains(full2, []byte("BIG-ONE-MARKER")) {
		t.Fatal("the delta carries the unchanged big file (or the full stream lacks it)")
	}
	if len(inc)*10 > len(full2) {
		t.Fatalf("delta %d bytes, full stream %d: not a delta", len(inc), len(full2))
	}
	out := z.recv(inc, "-v", "tp/dst")
	if out != "receiving incremental stream of tp/src@s2 into tp/dst@s2\n" {
		t.Fatalf("receive -v: %q", out)
	}
	sameTree(t, "tp/dst after the incremental receive", src, dst)
	sameTree(t, "the snapshots @s2", z.dataOf("tp/src@s2"), z.dataOf("tp/dst@s2"))
	sameTree(t, "the snapshots @s1", z.dataOf("tp/src@s1"), z.dataOf("tp/dst@s1"))
	for f, want := range map[string]string{"small": "v2 changed", "new": "brand new", "sub/deep/new2": "n2",
		"newdir/a/b/leaf": "leaf", "typechange/in": "inside", "big1": string(big1), "hl2": "hard"} {
		if got := readFile(t, filepath.Join(dst, f)); got != want {
			t.Fatalf("%s = %.40q, want %.40q", f, got, want)
		}
	}
	for _, f := range []string{"gone", "gonedir"} {
		if _, err := os.Lstat(filepath.Join(dst, f)); !os.IsNotExist(err) {
			t.Fatalf("%s is still there: %v", f, err)
		}
	}
	if l, err := os.Readlink(dst + "/link"); err != nil || l != "sub/deep/f" {
		t.Fatalf("link -> %q %v", l, err)
	}
	if l, err := os.Readlink(dst + "/sub/l2"); err != nil || l != "../big1" {
		t.Fatalf("sub/l2 -> %q %v", l, err)
	}
	if fi, err := os.Stat(dst + "/big2"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("big2: %v %v", fi, err)
	}
	var a, b syscall.Stat_t
	if syscall.Stat(dst+"/hl1", &a) != nil || syscall.Stat(dst+"/hl2", &b) != nil || a.Ino != b.Ino {
		t.Fatal("hl1 and hl2 are no longer one file")
	}
	z.sameSnaps("tp/dst", "tp/src", 2)
	if got := z.ok("get", "-H", "-o", "value,source", "user:note", "tp/dst"); got != "two\treceived\n" {
		t.Fatalf("the -p property: %q", got)
	}
	z.want("mounted", "tp/dst", "yes")

	// Further along the chain, the source named in full.
	writeFile(t, src+"/small", "v3")
	must(t, os.Remove(src+"/big2"))
	must(t, os.Remove(src+"/hl1"))
	z.ok("snapshot", "tp/src@s3")
	inc23 := z.stream("-i", "tp/src@s2", "tp/src@s3")
	z.recv(inc23, "tp/dst")
	sameTree(t, "tp/dst after @s3", src, dst)
	sameTree(t, "the snapshots @s3", z.dataOf("tp/src@s3"), z.dataOf("tp/dst@s3"))
	z.sameSnaps("tp/dst", "tp/src", 3)

	// Dry runs report the delta's size, the payload sent.
	n := payloadSize(t, inc23)
	out, errs, code := z.run(nil, "send", "-nvP", "-i", "@s2", "tp/src@s3")
	if want := fmt.Sprintf("incremental\ttp/src@s2\ttp/src@s3\t%d\nsize\t%d\n", n, n); code != 0 || out != want || errs != "" {
		t.Fatalf("send -nvP: %d\n%q\nwant %q\n%s", code, out, want, errs)
	}
	out, _, code = z.run(nil, "send", "-nv", "-i", "@s2", "tp/src@s3")
	if want := fmt.Sprintf("send from tp/src@s2 to tp/src@s3 estimated size is %s\ntotal estimated size is %s\n", zfsNicenum(n), zfsNicenum(n)); code != 0 || out != want {
		t.Fatalf("send -nv: %d\n%q\nwant %q", code, out, want)
	}
	_, errs, code = z.run(nil, "send", "-v", "-i", "@s2", "tp/src@s3")
	if code != 0 || !strings.Contains(errs, "send from tp/src@s2 to tp/src@s3 estimated size is") {
		t.Fatalf("send -v reports on stderr: %d %q", code, errs)
	}
	// A full send's dry run as zfs prints it.
	out, _, _ = z.run(nil, "send", "-nvP", "tp/src@s1")
	if !strings.HasPrefix(out, "full\ttp/src@s1\t") || !strings.Contains(out, "\nsize\t") {
		t.Fatalf("full send -nvP: %q", out)
	}
	// -i without @ or #: a snapshot, with zfs's warning.
	out, errs, code = z.run(nil, "send", "-i", "s2", "tp/src@s3")
	if code != 0 || payloadSize(t, []byte(out)) != n || !strings.Contains(errs, "Warning: incremental source didn't specify type, assuming snapshot.") {
		t.Fatalf("send -i s2: %d %q", code, errs)
	}
}

func TestZFSReceiveIncrementalErrors(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	z, src := newZfsTSrc(t)
	writeFile(t, src+"/keep", "keep")
	writeFile(t, src+"/f", "1")
	z.ok("snapshot", "tp/src@s1")
	full1 := z.stream("tp/src@s1")
	writeFile(t, src+"/f", "2")
	z.ok("snapshot", "tp/src@s2")
	writeFile(t, src+"/f", "3")
	z.ok("snapshot", "tp/src@s3")
	inc12 := z.stream("-i", "@s1", "tp/src@s2")
	inc23 := z.stream("-i", "@s2", "tp/src@s3")

	// The target must exist and hold the base.
	z.recvFail(inc12, "cannot receive incremental stream: destination 'tp/nope' does not exist", "tp/nope")
	z.ok("create", "tp/other")
	z.ok("snapshot", "tp/other@s1")
	z.recvFail(inc12, "cannot receive incremental stream: most recent snapshot of tp/other does not\nmatch incremental source", "tp/other")
	z.fail(1, []string{"dataset does not exist"}, "list", "tp/other@s2")
	z.recv(full1, "tp/dst")
	z.recvFail(inc23, "cannot receive incremental stream: most recent snapshot of tp/dst does not\nmatch incremental source", "tp/dst")

	// Not modified since the base, unless -F.
	dst := z.mnt("dst")
	writeFile(t, dst+"/local", "local change")
	z.recvFail(inc12, "cannot receive incremental stream: destination tp/dst has been modified\nsince most recent snapshot", "tp/dst")
	must(t, os.Remove(dst+"/local")) // the folder's time has changed all the same
	must(t, os.Remove(dst+"/keep"))
	z.recvFail(inc12, "has been modified\nsince most recent snapshot", "tp/dst")
	z.fail(1, []string{"dataset does not exist"}, "list", "tp/dst@s2")
	z.ok("snapshot", "tp/dst@later")
	writeFile(t, dst+"/after", "after the later snapshot")
	z.recvFail(inc12, "has been modified\nsince most recent snapshot", "tp/dst")
	// -F rolls back to the base: the later snapshot and the changes go.
	z.recv(inc12, "-F", "tp/dst")
	sameTree(t, "tp/dst after receive -F", z.dataOf("tp/src@s2"), dst)
	if got, want := z.snapGUIDs("tp/dst"), z.snapGUIDs("tp/src"); !strings.HasPrefix(want, got) || strings.Count(got, "\n") != 2 {
		t.Fatalf("snapshots of tp/dst after -F:\n%swant s1, s2 of:\n%s", got, want)
	}
	z.fail(1, []string{"dataset does not exist"}, "list", "tp/dst@later")
	if got := readFile(t, dst+"/f"); got != "2" {
		t.Fatalf("f = %q", got)
	}
	// The chain goes on without -F.
	z.recv(inc23, "tp/dst")
	sameTree(t, "tp/dst after @s3", z.dataOf("tp/src@s3"), dst)

	// A base that is not the most recent snapshot, unmodified since:
	// received on top (as the kernel does), the later snapshot kept.
	z.recv(full1, "tp/keep")
	z.ok("snapshot", "tp/keep@mine")
	z.recv(inc12, "tp/keep")
	if got := z.ok("list", "-H", "-o", "name", "-t", "snapshot", "-r", "tp/keep"); got != "tp/keep@s1\ntp/keep@mine\ntp/keep@s2\n" {
		t.Fatalf("snapshots of tp/keep:\n%s", got)
	}

	// A snapshot of the stream's name there already, another one.
	z.recv(full1, "tp/dst2")
	z.ok("snapshot", "tp/dst2@s2")
	z.recvFail(inc12, "cannot restore to tp/dst2@s2: destination already exists", "tp/dst2")
	z.recvFail(inc12, "cannot restore to tp/dst2@s2: destination already exists", "-F", "tp/dst2")

	// A stream cut short changes nothing.
	z.recv(full1, "tp/dst3")
	before := treeOf(t, z.mnt("dst3"))
	z.recvFail(inc12[:len(inc12)-3], "cannot receive incremental stream: failed to read from stream", "tp/dst3")
	z.fail(1, []string{"dataset does not exist"}, "list", "tp/dst3@s2")
	if after := treeOf(t, z.mnt("dst3")); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("tp/dst3 changed: %v\n%v", before, after)
	}
	// A dry run says what it would do and does nothing.
	if out := z.recv(inc12, "-nv", "tp/dst3"); out != "would receive incremental stream of tp/src@s2 into tp/dst3@s2\n" {
		t.Fatalf("receive -nv: %q", out)
	}
	z.fail(1, []string{"dataset does not exist"}, "list", "tp/dst3@s2")

	// What zfs send refuses.
	for _, c := range []struct {
		code int
		msg  string
		args []string
	}{
		{1, "warning: cannot send 'tp/src@s1': not an earlier snapshot from the same fs", []string{"-i", "@s2", "tp/src@s1"}},
		{1, "warning: cannot send 'tp/src@s1': not an earlier snapshot from the same fs", []string{"-i", "@s1", "tp/src@s1"}},
		{1, "warning: cannot send 'tp/src@s2': not an earlier snapshot from the same fs", []string{"-i", "tp/other@s1", "tp/src@s2"}},
		{1, "cannot open 'tp/src@nope': dataset does not exist", []string{"-i", "@nope", "tp/src@s2"}},
		{1, "cannot open 'tp/src@nope': dataset does not exist", []string{"-I", "nope", "tp/src@s2"}},
		{2, "incremental source must be in same filesystem", []string{"-I", "tp/other@s1", "tp/src@s2"}},
		{1, "WARNING: could not send tp/src@s2:\nincremental source (tp/src@s3) is not earlier than it", []string{"-I", "@s3", "tp/src@s2"}},
		{1, "cannot send 'tp/src@s2': incremental replication streams (-R with -i) are not supported by this emulation", []string{"-R", "-i", "@s1", "tp/src@s2"}},
		{2, "usage:", []string{"-i", "@s1", "-I", "@s1", "tp/src@s2"}},
		{1, "warning: cannot send 'tp/src@s2': incremental source (tp/src#b) does not exist", []string{"-i", "#b", "tp/src@s2"}},
	} {
		out, errs, code := z.run(nil, append([]string{"send"}, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.msg) || out != "" {
			t.Fatalf("zfs send %s: exit %d, want %d and %q\n%q", strings.Join(c.args, " "), code, c.code, c.msg, errs)
		}
	}
}

func TestZFSSendIncrementalIntermediate(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	z, src := newZfsTSrc(t)
	writeFile(t, src+"/a", "a1")
	z.ok("snapshot", "tp/src@s1")
	writeFile(t, src+"/b", "b2")
	z.ok("snapshot", "tp/src@s2")
	writeFile(t, src+"/a", "a3")
	must(t, os.Remove(src+"/b"))
	z.ok("snapshot", "-o", "user:only=on-s3", "tp/src@s3")
	mkdirs(t, src+"/c/d")
	writeFile(t, src+"/c/d/e", "e4")
	z.ok("snapshot", "tp/src@s4")
	full1 := z.stream("tp/src@s1")

	// -I carries every snapshot between.
	all := z.stream("-I", "@s1", "tp/src@s4")
	z.recv(full1, "tp/dst")
	out := z.recv(all, "-v", "tp/dst")
	want := ""
	for _, s := range []string{"s2", "s3", "s4"} {
		want += "receiving incremental stream of tp/src@" + s + " into tp/dst@" + s + "\n"
	}
	if out != want {
		t.Fatalf("receive -v:\n%s\nwant\n%s", out, want)
	}
	z.sameSnaps("tp/dst", "tp/src", 4)
	for _, s := range []string{"s1", "s2", "s3", "s4"} {
		sameTree(t, "the snapshots @"+s, z.dataOf("tp/src@"+s), z.dataOf("tp/dst@"+s))
	}
	sameTree(t, "tp/dst", src, z.mnt("dst"))
	z.want("user:only", "tp/dst@s3", "on-s3")

	// Its dry run: a line per snapshot, the base of each the one before.
	out, errs, code := z.run(nil, "send", "-nvP", "-I", "tp/src@s1", "tp/src@s4")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || errs != "" || len(lines) != 4 {
		t.Fatalf("send -nvP -I: %d %q %q", code, out, errs)
	}
	var total uint64
	for i, from := range []string{"s1", "s2", "s3"} {
		f := strings.Split(lines[i], "\t")
		if len(f) != 4 || f[0] != "incremental" || f[1] != from || f[2] != fmt.Sprintf("tp/src@s%d", i+2) {
			t.Fatalf("line %d: %q", i, lines[i])
		}
		n, err := strconv.ParseUint(f[3], 10, 64)
		if err != nil || n == 0 {
			t.Fatalf("line %d: %q", i, lines[i])
		}
		total += n
	}
	if lines[3] != fmt.Sprintf("size\t%d", total) || total != payloadSize(t, all) {
		t.Fatalf("total %q, want size\\t%d (the payloads: %d)", lines[3], total, payloadSize(t, all))
	}
	out, _, _ = z.run(nil, "send", "-nv", "-I", "@s1", "tp/src@s4")
	if !strings.HasPrefix(out, "send from @s1 to tp/src@s2 estimated size is ") || !strings.Contains(out, "\nsend from @s3 to tp/src@s4 estimated size is ") ||
		!strings.HasSuffix(out, "total estimated size is "+zfsNicenum(total)+"\n") {
		t.Fatalf("send -nv -I:\n%s", out)
	}

	// -i carries the last one only.
	z.recv(full1, "tp/dst2")
	z.recv(z.stream("-i", "@s1", "tp/src@s4"), "tp/dst2")
	if got := z.ok("list", "-H", "-o", "name", "-t", "snapshot", "-r", "tp/dst2"); got != "tp/dst2@s1\ntp/dst2@s4\n" {
		t.Fatalf("snapshots after -i:\n%s", got)
	}
	sameTree(t, "the snapshots @s4", z.dataOf("tp/src@s4"), z.dataOf("tp/dst2@s4"))

	// What is there already (same GUID) is skipped, as zfs does.
	z.recv(full1, "tp/dst3")
	z.recv(z.stream("-i", "@s1", "tp/src@s2"), "tp/dst3")
	out = z.recv(all, "-v", "tp/dst3")
	if !strings.Contains(out, "snap tp/dst3@s2 already exists; ignoring\n") || !strings.Contains(out, "into tp/dst3@s4\n") {
		t.Fatalf("receive -v over an existing snapshot:\n%s", out)
	}
	z.sameSnaps("tp/dst3", "tp/src", 4)
	sameTree(t, "tp/dst3", src, z.mnt("dst3"))
}
