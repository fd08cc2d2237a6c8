package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// A mount-in of a host folder is recorded in conf/fscomp.conf as
// "HOSTDIR /JAILPATH [ro]" (pot's own format) and made visible while the
// pot runs: pot uses a nullfs mount; potsim uses a bind mount (read-only
// for ro) when it runs as root and the kernel lets it, else it replaces the
// (empty) mount point folder with a symbolic link to the host folder, which
// cannot be read-only. Set POTSIM_MOUNT=symlink to always use links.

type fscompEntry struct{ dset, mnt, opt string }

func readFscomp(name string) []fscompEntry {
	var out []fscompEntry
	for _, l := range readLines(fscompFile(name)) {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		e := fscompEntry{dset: f[0]}
		if len(f) > 1 {
			e.mnt = f[1]
		}
		if len(f) > 2 {
			e.opt = f[2]
		}
		out = append(out, e)
	}
	return out
}

// jailPath is the host path of a path inside the pot.
func jailPath(name, p string) string {
	return filepath.Join(mDir(name), filepath.Clean("/"+p))
}

// potMount is common.sh's _pot_mount for the mount-ins (potsim has no ZFS
// datasets and no tmpfs for /tmp).
func potMount(name string) bool {
	if !isPot(name, false) {
		return false
	}
	for _, e := range readFscomp(name) {
		mntp := strings.TrimSuffix(mDir(name)+e.mnt, "/")
		if e.opt == "zfs-remount" {
			errorf("_pot_mount: Dataset %s not mounted at %s! Aborting", e.dset, mntp)
			return false
		}
		if !filepath.IsAbs(e.dset) {
			errorf("Error mounting %s (ZFS datasets are not supported by potsim)", e.dset)
			return false
		}
		if err := mountDir(e.dset, mntp, e.opt == "ro"); err != nil {
			stderrf("mount_nullfs: %v\n", err)
			errorf("Error mounting %s on %s", e.dset, mntp)
			return false
		}
		debugf("mount %s", mntp)
	}
	if getConfVar(name, "pot.attr.no-tmpfs") != "YES" {
		debugf("potsim does not mount a tmpfs on /tmp")
	}
	return true
}

// potUmount is common.sh's _pot_umount: the mount-ins, last first.
func potUmount(name string) {
	entries := readFscomp(name)
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if !filepath.IsAbs(e.dset) || e.opt == "zfs-remount" {
			continue
		}
		mntp := strings.TrimSuffix(mDir(name)+e.mnt, "/")
		unmountDir(e.dset, mntp)
	}
}

// mountDir makes src visible at dst.
func mountDir(src, dst string, ro bool) error {
	st, err := os.Lstat(dst)
	if err != nil {
		return fmt.Errorf("%s: No such file or directory", dst)
	}
	if st.Mode()&os.ModeSymlink == 0 && !st.IsDir() {
		return fmt.Errorf("%s: Not a directory", dst)
	}
	if !isDir(src) {
		return fmt.Errorf("%s: No such file or directory", src)
	}
	if os.Geteuid() == 0 && os.Getenv("POTSIM_MOUNT") != "symlink" && st.IsDir() {
		if err := bindMount(src, dst, ro); err == nil {
			return nil
		}
	}
	if st.Mode()&os.ModeSymlink != 0 {
		if err := os.Remove(dst); err != nil {
			return err
		}
	} else {
		entries, err := os.ReadDir(dst)
		if err != nil {
			return err
		}
		if len(entries) > 0 {
			return fmt.Errorf("%s: the mount point is not empty and potsim cannot mount over it without privileges", dst)
		}
		if err := os.Remove(dst); err != nil {
			return err
		}
	}
	return os.Symlink(src, dst)
}

