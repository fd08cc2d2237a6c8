package freebsd

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MaxCPU bounds a CPU id (FreeBSD's CPU_SETSIZE on amd64 is 1024 since 14;
// this leaves room and still refuses nonsense).
const MaxCPU = 65535

// ParseCPUList parses a cpu list as Nomad hands reserved cores over
// (LinuxResources.CpusetCpus, "0,1") and as cpuset -l takes it: ids and
// ranges ("0-3") separated by commas, spaces ignored. The result is sorted
// and without duplicates; an empty list is nil.
func ParseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("cpu list %q: empty element", s)
		}
		lo, hi := part, part
		if a, b, ok := strings.Cut(part, "-"); ok {
			lo, hi = strings.TrimSpace(a), strings.TrimSpace(b)
		}
		l, err := cpuID(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		h, err := cpuID(hi)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		if h < l {
			return nil, fmt.Errorf("cpu list %q: range %s goes down", s, part)
		}
		for c := l; c <= h; c++ {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

func cpuID(s string) (int, error) {
	if s == "" {
		return 0, errors.New("missing cpu id")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("cpu id %q is not a number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > MaxCPU {
		return 0, fmt.Errorf("cpu id %q is out of range", s)
	}
	return n, nil
}

// FormatCPUList writes cpus as cpuset -l takes them: "0,1,5".
func FormatCPUList(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// CpusetArgs is the argv (after the program) that restricts a running jail
// to cpus: cpuset -l LIST -j JID, as pot itself does for set-rss -C.
func CpusetArgs(cpus []int, jid int) []string {
	return []string{"-l", FormatCPUList(cpus), "-j", strconv.Itoa(jid)}
}
