package main

// rctl(8): the rules are kept (state file rctl/rules.json) and listed as
// FreeBSD's kernel does; they are not enforced. Usage (-u) is measured
// from /proc and the jail's cgroup.

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

func init() { register("rctl", cmdRctl) }

// rctlResources are racct's resources in the kernel's order.
var rctlResources = []string{"cputime", "datasize", "stacksize", "coredumpsize", "memoryuse",
	"memorylocked", "maxproc", "openfiles", "vmemoryuse", "pseudoterminals", "swapuse", "nthr",
	"msgqqueued", "msgqsize", "nmsgq", "nsem", "nsemop", "nshm", "shmsize", "wallclock", "pcpu",
	"readbps", "writebps", "readiops", "writeiops"}

// rctlNotDeniable are the resources a deny rule cannot have (racct.c: no
// RACCT_DENIABLE); rctlDecaying the ones a throttle rule may have.
var (
	rctlNotDeniable = map[string]bool{"cputime": true, "wallclock": true, "readbps": true, "writebps": true, "readiops": true, "writeiops": true}
	rctlDecaying    = map[string]bool{"pcpu": true, "readbps": true, "writebps": true, "readiops": true, "writeiops": true}
	rctlSubjects    = map[string]bool{"process": true, "user": true, "loginclass": true, "jail": true}
)

func rctlAction(a string) bool {
	switch a {
	case "deny", "log", "devctl", "throttle":
		return true
	}
	if s, ok := strings.CutPrefix(a, "sig"); ok {
		_, ok := parseBSDSignal(s)
		n, err := strconv.Atoi(s)
		return ok && (err != nil || n > 0)
	}
	return false
}

// rctlRule is a rule or a filter (empty fields match anything, Amount -1
// undefined).
type rctlRule struct {
	Subject  string `json:"subject"`
	ID       string `json:"id"`
	Resource string `json:"resource"`
	Action   string `json:"action"`
	Amount   int64  `json:"amount"`
	Per      string `json:"per"`
}

func (r rctlRule) String() string {
	s := r.Subject + ":" + r.ID + ":" + r.Resource + ":" + r.Action + "=" + strconv.FormatInt(r.Amount, 10)
	if r.Per != "" && r.Per != r.Subject {
		s += "/" + r.Per
	}
	return s
}

// humanString is the rule with its amount as rctl -h prints it.
func (r rctlRule) humanString() string {
	s := r.Subject + ":" + r.ID + ":" + r.Resource + ":" + r.Action + "=" + humanizeNumber(r.Amount)
	if r.Per != "" && r.Per != r.Subject {
		s += "/" + r.Per
	}
	return s
}

// parseRctl parses a rule (full: every field required) or a filter.
func parseRctl(s string, full bool) (rctlRule, bool) {
	r := rctlRule{Amount: -1}
	f := strings.SplitN(s, ":", 4)
	get := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	r.Subject, r.ID, r.Resource = get(0), get(1), get(2)
	last := get(3)
	if a, per, ok := strings.Cut(last, "/"); ok {
		last, r.Per = a, per
		if !rctlSubjects[r.Per] {
			return r, false
		}
	}
	action, amount, hasAmount := strings.Cut(last, "=")
	r.Action = action
	if hasAmount {
		n, ok := expandNumber(amount)
		if !ok {
			return r, false
		}
		r.Amount = n
	}
	if r.Subject != "" && !rctlSubjects[r.Subject] {
		return r, false
	}
	if r.Resource != "" && !knownResource(r.Resource) {
		return r, false
	}
	if r.Action != "" && !rctlAction(r.Action) {
		return r, false
	}
	if full {
		if r.Subject == "" || r.ID == "" || r.Resource == "" || r.Action == "" || r.Amount < 0 {
			return r, false
		}
		if r.Per == "" {
			r.Per = r.Subject
		}
	}
	return r, true
}

func knownResource(n string) bool {
	for _, r := range rctlResources {
		if r == n {
			return true
		}
	}
	return false
}

// expandNumber is expand_number(3): a number with an optional k, m, g, t,
// p or e (powers of 1024, any case, also a trailing b).
func expandNumber(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	mult := int64(1)
	t := strings.TrimSuffix(strings.TrimSuffix(s, "b"), "B")
	if t == "" {
		return 0, false
	}
	if i := strings.IndexByte("kmgtpe", strings.ToLower(t[len(t)-1:])[0]); i >= 0 {
		mult = 1 << (10 * uint(i+1))
		t = t[:len(t)-1]
	} else if t != s {
		return 0, false
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > (1<<63-1)/mult) {
		return 0, false
	}
	return n * mult, true
}

