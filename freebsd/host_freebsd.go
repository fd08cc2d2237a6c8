//go:build freebsd

package freebsd

import (
	"bytes"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// jailUsage reads the jail's racct usage without starting a process.
func jailUsage(jail string) (Usage, error) {
	s, err := rctlGetRacct(JailFilter(jail))
	if err != nil {
		return nil, fmt.Errorf("rctl_get_racct %s: %w", JailFilter(jail), err)
	}
	return ParseUsage(s)
}

// rctlGetRacct is rctl_get_racct(2): the usage of the subject the filter
// names, "cputime=N,datasize=N,...". The output buffer grows on ERANGE up to
// the kernel's own maximum (kern.racct.rctl.maxbufsize, 16 MiB).
func rctlGetRacct(filter string) (string, error) {
	in := append([]byte(filter), 0)
	size := 4096
	for {
		out := make([]byte, size)
		_, _, e := unix.Syscall6(unix.SYS_RCTL_GET_RACCT,
			uintptr(unsafe.Pointer(&in[0])), uintptr(len(in)),
			uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), 0, 0)
		if e == unix.ERANGE && size < 16<<20 {
			size *= 4
			continue
		}
		if e != 0 {
			return "", e
		}
		if i := bytes.IndexByte(out, 0); i >= 0 {
			out = out[:i]
		}
		return string(out), nil
	}
}