// unmountDir undoes mountDir: a bind mount is unmounted, a link becomes an
// empty folder again.
func unmountDir(src, dst string) {
	for i := 0; i < 8 && isMountPoint(dst); i++ {
		debugf("unmount %s", dst)
		if err := unmount(dst); err != nil {
			errorf("cannot unmount %s: %v", dst, err)
			break
		}
	}
	if st, err := os.Lstat(dst); err == nil && st.Mode()&os.ModeSymlink != 0 {
		if target, err := os.Readlink(dst); err == nil && filepath.Clean(target) == filepath.Clean(src) {
			os.Remove(dst)
			_ = os.Mkdir(dst, 0o755)
		}
	}
}

// unmountAllUnder removes every mount below dir (before its removal); it
// reports whether none is left.
func unmountAllUnder(dir string) bool {
	for i := 0; i < 16; i++ {
		mps := mountPointsUnder(dir)
		if len(mps) == 0 {
			return true
		}
		for j := len(mps) - 1; j >= 0; j-- {
			_ = unmount(mps[j])
		}
	}
	return len(mountPointsUnder(dir)) == 0
}

// --- mount-in

const mountInHelp = `pot mount-in [-hvwr] -p pot -m mnt -f fscomp|-d dir|-z dataset
  -h print this help
  -v verbose
  -p pot : the working pot
  -f fscomp : a fs component to be mounted
  -z zfs dataset : a ZFS dataset to be mounted
  -d dir : a directory on the host to be mounted,
           absolute pathname
  -m mnt : the mount point inside of the pot
  -w : change the ZFS mount point instead of using nullfs,
       potentially DANGEROUS and only usable with -z and -f
  -r : mount-in read-only
`

func cmdMountIn(args []string) int {
	var pname, mnt, dir, fscomp, dset string
	remount, readonly := false, false
	opts, _ := getopts(args, "hvf:d:z:p:m:wr")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(mountInHelp)
			return 0
		case 'v':
			verbosity++
		case 'f':
			fscomp = o.arg
		case 'd':
			dir = strings.TrimSuffix(o.arg, "/")
		case 'z':
			dset = o.arg
		case 'p':
			pname = o.arg
		case 'm':
			mnt = o.arg
		case 'w':
			remount = true
		case 'r':
			readonly = true
		default:
			printHelp(mountInHelp)
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(mountInHelp)
		return 1
	}
	if fscomp == "" && dir == "" && dset == "" {
		errorf("One of -f|-d|-z option has to be used")
		printHelp(mountInHelp)
		return 1
	}
	if fscomp != "" && dir != "" {
		errorf("-f and -d options are mutually exclusive")
		printHelp(mountInHelp)
		return 1
	}
	if fscomp != "" && dset != "" {
		errorf("-f and -z options are mutually exclusive")
		printHelp(mountInHelp)
		return 1
	}
	if dir != "" && dset != "" {
		errorf("-d and -z options are mutually exclusive")
		printHelp(mountInHelp)
		return 1
	}
	if mnt == "" {
		errorf("A mount point is mandatory")
		printHelp(mountInHelp)
		return 1
	}
	if strings.ContainsAny(mnt, " \t\n\r\v\f") {
		errorf("The mountpoint cannot contain spaces")
		return 1
	}
	if !strings.HasPrefix(mnt, "/") {
		errorf("The mount point has to be an absolute pathname")
		return 1
	}
	if mnt == "/" {
		errorf("/ is not a valid mount point")
		return 1
	}
	opt := ""
	if remount {
		if dir != "" {
			errorf("Remount cannot be used with directories, but with fscomp only")
			printHelp(mountInHelp)
			return 1
		}
		opt = "zfs-remount"
		if readonly {
			infof("Readonly and remount are mutually exclusive: readonly considered, remount ignored")
			opt = "ro"
		}
	} else if readonly {
		opt = "ro"
	}
	if fscomp != "" || dset != "" {
		errorf("mount-in of a fscomp or a ZFS dataset (-f, -z) is not supported by potsim")
		return 1
	}
	if !isDir(dir) {
		errorf("%s is not a directory", dir)
		printHelp(mountInHelp)
		return 1
	}
	if !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(dir)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			errorf("Not able to convert %s as an absolute pathname", dir)
			printHelp(mountInHelp)
			return 1
		}
		dir = abs
	}
	if !directoryValidation(pname, dir) {
		errorf("Directory %s not valid, already used or already part of the pot", dir)
		return 1
	}
	if !isPot(pname, false) {
		errorf("pot %s is not valid", pname)
		printHelp(mountInHelp)
		return 1
	}
	realMnt, ok := mountpointValidation(pname, mnt)
	if !ok {
		errorf("The mountpoint is not valid!")
		return 1
	}
	line := dir + " /" + strings.TrimPrefix(realMnt, "/")
	if opt != "" {
		line += " " + opt
	}
	debugf("add directory:%s mnt_p:/%s opt:%s", dir, strings.TrimPrefix(realMnt, "/"), opt)
	if err := appendFile(fscompFile(pname), line+"\n"); err != nil {
		errorf("%v", err)
		return 1
	}
	if isRunning(pname) {
		dst := jailPath(pname, realMnt)
		if err := mountDir(dir, dst, opt == "ro"); err != nil {
			stderrf("mount_nullfs: %v\n", err)
			errorf("Error mounting %s on %s", dir, pname)
		} else {
			debugf("Mounted %s on %s", dir, pname)
		}
	}
	return 0
}