// humanizeNumber is humanize_number(buf, 5, n, "", HN_AUTOSCALE,
// HN_DECIMAL|HN_NOSPACE), as rctl -h prints amounts.
func humanizeNumber(n int64) string {
	const divisor = 1024
	const cut = 973 // 0.95 * 1024
	prefixes := []string{"", "K", "M", "G", "T", "P", "E"}
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	quotient, remainder := n, int64(0)
	maxv := int64(1000) // len 5 - baselen 2 = 3 digits
	i := 0
	for (quotient >= maxv || (quotient == maxv-1 && remainder >= cut)) && i < len(prefixes)-1 {
		remainder = quotient % divisor
		quotient /= divisor
		i++
	}
	if ((quotient == 9 && remainder < cut) || quotient < 9) && i > 0 {
		s1 := quotient + ((remainder*10 + divisor/2) / divisor / 10)
		s2 := ((remainder*10 + divisor/2) / divisor) % 10
		return fmt.Sprintf("%s%d.%d%s", sign, s1, s2, prefixes[i])
	}
	return fmt.Sprintf("%s%d%s", sign, quotient+(remainder+divisor/2)/divisor, prefixes[i])
}

func (r rctlRule) matches(f rctlRule) bool {
	return (f.Subject == "" || f.Subject == r.Subject) && (f.ID == "" || f.ID == r.ID) &&
		(f.Resource == "" || f.Resource == r.Resource) && (f.Action == "" || f.Action == r.Action) &&
		(f.Amount < 0 || f.Amount == r.Amount) && (f.Per == "" || f.Per == r.Per)
}

const rctlDBName = "rctl/rules"

func withRules(f func(rules *[]rctlRule) error) error {
	return withLock(rctlDBName, func() error {
		var rules []rctlRule
		if err := loadJSON(rctlDBName+".json", &rules); err != nil {
			return err
		}
		if err := f(&rules); err != nil {
			return err
		}
		return saveJSON(rctlDBName+".json", rules)
	})
}

func cmdRctl(args []string) int {
	var mode byte
	var human bool
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for _, c := range a[1:] {
			switch c {
			case 'a', 'l', 'r', 'u':
				if mode != 0 && mode != byte(c) {
					return rctlUsage()
				}
				mode = byte(c)
			case 'h':
				human = true
			case 'n':
			default:
				warnx("rctl", "illegal option -- %c", c)
				return rctlUsage()
			}
		}
	}
	rest := args[i:]
	if v, ok := sysctlValue("kern.racct.enable"); !ok || v == "0" {
		warnx("rctl", "RACCT/RCTL support not present in kernel; see rctl(8) for details")
		return 1
	}
	var items []string
	for _, a := range rest {
		if mode == 'a' {
			items = append(items, strings.Split(a, ",")...)
		} else {
			items = append(items, a)
		}
	}
	switch mode {
	case 'a':
		if len(items) == 0 {
			return rctlUsage()
		}
		return rctlAdd(items)
	case 'r':
		if len(items) == 0 {
			return rctlUsage()
		}
		return rctlRemove(items)
	case 'u':
		if len(items) == 0 {
			return rctlUsage()
		}
		status := 0
		for _, it := range items {
			if st := rctlUsageOf(it, human); st != 0 {
				status = st
			}
		}
		return status
	default: // -l, or no option
		if len(items) == 0 {
			items = []string{"::"}
		}
		return rctlList(items, human)
	}
}

func rctlUsage() int {
	fmt.Fprintln(os.Stderr, "usage: rctl [-h] [-n] [filter ...]\n       rctl -a rule ...\n       rctl -l [-h] [-n] filter ...\n       rctl -r filter ...\n       rctl -u [-h] filter ...")
	return 1
}

func rctlAdd(items []string) int {
	var rules []rctlRule
	for _, it := range items {
		r, ok := parseRctl(it, true)
		if !ok {
			warnx("rctl", "failed to add rule '%s': Invalid argument", it)
			return 1
		}
		if (r.Action == "deny" && rctlNotDeniable[r.Resource]) || (r.Action == "throttle" && !rctlDecaying[r.Resource]) {
			warnx("rctl", "failed to add rule '%s': Operation not supported", it)
			return 1
		}
		if r.Subject == "process" {
			if n, err := strconv.Atoi(r.ID); err != nil || n <= 0 || !pidAlive(n) {
				warnx("rctl", "failed to add rule '%s': No such process", it)
				return 1
			}
		}
		rules = append(rules, r)
	}
	err := withRules(func(db *[]rctlRule) error {
		for _, r := range rules {
			kept := (*db)[:0]
			for _, x := range *db {
				same := x.Subject == r.Subject && x.ID == r.ID && x.Resource == r.Resource && x.Action == r.Action && x.Per == r.Per
				if same && (x.Amount == r.Amount || r.Action == "deny") {
					continue
				}
				kept = append(kept, x)
			}
			*db = append(kept, r)
		}
		return nil
	})
	if err != nil {
		warnx("rctl", "%v", err)
		return 1
	}
	return 0
}

