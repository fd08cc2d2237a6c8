//go:build linux

package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// zfsSysMount bind-mounts a dataset's folder at its mountpoint (the
// emulation runs in a private mount namespace).
func zfsSysMount(src, target string) error {
	return unix.Mount(src, target, "", unix.MS_BIND, "")
}

func zfsSysUnmount(target string, force bool) error {
	flags := 0
	if force {
		flags = unix.MNT_DETACH
	}
	return unix.Unmount(target, flags)
}

// zfsReadMounts reads /proc/self/mountinfo.
func zfsReadMounts() []zfsMount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []zfsMount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		id, _ := strconv.Atoi(fields[0])
		out = append(out, zfsMount{id: id, root: zfsUnoctal(fields[3]), target: zfsUnoctal(fields[4])})
	}
	return out
}

// zfsUnoctal undoes mountinfo's \040-style escapes.
func zfsUnoctal(s string) string {
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

func zfsMknod(path string, mode uint32, dev uint64) error {
	return unix.Mknod(path, mode, int(dev))
}
