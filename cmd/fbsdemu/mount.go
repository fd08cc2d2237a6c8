package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// mount(8), umount(8) and mount_nullfs(8) on Linux mounts: nullfs is a bind
// mount (read-only: remounted MS_RDONLY), tmpfs and devfs are what they say.
// `mount` with no arguments prints the mounts in FreeBSD's form, "SOURCE on
// TARGET (TYPE, OPTIONS)", where nullfs stands for a bind mount.
func init() {
	register("mount", cmdMount)
	register("umount", cmdUmount)
	register("unmount", cmdUmount)
	register("mount_nullfs", cmdMountNullfs)
}

func cmdMount(args []string) int {
	fstype, opts := "", ""
	var rest []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-t" && i+1 < len(args):
			fstype = args[i+1]
			i++
		case a == "-o" && i+1 < len(args):
			opts = joinOpts(opts, args[i+1])
			i++
		case a == "-r":
			opts = joinOpts(opts, "ro")
		case a == "-p" || a == "-v" || a == "-f" || a == "-u" || a == "-w":
		case strings.HasPrefix(a, "-"):
			fmt.Fprintln(os.Stderr, "usage: mount [-adflpruvw] [-F fstab] [-o options] [-t ufs | external_type] special | node")
			return 1
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 {
		return listMounts()
	}
	if len(rest) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mount [-adflpruvw] [-F fstab] [-o options] [-t ufs | external_type] special | node")
		return 1
	}
	src, dst := rest[0], rest[1]
	var err error
	switch fstype {
	case "nullfs":
		err = mountNull(src, dst, hasOpt(opts, "ro"))
	case "tmpfs":
		err = mountFS("tmpfs", "tmpfs", dst, hasOpt(opts, "ro"))
	case "devfs":
		err = mountNull("/dev", dst, false)
	case "fdescfs":
		err = mountNull("/dev/fd", dst, false)
	case "procfs", "linprocfs":
		err = mountFS("proc", "proc", dst, false)
	default:
		warnx("mount", "%s: Operation not supported by device (type %q)", dst, fstype)
		return 1
	}
	if err != nil {
		warnx("mount", "%s: %v", dst, err)
		return 1
	}
	return 0
}

func joinOpts(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

func cmdMountNullfs(args []string) int {
	ro := false
	var rest []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o" && i+1 < len(args):
			ro = hasOpt(args[i+1], "ro")
			i++
		case strings.HasPrefix(a, "-o"):
			ro = hasOpt(a[2:], "ro")
		case strings.HasPrefix(a, "-"):
			fmt.Fprintln(os.Stderr, "usage: mount_nullfs [-o options] target mount-point")
			return 1
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mount_nullfs [-o options] target mount-point")
		return 1
	}
	if err := mountNull(rest[0], rest[1], ro); err != nil {
		warnx("mount_nullfs", "%s: %v", rest[1], err)
		return 1
	}
	return 0
}

func cmdUmount(args []string) int {
	force := false
	var targets []string
	for _, a := range args {
		switch {
		case a == "-f":
			force = true
		case strings.HasPrefix(a, "-"):
		default:
			targets = append(targets, a)
		}
	}
	if len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "usage: umount [-dfNnv] [-h host] [-t type] special ... | node ...")
		return 1
	}
	rc := 0
	for _, t := range targets {
		if err := unmount(t, force); err != nil {
			warnx("umount", "%s: %v", t, err)
			rc = 1
		}
	}
	return rc
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	source, target, fstype, opts string
	root                         string
}

func readMounts() []mountEntry {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 6 || len(b) < 2 {
			continue
		}
		out = append(out, mountEntry{root: unescapeMount(a[3]), target: unescapeMount(a[4]), opts: a[5], fstype: b[0], source: unescapeMount(b[1])})
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func listMounts() int {
	for _, m := range readMounts() {
		fstype, src := m.fstype, m.source
		if m.root != "/" {
			// A bind mount: FreeBSD's nullfs of the folder.
			fstype, src = "nullfs", m.root
		}
		opts := "local"
		if strings.HasPrefix(m.opts, "ro") {
			opts = "read-only, local"
		}
		fmt.Printf("%s on %s (%s, %s)\n", src, m.target, fstype, opts)
	}
	return 0
}