func rctlRemove(items []string) int {
	status := 0
	for _, it := range items {
		f, ok := parseRctl(it, false)
		if !ok {
			warnx("rctl", "failed to remove rule '%s': Invalid argument", it)
			status = 1
			continue
		}
		err := withRules(func(db *[]rctlRule) error {
			kept := (*db)[:0]
			for _, x := range *db {
				if !x.matches(f) {
					kept = append(kept, x)
				}
			}
			*db = kept
			return nil
		})
		if err != nil {
			warnx("rctl", "%v", err)
			status = 1
		}
	}
	return status
}

func rctlList(items []string, human bool) int {
	var rules []rctlRule
	if err := withRules(func(db *[]rctlRule) error { rules = append(rules, *db...); return nil }); err != nil {
		warnx("rctl", "%v", err)
		return 1
	}
	// The kernel lists the rules per subject (loginclass, user, jail).
	sort.SliceStable(rules, func(a, b int) bool {
		if rules[a].Subject != rules[b].Subject {
			return rules[a].Subject < rules[b].Subject
		}
		return rules[a].ID < rules[b].ID
	})
	var b strings.Builder
	status := 0
	for _, it := range items {
		f, ok := parseRctl(it, false)
		if !ok {
			warnx("rctl", "failed to get rules for '%s': Invalid argument", it)
			status = 1
			continue
		}
		for _, r := range rules {
			if r.matches(f) {
				if human {
					b.WriteString(r.humanString() + "\n")
				} else {
					b.WriteString(r.String() + "\n")
				}
			}
		}
	}
	os.Stdout.WriteString(b.String())
	return status
}

// rctlUsageOf is rctl -u for one subject (jail:NAME or process:PID).
func rctlUsageOf(filter string, human bool) int {
	f, ok := parseRctl(filter, false)
	if !ok || f.ID == "" || f.Resource != "" || (f.Subject != "jail" && f.Subject != "process") {
		warnx("rctl", "failed to show resource consumption for '%s': Invalid argument", filter)
		return 1
	}
	var u map[string]int64
	var err error
	if f.Subject == "jail" {
		j, lerr := lookupJail(f.ID)
		if lerr != nil || j == nil {
			warnx("rctl", "failed to show resource consumption for '%s': No such process", filter)
			return 1
		}
		u, err = measureUsage("jail:"+strconv.Itoa(j.JID)+":"+j.Created.String(), cgroupPids(j.Cgroup), j.Cgroup, j.Created)
	} else {
		n, aerr := strconv.Atoi(f.ID)
		if aerr != nil || !pidAlive(n) {
			warnx("rctl", "failed to show resource consumption for '%s': No such process", filter)
			return 1
		}
		u, err = measureUsage("process:"+f.ID, []int{n}, "", processStart(n))
	}
	if err != nil {
		warnx("rctl", "%v", err)
		return 1
	}
	var b strings.Builder
	for _, r := range rctlResources {
		if human {
			fmt.Fprintf(&b, "%s=%s\n", r, humanizeNumber(u[r]))
		} else {
			fmt.Fprintf(&b, "%s=%d\n", r, u[r])
		}
	}
	os.Stdout.WriteString(b.String())
	return 0
}

// pcpuSample is the previous measurement of a subject's CPU time, for
// pcpu as a rate.
type pcpuSample struct {
	At   time.Time `json:"at"`
	Usec int64     `json:"usec"`
}

// pcpuOf is the percent of one CPU used since the previous sample (when
// it is between 0.2 s and a minute old), else since start.
func pcpuOf(key string, usec int64, start time.Time) int64 {
	now := time.Now()
	var pct int64
	_ = withLock("rctl/pcpu", func() error {
		m := map[string]pcpuSample{}
		_ = loadJSON("rctl/pcpu.json", &m)
		prev, ok := m[key]
		age := now.Sub(prev.At)
		switch {
		case ok && age >= 200*time.Millisecond && age <= time.Minute && usec >= prev.Usec:
			pct = (usec - prev.Usec) * 100 / age.Microseconds()
		default:
			if wall := now.Sub(start).Microseconds(); wall > 0 {
				pct = usec * 100 / wall
			}
		}
		if !ok || age >= 200*time.Millisecond {
			m[key] = pcpuSample{At: now, Usec: usec}
		}
		for k, v := range m {
			if now.Sub(v.At) > time.Hour {
				delete(m, k)
			}
		}
		return saveJSON("rctl/pcpu.json", m)
	})
	return pct
}
