package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// zfsMount is one line of the mount table: the folder mounted (relative to
// its filesystem) and where.
type zfsMount struct {
	id           int
	root, target string
}

func zfsStatfsCall(p string, st *zfsStatfsT) error {
	var s unix.Statfs_t
	if err := unix.Statfs(p, &s); err != nil {
		return err
	}
	st.size = uint64(s.Blocks) * uint64(s.Bsize)
	st.avail = uint64(s.Bavail) * uint64(s.Bsize)
	return nil
}

func (c *zc) mountTable() []zfsMount {
	if !c.mountsRead {
		c.mounts = zfsReadMounts()
		c.mountsRead = true
	}
	return c.mounts
}

// isMounted: the filesystem's folder is mounted where it was mounted, in
// this mount namespace (a record left by another namespace does not count).
func (c *zc) isMounted(name string) bool {
	return c.mountID(name) >= 0
}

// mountID is the mount table's id of the filesystem's mount, -1 if none.
func (c *zc) mountID(name string) int {
	d := c.reg.Datasets[name]
	if d == nil || d.Type != zfsTypeFS || d.MountedAt == "" {
		return -1
	}
	suffix := "/zfs/data/" + d.ID
	id := -1
	for _, m := range c.mountTable() {
		if m.target == d.MountedAt && strings.HasSuffix(m.root, suffix) && m.id > id {
			id = m.id
		}
	}
	return id
}

// mountDS mounts a filesystem at its mountpoint, making the folder first;
// the error is the whole message.
func (c *zc) mountDS(name string) error {
	d := c.reg.Datasets[name]
	if d == nil || d.Type != zfsTypeFS {
		return fmt.Errorf("cannot mount '%s': not a filesystem", name)
	}
	if c.isMounted(name) {
		return fmt.Errorf("cannot mount '%s': filesystem already mounted", name)
	}
	mp, _ := c.reg.mountpoint(name)
	switch mp {
	case "none":
		return fmt.Errorf("cannot mount '%s': no mountpoint set", name)
	case "legacy":
		return fmt.Errorf("cannot mount '%s': legacy mountpoint\nuse mount(8) to mount this filesystem", name)
	}
	if c.reg.canmount(name) == "off" {
		return fmt.Errorf("cannot mount '%s': 'canmount' property is set to 'off'", name)
	}
	data, err := zfsDataDir(d.ID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(mp, 0o755); err != nil {
		return fmt.Errorf("cannot mount '%s': failed to create mountpoint: %v", name, zfsErrno(err))
	}
	real, err := filepath.EvalSymlinks(mp)
	if err != nil {
		return fmt.Errorf("cannot mount '%s': %v", name, zfsErrno(err))
	}
	if v, _, _ := c.propValue(name, "overlay", true); v == "off" {
		if ents, err := os.ReadDir(real); err == nil && len(ents) > 0 {
			return fmt.Errorf("cannot mount '%s': directory is not empty", mp)
		}
	}
	if err := zfsSysMount(data, real); err != nil {
		return fmt.Errorf("cannot mount '%s': %v", name, zfsErrno(err))
	}
	d.MountedAt = real
	c.mountsRead = false
	return nil
}

// unmountDS unmounts a mounted filesystem (MNT_DETACH when forced) and
// removes its mountpoint folder if empty, as libzfs does.
func (c *zc) unmountDS(name string, force bool) error {
	d := c.reg.Datasets[name]
	if !c.isMounted(name) {
		if d != nil {
			d.MountedAt = ""
		}
		return fmt.Errorf("cannot unmount '%s': not currently mounted", name)
	}
	if err := zfsSysUnmount(d.MountedAt, force); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("cannot unmount '%s': pool or dataset is busy", d.MountedAt)
		}
		return fmt.Errorf("cannot unmount '%s': %v", d.MountedAt, zfsErrno(err))
	}
	c.mountsRead = false
	syscall.Rmdir(d.MountedAt)
	d.MountedAt = ""
	return nil
}