// directoryValidation is mount-in.sh's _directory_validation.
func directoryValidation(pname, dir string) bool {
	proot := jailDir(pname)
	if strings.HasSuffix(dir, proot) {
		return false
	}
	r, err := regexp.Compile(breToRE(dir + " "))
	if err != nil {
		return true
	}
	for _, l := range readLines(fscompFile(pname)) {
		if r.MatchString(l) {
			return false
		}
	}
	return true
}

// breToRE turns a grep basic regular expression into Go syntax: the
// characters that are special only in extended expressions are escaped.
func breToRE(bre string) string {
	var b strings.Builder
	for i := 0; i < len(bre); i++ {
		c := bre[i]
		switch c {
		case '+', '?', '(', ')', '{', '}', '|':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\\':
			if i+1 < len(bre) {
				i++
				n := bre[i]
				switch n {
				case '(', ')', '{', '}', '|', '+', '?':
					b.WriteByte(n)
				default:
					b.WriteByte('\\')
					b.WriteByte(n)
				}
			} else {
				b.WriteString(`\\`)
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// mountpointValidation is mount-in.sh's _mountpoint_validation: the mount
// point is created in the pot and resolved as realpath(1) would inside it.
func mountpointValidation(pname, mnt string) (string, bool) {
	p := jailPath(pname, mnt)
	if !isDir(p) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			stderrf("mkdir: %v\n", err)
			return "", false
		}
	}
	return jailRealpath(pname, mnt), true
}

// jailRealpath resolves the symbolic links of a path inside the pot, an
// absolute link target being relative to the pot's root. The mount points
// of the pot are not followed (potsim's own links).
func jailRealpath(pname, p string) string {
	mounts := map[string]bool{}
	for _, e := range readFscomp(pname) {
		mounts[filepath.Clean("/"+e.mnt)] = true
	}
	parts := strings.Split(strings.Trim(filepath.Clean("/"+p), "/"), "/")
	resolved := "/"
	for hops := 0; len(parts) > 0 && hops < 64; {
		c := parts[0]
		parts = parts[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, c)
		st, err := os.Lstat(jailPath(pname, next))
		if err != nil || st.Mode()&os.ModeSymlink == 0 || mounts[next] {
			resolved = next
			continue
		}
		target, err := os.Readlink(jailPath(pname, next))
		if err != nil {
			resolved = next
			continue
		}
		hops++
		if strings.HasPrefix(target, "/") {
			resolved = "/"
		}
		parts = append(strings.Split(strings.Trim(target, "/"), "/"), parts...)
	}
	return resolved
}

// --- copy-in

const copyInHelp = "pot copy-in [-hv] -p pot -s source -d dest\n" +
	"  -h print this help\n" +
	"  -v verbose\n" +
	"  -F force copy operation for running jails\n" +
	"     (WARNING: can expose parts of the host file system)\n" +
	"  -p pot : the working pot\n" +
	"  -s source : the file or directory to be copied in\n" +
	"  -d dest : the final location inside the pot\n" +
	"  -c create any missing path components to `dirname destination`\n" +
	"     inside the pot\n"

func cmdCopyIn(args []string) int {
	lockGlobal()
	var pname, source, dest string
	force, createDirs := false, false
	opts, _ := getopts(args, "hvs:d:p:Fc")
	for _, o := range opts {
		switch o.c {
		case 'h':
			printHelp(copyInHelp)
			return 0
		case 'F':
			force = true
		case 'v':
			verbosity++
		case 's':
			source = o.arg
		case 'p':
			pname = o.arg
		case 'd':
			dest = o.arg
		case 'c':
			createDirs = true
		default:
			printHelp(copyInHelp)
			return 1
		}
	}
	if pname == "" {
		errorf("A pot name is mandatory")
		printHelp(copyInHelp)
		return 1
	}
	if source == "" {
		errorf("A source is mandatory")
		printHelp(copyInHelp)
		return 1
	}
	if dest == "" {
		errorf("A destination is mandatory")
		printHelp(copyInHelp)
		return 1
	}
	if !strings.HasPrefix(dest, "/") {
		errorf("The destination has to be an absolute pathname")
		return 1
	}
	if !isPot(pname, false) {
		errorf("pot %s is not valid", pname)
		printHelp(copyInHelp)
		return 1
	}
	st, err := os.Stat(source)
	if err != nil || !(st.Mode().IsRegular() || st.IsDir()) {
		errorf("%s not valid", source)
		printHelp(copyInHelp)
		return 1
	}
	if !isReadable(source) {
		errorf("%s not readable", source)
	}
	toBeUmount := false
	if isRunning(pname) {
		if !force {
			errorf("Copying files on a running pot is discouraged, it can partially expose the host file system to the jail")
			infof("Using the -F flag, the operation can be executed anyway, but we disagree")
			return 1
		}
		debugf("Copying files on a running pot allowed, because of the -F flag")
	} else {
		potMount(pname)
		toBeUmount = true
	}
	defer func() {
		if toBeUmount {
			potUmount(pname)
		}
	}()
	if createDirs {
		parent := jailPath(pname, filepath.Dir(dest))
		if err := os.MkdirAll(parent, 0o755); err != nil {
			stderrf("mkdir: %v\n", err)
			errorf("Destination path %s NOT created because of an error", dest)
			return 1
		}
		debugf("Destination path %s created in the pot %s", dest, pname)
	}
	target := jailPath(pname, dest)
	if strings.HasSuffix(dest, "/") {
		target += "/"
	}
	var cerr error
	if st.IsDir() {
		// pot mounts the folder on the pot's /tmp/copy-in.XXXXXXXX and
		// copies that: into an existing folder it lands under that name.
		if tst, err := os.Stat(target); err == nil && tst.IsDir() {
			target = filepath.Join(target, "copy-in."+randomSuffix(8))
		}
		cerr = cpA(source, target)
	} else {
		cerr = cpA(source, target)
	}
	if cerr != nil {
		stderrf("cp: %s: %s\n", dest, strerror(cerr))
		errorf("Source %s NOT copied because of an error", source)
		return 1
	}
	debugf("Source %s copied in the pot %s", source, pname)
	return 0
}

func randomSuffix(n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// parseMountInfo lists the mount points (field 5) of /proc/self/mountinfo.
func parseMountInfo(data string) []string {
	var out []string
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		out = append(out, unescapeMountPath(f[4]))
	}
	return out
}

// unescapeMountPath undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
