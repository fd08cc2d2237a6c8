package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	gozfs "github.com/mistifyio/go-zfs/v4"

	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
)

// zfsT is a test's emulated machine: a state folder and a pool "tp"
// mounted at Root/tp.
type zfsT struct {
	t     *testing.T
	Root  string
	State string
}

func newZfsT(t *testing.T) *zfsT {
	t.Helper()
	root := t.TempDir()
	z := &zfsT{t: t, Root: root, State: filepath.Join(root, "state")}
	if err := os.Mkdir(z.State, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(stateEnv, z.State)
	// Runs before t.TempDir's removal: nothing stays mounted below it.
	t.Cleanup(func() {
		zfsMain([]string{"umount", "-a", "-f"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
		for _, m := range zfsReadMounts() {
			if strings.HasPrefix(m.target, root+"/") {
				zfsSysUnmount(m.target, true)
			}
		}
	})
	if err := zfsCreatePool("tp", filepath.Join(root, "tp")); err != nil {
		t.Fatalf("zfsCreatePool: %v", err)
	}
	return z
}

// run runs zfs (or zpool when args[0] is "zpool") in-process.
func (z *zfsT) run(stdin []byte, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	var code int
	if args[0] == "zpool" {
		code = zpoolMain(args[1:], bytes.NewReader(stdin), &out, &errb)
	} else {
		code = zfsMain(args, bytes.NewReader(stdin), &out, &errb)
	}
	return out.String(), errb.String(), code
}

// ok runs zfs and fails the test unless it exits 0; it returns stdout.
func (z *zfsT) ok(args ...string) string {
	z.t.Helper()
	out, errs, code := z.run(nil, args...)
	if code != 0 {
		z.t.Fatalf("zfs %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fail runs zfs, wants exit code and stderr containing each of msgs.
func (z *zfsT) fail(code int, msgs []string, args ...string) {
	z.t.Helper()
	out, errs, c := z.run(nil, args...)
	if c != code {
		z.t.Fatalf("zfs %s: exit %d, want %d\n%s%s", strings.Join(args, " "), c, code, out, errs)
	}
	for _, m := range msgs {
		if !strings.Contains(errs, m) {
			z.t.Fatalf("zfs %s: stderr %q lacks %q", strings.Join(args, " "), errs, m)
		}
	}
}

// val is zfs get -Hp -o value PROP DS.
func (z *zfsT) val(prop, ds string) string {
	z.t.Helper()
	return strings.TrimSpace(z.ok("get", "-Hp", "-o", "value", prop, ds))
}

func (z *zfsT) want(prop, ds, want string) {
	z.t.Helper()
	if got := z.val(prop, ds); got != want {
		z.t.Fatalf("%s of %s = %q, want %q", prop, ds, got, want)
	}
}

func (z *zfsT) mnt(rel string) string { return filepath.Join(z.Root, "tp", rel) }

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestZFSCreateListGetSetInherit(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	z := newZfsT(t)
	pot := filepath.Join(z.Root, "opt", "pot")
	z.ok("create", "-o", "mountpoint="+pot, "-o", "canmount=off", "-o", "compression=lz4", "-o", "atime=off", "tp/pot")
	z.ok("create", "tp/pot/jails")
	z.fail(1, []string{"cannot create 'tp/pot/jails/x/m': parent does not exist"}, "create", "tp/pot/jails/x/m")
	z.ok("create", "-p", "tp/pot/jails/x/m")
	z.fail(1, []string{"cannot create 'tp/pot/jails': dataset already exists"}, "create", "tp/pot/jails")
	z.fail(1, []string{"cannot create 'nopool/a': no such pool 'nopool'"}, "create", "nopool/a")

	// Inherited mountpoints, and the mounts themselves.
	z.want("mountpoint", "tp/pot/jails/x/m", pot+"/jails/x/m")
	out := z.ok("get", "-H", "mountpoint,compression,canmount", "tp/pot/jails")
	for _, w := range []string{
		"tp/pot/jails\tmountpoint\t" + pot + "/jails\tinherited from tp/pot\n",
		"tp/pot/jails\tcompression\tlz4\tinherited from tp/pot\n",
		"tp/pot/jails\tcanmount\ton\tdefault\n",
	} {
		if !strings.Contains(out, w) {
			t.Fatalf("zfs get: %q lacks %q", out, w)
		}
	}
	z.want("mounted", "tp/pot", "no")
	z.want("mounted", "tp/pot/jails/x/m", "yes")
	writeFile(t, pot+"/jails/x/m/file", "data")
	if out := z.ok("list", "-H", "-o", "name,mountpoint", "-r", "tp/pot"); out != fmt.Sprintf(
		"tp/pot\t%[1]s\ntp/pot/jails\t%[1]s/jails\ntp/pot/jails/x\t%[1]s/jails/x\ntp/pot/jails/x/m\t%[1]s/jails/x/m\n", pot) {
		t.Fatalf("zfs list -r:\n%s", out)
	}
	if out := z.ok("list", "-d", "1", "-Ho", "name", "tp/pot/jails"); out != "tp/pot/jails\ntp/pot/jails/x\n" {
		t.Fatalf("zfs list -d 1:\n%s", out)
	}
	z.fail(1, []string{"cannot open 'tp/nope': dataset does not exist"}, "list", "tp/nope")
	z.fail(2, []string{"invalid option 'Z'"}, "list", "-Z")

	// Moving a mountpoint remounts what inherits it.
	moved := filepath.Join(z.Root, "moved")
	z.ok("set", "mountpoint="+moved, "tp/pot/jails")
	z.want("mountpoint", "tp/pot/jails/x/m", moved+"/x/m")
	z.want("mounted", "tp/pot/jails/x/m", "yes")
	if got := readFile(t, moved+"/x/m/file"); got != "data" {
		t.Fatalf("file after the move: %q", got)
	}
	if _, err := os.Stat(pot + "/jails/x/m/file"); err == nil {
		t.Fatal("the old mountpoint still shows the data")
	}
	out = z.ok("get", "-H", "-o", "source", "mountpoint", "tp/pot/jails")
	if out != "local\n" {
		t.Fatalf("source %q", out)
	}
	z.ok("inherit", "mountpoint", "tp/pot/jails")
	z.want("mountpoint", "tp/pot/jails/x/m", pot+"/jails/x/m")
	if got := readFile(t, pot+"/jails/x/m/file"); got != "data" {
		t.Fatalf("file after inherit: %q", got)
	}
	z.ok("set", "mountpoint=none", "tp/pot/jails/x")
	z.want("mountpoint", "tp/pot/jails/x/m", "none")
	z.want("mounted", "tp/pot/jails/x/m", "no")
	z.fail(1, []string{"cannot mount 'tp/pot/jails/x/m': no mountpoint set"}, "mount", "tp/pot/jails/x/m")
	z.ok("inherit", "mountpoint", "tp/pot/jails/x")
	z.want("mounted", "tp/pot/jails/x/m", "yes")
	z.fail(1, []string{"'canmount' property cannot be inherited"}, "inherit", "canmount", "tp/pot")

	// Unmount and mount.
	z.fail(1, []string{"cannot unmount", "busy"}, "umount", "tp/pot/jails/x")
	z.ok("umount", "tp/pot/jails/x/m")
	z.want("mounted", "tp/pot/jails/x/m", "no")
	z.fail(1, []string{"cannot unmount 'tp/pot/jails/x/m': not currently mounted"}, "umount", "tp/pot/jails/x/m")
	z.ok("mount", "tp/pot/jails/x/m")
	z.fail(1, []string{"filesystem already mounted"}, "mount", "tp/pot/jails/x/m")
	if got := readFile(t, pot+"/jails/x/m/file"); got != "data" {
		t.Fatalf("file after remount: %q", got)
	}

	// Values, parsable and not; validation.
	if c := z.val("creation", "tp/pot"); c == "" || strings.ContainsAny(c, " :") {
		t.Fatalf("creation -p = %q", c)
	}
	if v := z.val("available", "tp/pot"); v == "0" || strings.ContainsAny(v, "KMG") {
		t.Fatalf("available -p = %q", v)
	}
	z.want("type", "tp/pot", "filesystem")
	z.want("origin", "tp/pot", "-")
	z.fail(1, []string{"cannot set property for 'tp/pot': 'atime' must be one of 'on | off'"}, "set", "atime=maybe", "tp/pot")
	z.fail(1, []string{"'used' is readonly"}, "set", "used=1", "tp/pot")
	z.fail(2, []string{"bad property list: invalid property 'nosuch'"}, "get", "nosuch", "tp/pot")
	props := z.ok("get", "-o", "property", "all", "tp/pot")
	if !strings.HasPrefix(props, "PROPERTY\n") || !strings.Contains(props, "\nencryption\n") || !strings.Contains(props, "\nmountpoint\n") {
		t.Fatalf("zfs get -o property all:\n%s", props)
	}

	// User properties, inherited, on snapshots too.
	z.want(":pot.tag", "tp/pot/jails/x", "-")
	z.ok("set", ":pot.tag=1.0", "org.bsdpot.nomad-pot-driver:last-used=2024-01-01T00:00:00Z", "tp/pot/jails/x")
	z.want(":pot.tag", "tp/pot/jails/x", "1.0")
	z.want("org.bsdpot.nomad-pot-driver:last-used", "tp/pot/jails/x", "2024-01-01T00:00:00Z")
	if out := z.ok("get", "-H", "-o", "source", ":pot.tag", "tp/pot/jails/x/m"); out != "inherited from tp/pot/jails/x\n" {
		t.Fatalf("user property source %q", out)
	}
	z.ok("snapshot", "tp/pot/jails/x@s1")
	z.want(":pot.tag", "tp/pot/jails/x@s1", "1.0")
	if all := z.ok("get", "-H", "-o", "property,value", "all", "tp/pot/jails/x"); !strings.Contains(all, ":pot.tag\t1.0\n") {
		t.Fatalf("get all lacks the user property:\n%s", all)
	}
	z.ok("inherit", ":pot.tag", "tp/pot/jails/x")
	z.want(":pot.tag", "tp/pot/jails/x", "-")

	// Listing snapshots.
	z.ok("snapshot", "tp/pot/jails/x@s2")
	if out := z.ok("list", "-t", "snapshot", "-o", "name", "-H", "tp/pot/jails/x"); out != "tp/pot/jails/x@s1\ntp/pot/jails/x@s2\n" {
		t.Fatalf("zfs list -t snapshot FS:\n%s", out)
	}
	if out := z.ok("list", "-d", "1", "-H", "-t", "snap", "tp/pot/jails/x"); strings.Count(out, "\n") != 2 || !strings.HasPrefix(out, "tp/pot/jails/x@s1\t") {
		t.Fatalf("zfs list -d 1 -H -t snap:\n%s", out)
	}
	if out := z.ok("list", "-H", "-o", "name", "-S", "createtxg", "-t", "snapshot", "-r", "tp/pot/jails/x"); out != "tp/pot/jails/x@s2\ntp/pot/jails/x@s1\n" {
		t.Fatalf("zfs list -S createtxg:\n%s", out)
	}
	z.fail(1, []string{"cannot create snapshot 'tp/pot/jails/x@s2': dataset already exists"}, "snapshot", "tp/pot/jails/x@s2")
}

func TestZFSSnapshotCloneDestroy(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	z := newZfsT(t)
	z.ok("create", "-p", "tp/jails/base/m")
	writeFile(t, z.mnt("jails/base/m/f"), "v1")
	z.ok("snapshot", "-r", "tp/jails/base@1")
	z.want("type", "tp/jails/base/m@1", "snapshot")
	writeFile(t, z.mnt("jails/base/m/f"), "v2")

	clone := filepath.Join(z.Root, "clonemnt")
	z.ok("clone", "-o", "mountpoint="+clone, "tp/jails/base/m@1", "tp/jails/c")
	z.want("origin", "tp/jails/c", "tp/jails/base/m@1")
	z.want("clones", "tp/jails/base/m@1", "tp/jails/c")
	if got := readFile(t, clone+"/f"); got != "v1" {
		t.Fatalf("clone content %q", got)
	}
	writeFile(t, clone+"/g", "clone only")
	if _, err := os.Stat(z.mnt("jails/base/m/g")); err == nil {
		t.Fatal("a clone's write shows in its origin")
	}

	z.fail(1, []string{"cannot destroy 'tp/jails/base/m@1': snapshot has dependent clones",
		"use '-R' to destroy the following datasets:\ntp/jails/c\n"}, "destroy", "tp/jails/base/m@1")
	z.fail(1, []string{"cannot destroy 'tp/jails/base': filesystem has children",
		"use '-r' to destroy the following datasets:"}, "destroy", "tp/jails/base")
	z.fail(1, []string{"cannot destroy 'tp/jails/base': filesystem has dependent clones",
		"use '-R' to destroy the following datasets:\ntp/jails/c\n"}, "destroy", "-r", "tp/jails/base")
	z.fail(1, []string{"could not find any snapshots to destroy"}, "destroy", "tp/jails/base@nope")
	z.fail(1, []string{"operation does not apply to pools"}, "destroy", "tp")
	z.ok("list", "tp/jails/base", "tp/jails/c")

	// Rollback.
	z.ok("snapshot", "tp/jails/base/m@2")
	z.fail(1, []string{"more recent snapshots or bookmarks exist", "tp/jails/base/m@2"}, "rollback", "tp/jails/base/m@1")
	z.ok("rollback", "-r", "tp/jails/base/m@1")
	if got := readFile(t, z.mnt("jails/base/m/f")); got != "v1" {
		t.Fatalf("after rollback %q", got)
	}
	z.fail(1, []string{"dataset does not exist"}, "list", "tp/jails/base/m@2")

	// Rename, with the clone's origin following.
	z.ok("rename", "tp/jails/base", "tp/jails/base2")
	z.want("origin", "tp/jails/c", "tp/jails/base2/m@1")
	z.want("mounted", "tp/jails/base2/m", "yes")
	if got := readFile(t, z.mnt("jails/base2/m/f")); got != "v1" {
		t.Fatalf("after rename %q", got)
	}

	out := z.ok("destroy", "-R", "-v", "tp/jails/base2")
	for _, n := range []string{"tp/jails/c", "tp/jails/base2/m@1", "tp/jails/base2"} {
		if !strings.Contains(out, "will destroy "+n+"\n") {
			t.Fatalf("destroy -v:\n%s", out)
		}
	}
	if i, j := strings.Index(out, "tp/jails/c\n"), strings.Index(out, "tp/jails/base2/m@1\n"); i > j {
		t.Fatalf("a clone must go before its origin:\n%s", out)
	}
	if out := z.ok("list", "-H", "-o", "name", "-t", "all", "-r", "tp"); out != "tp\ntp/jails\n" {
		t.Fatalf("left after destroy -R:\n%s", out)
	}
	if _, err := os.Stat(clone); err == nil {
		t.Fatal("the clone's mountpoint folder is left")
	}
	ents, _ := os.ReadDir(filepath.Join(z.State, "zfs", "data"))
	if len(ents) != 2 {
		t.Fatalf("%d data folders left, want 2 (tp, tp/jails)", len(ents))
	}
}

func TestZFSSendReceive(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	z := newZfsT(t)
	z.ok("create", "-p", "tp/jails/a")
	mm := filepath.Join(z.Root, "a-m")
	z.ok("create", "-o", "mountpoint="+mm, "tp/jails/a/m")
	writeFile(t, mm+"/one", "1")
	if err := os.MkdirAll(mm+"/usr/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, mm+"/usr/bin/tool", "#!/bin/sh\n")
	os.Chown(mm+"/usr/bin/tool", 123, 456)
	os.Chmod(mm+"/usr/bin/tool", os.ModeSetuid|0o755)
	os.Symlink("usr/bin/tool", mm+"/link")
	os.MkdirAll(z.mnt("jails/a/conf"), 0o700)
	writeFile(t, z.mnt("jails/a/conf/pot.conf"), "conf")
	z.ok("snapshot", "-r", "tp/jails/a@1")
	writeFile(t, mm+"/two", "2")
	z.ok("snapshot", "-r", "tp/jails/a@2")
	z.ok("set", ":pot.tag=1.2", "tp/jails/a")

	stream, errs, code := z.run(nil, "send", "-R", "tp/jails/a@2")
	if code != 0 {
		t.Fatalf("send -R: %d %s", code, errs)
	}
	data := []byte(stream)
	if xz, err := exec.LookPath("xz"); err == nil {
		c := exec.Command(xz, "-1", "-T", "0")
		c.Stdin = bytes.NewReader(data)
		packed, err := c.Output()
		if err != nil {
			t.Fatal(err)
		}
		d := exec.Command(xz, "-dc")
		d.Stdin = bytes.NewReader(packed)
		back, err := d.Output()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, data) {
			t.Fatal("the stream changed through xz")
		}
		data = back
	}

	z.fail(1, []string{"cannot open 'tp/jails/base@1': dataset does not exist"}, "receive", "-u", "-o", "origin=tp/jails/base@1", "tp/jails/b")
	out, errs, code := z.run(data, "receive", "-u", "-o", "origin=tp/jails/a@1", "-x", "encryption", "tp/jails/b")
	if code != 0 {
		t.Fatalf("receive: %d %s%s", code, out, errs)
	}
	z.want("origin", "tp/jails/b", "tp/jails/a@1")
	z.want("origin", "tp/jails/b/m", "-")
	z.want("mounted", "tp/jails/b", "no")
	z.want("mounted", "tp/jails/b/m", "no")
	z.want(":pot.tag", "tp/jails/b", "1.2")
	if got := z.ok("get", "-H", "-o", "value,source", "mountpoint", "tp/jails/b/m"); got != mm+"\treceived\n" {
		t.Fatalf("received mountpoint %q", got)
	}
	if got := z.ok("list", "-H", "-o", "name", "-t", "snapshot", "-r", "tp/jails/b"); got != "tp/jails/b@1\ntp/jails/b@2\ntp/jails/b/m@1\ntp/jails/b/m@2\n" {
		t.Fatalf("received snapshots:\n%s", got)
	}
	if _, errs, code := z.run(data, "receive", "tp/jails/b"); code != 1 || !strings.Contains(errs, "destination 'tp/jails/b' exists\nmust specify -F to overwrite it") {
		t.Fatalf("receive into an existing dataset: %d %q", code, errs)
	}

	// As pot import does: inherit the mountpoint, mount.
	z.ok("inherit", "mountpoint", "tp/jails/b/m")
	z.want("mountpoint", "tp/jails/b/m", z.mnt("jails/b/m"))
	z.want("mounted", "tp/jails/b/m", "yes")
	z.ok("umount", "tp/jails/b/m")
	z.ok("mount", "tp/jails/b")
	z.ok("mount", "tp/jails/b/m")
	for f, want := range map[string]string{"jails/b/m/one": "1", "jails/b/m/two": "2", "jails/b/conf/pot.conf": "conf", "jails/b/m/usr/bin/tool": "#!/bin/sh\n"} {
		if got := readFile(t, z.mnt(f)); got != want {
			t.Fatalf("%s = %q, want %q", f, got, want)
		}
	}
	fi, err := os.Lstat(z.mnt("jails/b/m/usr/bin/tool"))
	if err != nil || fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode after receive: %v %v", fi.Mode(), err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 123 || st.Gid != 456 {
		t.Fatalf("owner after receive: %+v", fi.Sys())
	}
	if l, err := os.Readlink(z.mnt("jails/b/m/link")); err != nil || l != "usr/bin/tool" {
		t.Fatalf("symlink after receive: %q %v", l, err)
	}
	if fi, err := os.Lstat(z.mnt("jails/b/conf")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("folder mode after receive: %v %v", fi, err)
	}

	// The received clone holds its origin.
	z.fail(1, []string{"filesystem has dependent clones", "tp/jails/b\n"}, "destroy", "-r", "tp/jails/a")

	// A single-snapshot stream into a new dataset, as pot create does.
	single, _, code := z.run(nil, "send", "tp/jails/a/m@1")
	if code != 0 {
		t.Fatal("send")
	}
	if _, errs, code := z.run([]byte(single), "receive", "tp/jails/s"); code != 0 {
		t.Fatalf("receive: %s", errs)
	}
	z.want("mountpoint", "tp/jails/s", z.mnt("jails/s"))
	z.want("mounted", "tp/jails/s", "yes")
	if _, err := os.Stat(z.mnt("jails/s/two")); err == nil {
		t.Fatal("snapshot @1 has no file two")
	}
	if got := readFile(t, z.mnt("jails/s/one")); got != "1" {
		t.Fatalf("one = %q", got)
	}
	if _, errs, code := z.run([]byte("this is not a stream, but it is long enough"), "receive", "tp/jails/t"); code != 1 || !strings.Contains(errs, "invalid stream (bad magic number)") {
		t.Fatalf("bad stream: %d %s", code, errs)
	}
	z.fail(1, []string{"failed to read from stream"}, "receive", "tp/jails/t")
	if _, errs, code := z.run([]byte(single[:len(single)-3]), "receive", "tp/jails/t"); code != 1 || !strings.Contains(errs, "failed to read from stream") {
		t.Fatalf("truncated stream: %d %s", code, errs)
	}
	z.fail(1, []string{"dataset does not exist"}, "list", "tp/jails/t")
}

func TestZFSUsedGrows(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	z := newZfsT(t)
	z.ok("create", "-p", "tp/a/b")
	used := func(ds string) uint64 {
		n, err := strconv.ParseUint(z.val("used", ds), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a0, b0 := used("tp/a"), used("tp/a/b")
	writeFile(t, z.mnt("a/b/big"), strings.Repeat("x", 1<<20))
	a1, b1 := used("tp/a"), used("tp/a/b")
	if b1 < b0+1<<20 || a1 < a0+1<<20 {
		t.Fatalf("used did not grow by 1M: a %d→%d, b %d→%d", a0, a1, b0, b1)
	}
	if r := z.val("referenced", "tp/a"); r == strconv.FormatUint(a1, 10) {
		t.Fatalf("referenced of tp/a counts its child: %s", r)
	}
	z.ok("snapshot", "tp/a/b@s")
	os.Remove(z.mnt("a/b/big"))
	if b2 := used("tp/a/b"); b2 < 1<<20 {
		t.Fatalf("the snapshot's data is not counted: %d", b2)
	}
	if h := strings.TrimSpace(z.ok("list", "-H", "-o", "used", "tp/a/b")); !strings.HasSuffix(h, "M") {
		t.Fatalf("human-readable used %q", h)
	}
}

func TestZFSConcurrentCreate(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	z := newZfsT(t)
	z.ok("create", "tp/c")
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ds := fmt.Sprintf("tp/c/d%d", i)
			for _, args := range [][]string{{"create", ds}, {"set", "user:n=" + strconv.Itoa(i), ds}, {"snapshot", ds + "@s"}} {
				if _, e, code := z.run(nil, args...); code != 0 {
					errs <- e
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	out := z.ok("list", "-H", "-o", "name,user:n", "-t", "all", "-r", "tp/c")
	if strings.Count(out, "\n") != 17 {
		t.Fatalf("zfs list after concurrent creates:\n%s", out)
	}
}

func TestZpoolCommands(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	z := newZfsT(t)
	if out := z.ok("zpool", "list", "-H", "-o", "name,health"); out != "tp\tONLINE\n" {
		t.Fatalf("zpool list: %q", out)
	}
	out := z.ok("zpool", "get", "-Hp", "name,health,allocated,size,free,readonly,dedupratio,fragmentation,freeing,leaked", "tp")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 10 || lines[1] != "tp\thealth\tONLINE\t-" {
		t.Fatalf("zpool get:\n%s", out)
	}
	if f := strings.Split(lines[4], "\t"); f[1] != "free" || f[2] == "0" {
		t.Fatalf("free: %q", lines[4])
	}
	if out := z.ok("zpool", "status", "tp"); !strings.Contains(out, "state: ONLINE") {
		t.Fatalf("zpool status:\n%s", out)
	}
	if _, errs, code := z.run(nil, "zpool", "list", "nopool"); code != 1 || !strings.Contains(errs, "cannot open 'nopool': no such pool") {
		t.Fatalf("zpool list nopool: %d %q", code, errs)
	}
	// The pool survives in the state: a second boot mounts it again.
	z.ok("umount", "tp")
	if err := zfsCreatePool("tp", "/elsewhere"); err != nil {
		t.Fatal(err)
	}
	z.want("mounted", "tp", "yes")
	z.want("mountpoint", "tp", filepath.Join(z.Root, "tp"))
}

// TestZFSGoZFS reads datasets and the pool through the built zfs and
// zpool with go-zfs, as the driver does.
func TestZFSGoZFS(t *testing.T) {
	if !emulation.InMountNamespace(t) {
		return
	}
	z := newZfsT(t)
	bin := filepath.Join(z.Root, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "zfs"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Symlink("zfs", filepath.Join(bin, "zpool")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	z.ok("create", "-o", "mountpoint="+filepath.Join(z.Root, "pot"), "tp/pot")
	z.ok("create", "-p", "tp/pot/jails/base/m")
	z.ok("snapshot", "-r", "tp/pot/jails/base@1")
	z.ok("create", "tp/pot/jails/web")
	z.ok("clone", "tp/pot/jails/base/m@1", "tp/pot/jails/web/m")
	writeFile(t, filepath.Join(z.Root, "pot/jails/web/m/f"), strings.Repeat("y", 100000))

	ds, err := gozfs.GetDataset("tp/pot")
	if err != nil {
		t.Fatalf("GetDataset: %v", err)
	}
	if ds.Name != "tp/pot" || ds.Type != "filesystem" || ds.Mountpoint != filepath.Join(z.Root, "pot") || ds.Avail == 0 || ds.Used == 0 || ds.Origin != "" {
		t.Fatalf("GetDataset: %+v", ds)
	}
	list, err := gozfs.Filesystems("tp/pot/jails")
	if err != nil {
		t.Fatalf("Filesystems: %v", err)
	}
	got := map[string]*gozfs.Dataset{}
	for _, d := range list {
		got[d.Name] = d
	}
	if len(list) != 5 || got["tp/pot/jails/web/m"] == nil || got["tp/pot/jails/web/m"].Origin != "tp/pot/jails/base/m@1" {
		t.Fatalf("Filesystems: %d %+v", len(list), got["tp/pot/jails/web/m"])
	}
	if web := got["tp/pot/jails/web"]; web.Used < 100000 || web.Referenced >= web.Used {
		t.Fatalf("web used %d referenced %d", web.Used, web.Referenced)
	}
	pool, err := gozfs.GetZpool("tp")
	if err != nil {
		t.Fatalf("GetZpool: %v", err)
	}
	if pool.Health != "ONLINE" || pool.Free == 0 || pool.Size < pool.Free {
		t.Fatalf("GetZpool: %+v", pool)
	}
	mark := &gozfs.Dataset{Name: "tp/pot/jails/web"}
	const prop = "org.bsdpot.nomad-pot-driver:last-used"
	if v, err := mark.GetProperty(prop); err != nil || v != "-" {
		t.Fatalf("unset GetProperty: %q %v", v, err)
	}
	if err := mark.SetProperty(prop, "2025-01-02T03:04:05.6Z"); err != nil {
		t.Fatalf("SetProperty: %v", err)
	}
	if v, err := mark.GetProperty(prop); err != nil || v != "2025-01-02T03:04:05.6Z" {
		t.Fatalf("GetProperty: %q %v", v, err)
	}
	_, err = gozfs.GetDataset("tp/pot/jails/none")
	var ze *gozfs.Error
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing dataset: %v", err)
	}
	if e, ok := err.(*gozfs.Error); !ok || !strings.Contains(e.Stderr, "dataset does not exist") {
		t.Fatalf("missing dataset error %T %v", err, ze)
	}
	if _, err := gozfs.GetZpool("nopool"); err == nil {
		t.Fatal("GetZpool of a missing pool")
	}
}