// zfsErrno is the bare strerror of a path error.
func zfsErrno(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// mountedIn lists the mounted filesystems among names, the last mounted
// first (so that a mount is undone before what it covers), deepest first
// when the table has no order.
func (c *zc) mountedIn(names []string) []string {
	var out []string
	ids := map[string]int{}
	for _, n := range names {
		if id := c.mountID(n); id >= 0 {
			out = append(out, n)
			ids[n] = id
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ids[out[i]] != ids[out[j]] {
			return ids[out[i]] > ids[out[j]]
		}
		return c.reg.Datasets[out[i]].MountedAt > c.reg.Datasets[out[j]].MountedAt
	})
	return out
}

// byMountpoint sorts filesystems by mountpoint, shallow first.
func (c *zc) byMountpoint(names []string) []string {
	out := append([]string(nil), names...)
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := c.reg.mountpoint(out[i])
		b, _ := c.reg.mountpoint(out[j])
		return a < b
	})
	return out
}

// mountAll mounts every filesystem of pool ("" for all) that should be.
func (c *zc) mountAll(pool string) error {
	var cand []string
	for n, d := range c.reg.Datasets {
		if d.Type != zfsTypeFS || (pool != "" && zfsPoolOf(n) != pool) {
			continue
		}
		if mp, _ := c.reg.mountpoint(n); mp == "none" || mp == "legacy" {
			continue
		}
		if c.reg.canmount(n) != "on" || c.isMounted(n) {
			continue
		}
		cand = append(cand, n)
	}
	var failed error
	for _, n := range c.byMountpoint(c.reg.sorted(cand)) {
		if err := c.mountDS(n); err != nil {
			c.errf("%v", err)
			failed = zfsExit(1)
		}
	}
	return zfsSave(failed)
}

// mpAffected: the filesystem and the descendants inheriting its
// mountpoint (libzfs's change list for mountpoint).
func (c *zc) mpAffected(name string) []string {
	out := []string{name}
	var walk func(string)
	walk = func(n string) {
		var kids []string
		for k, d := range c.reg.Datasets {
			if d.Type == zfsTypeFS && zfsParent(k) == n {
				if _, _, own := d.ownValue("mountpoint"); !own {
					kids = append(kids, k)
				}
			}
		}
		for _, k := range c.reg.sorted(kids) {
			out = append(out, k)
			walk(k)
		}
	}
	walk(name)
	return out
}

// changeMountpoint runs change (which sets or clears name's mountpoint)
// as zfs does: unmount what is affected, change, then mount what was
// mounted and what can be.
func (c *zc) changeMountpoint(name string, force bool, change func()) error {
	aff := c.mpAffected(name)
	was := map[string]bool{}
	for _, n := range c.mountedIn(aff) {
		if err := c.unmountDS(n, force); err != nil {
			c.errf("%v", err)
			for m := range was {
				c.mountDS(m)
			}
			return zfsSave(zfsExit(1))
		}
		was[n] = true
	}
	change()
	var failed error
	for _, n := range c.byMountpoint(aff) {
		if c.isMounted(n) {
			continue
		}
		mp, _ := c.reg.mountpoint(n)
		if mp == "none" || mp == "legacy" {
			continue
		}
		if was[n] || c.reg.canmount(n) == "on" {
			if err := c.mountDS(n); err != nil {
				c.errf("%v", err)
				failed = zfsExit(1)
			}
		}
	}
	return failed
}

// zfsMountSource names the dataset whose folder a mount shows (root is
// the mount table's root field), for mount(8)'s listing: "zroot/a", true.
func zfsMountSource(root string) (string, bool) {
	i := strings.LastIndex(root, "/zfs/data/")
	if i < 0 {
		return "", false
	}
	id := root[i+len("/zfs/data/"):]
	r, err := loadZfsReg()
	if err != nil {
		return "", false
	}
	for n, d := range r.Datasets {
		if d.ID == id && d.Type == zfsTypeFS {
			return n, true
		}
	}
	return "", false
}
