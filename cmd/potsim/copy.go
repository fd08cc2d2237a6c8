package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// copyFile copies a regular file, keeping its mode (cp -p).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, st.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
}

// copyTree copies src to dst the way `cp -a` does: folders recursively,
// symbolic links as links, modes, times and (for root) owners kept.
func copyTree(src, dst string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(link, dst); err != nil {
			return err
		}
	case st.IsDir():
		if err := os.Mkdir(dst, 0o700); err != nil && !os.IsExist(err) {
			return err
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := copyTree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
		if err := os.Chmod(dst, st.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
			return err
		}
	case st.Mode().IsRegular():
		if err := copyFile(src, dst); err != nil {
			return err
		}
	default:
		return nil // sockets, devices, fifos are not copied
	}
	keepOwnerAndTimes(src, dst, st)
	return nil
}

func keepOwnerAndTimes(src, dst string, st os.FileInfo) {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		_ = os.Lchown(dst, int(sys.Uid), int(sys.Gid))
	}
	if st.Mode()&os.ModeSymlink == 0 {
		_ = os.Chtimes(dst, st.ModTime(), st.ModTime())
	}
}

// cpA is `cp -a SRC DEST` as FreeBSD cp does it: into DEST/basename(SRC)
// when DEST is an existing folder, else to DEST.
func cpA(src, dest string) error {
	sst, err := os.Lstat(src)
	if err != nil {
		return err
	}
	target := dest
	if dst, err := os.Stat(dest); err == nil && dst.IsDir() {
		target = filepath.Join(dest, filepath.Base(src))
	}
	if sst.IsDir() {
		if tst, err := os.Stat(target); err == nil && !tst.IsDir() {
			return fmt.Errorf("cp: %s: Not a directory", target)
		}
		return copyTree(src, target)
	}
	if tst, err := os.Lstat(target); err == nil && tst.IsDir() {
		return fmt.Errorf("cp: %s: Is a directory", target)
	}
	if fileExists(target) {
		if err := os.Remove(target); err != nil {
			return err
		}
	}
	return copyTree(src, target)
}
