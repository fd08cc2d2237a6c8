package freebsd

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Unit is what an rctl resource counts.
type Unit int

// Units of rctl resources (rctl(8), RESOURCES).
const (
	UnitCount Unit = iota
	UnitBytes
	UnitBytesPerSecond
	UnitOpsPerSecond
	UnitSeconds
	UnitPercent
)

// resourceDef describes one rctl resource as the driver uses it.
type resourceDef struct {
	unit Unit
	// action is what an extra rule (the task config's rctl block) does at
	// the amount: "deny" for the resources racct can deny, "throttle" for
	// the decaying I/O ones. Empty: not settable by a job, see owner.
	action string
	// owner says why a job may not set the resource in its rctl block.
	owner string
}

// resources are FreeBSD's rctl resources (kern_rctl.c resourcenames, flags
// from racct.c racct_types).
var resources = map[string]resourceDef{
	"cputime":         {unit: UnitSeconds, owner: "rctl cannot deny CPU time, only signal or log; use cpu_hard_limit for a CPU cap"},
	"datasize":        {unit: UnitBytes, action: "deny"},
	"stacksize":       {unit: UnitBytes, action: "deny"},
	"coredumpsize":    {unit: UnitBytes, action: "deny"},
	"memoryuse":       {unit: UnitBytes, owner: "the driver sets it from the task's resources { memory, memory_max }"},
	"memorylocked":    {unit: UnitBytes, action: "deny"},
	"maxproc":         {unit: UnitCount, action: "deny"},
	"openfiles":       {unit: UnitCount, action: "deny"},
	"vmemoryuse":      {unit: UnitBytes, action: "deny"},
	"pseudoterminals": {unit: UnitCount, action: "deny"},
	"swapuse":         {unit: UnitBytes, action: "deny"},
	"nthr":            {unit: UnitCount, action: "deny"},
	"msgqqueued":      {unit: UnitCount, action: "deny"},
	"msgqsize":        {unit: UnitBytes, action: "deny"},
	"nmsgq":           {unit: UnitCount, action: "deny"},
	"nsem":            {unit: UnitCount, action: "deny"},
	"nsemop":          {unit: UnitCount, action: "deny"},
	"nshm":            {unit: UnitCount, action: "deny"},
	"shmsize":         {unit: UnitBytes, action: "deny"},
	"wallclock":       {unit: UnitSeconds, owner: "rctl cannot deny wall clock time, only signal or log"},
	"pcpu":            {unit: UnitPercent, owner: "the driver sets it from the task's resources { cpu } when cpu_hard_limit = true"},
	"readbps":         {unit: UnitBytesPerSecond, action: "throttle"},
	"writebps":        {unit: UnitBytesPerSecond, action: "throttle"},
	"readiops":        {unit: UnitOpsPerSecond, action: "throttle"},
	"writeiops":       {unit: UnitOpsPerSecond, action: "throttle"},
}

// DefaultExtraAllow is the plugin's default allowlist of rctl resources a
// task may limit in its rctl block: per-jail counts and sizes that protect
// the host and that no Nomad resource covers. SysV IPC, the size limits of
// single processes' segments and the I/O throttles are left for the operator
// to allow.
var DefaultExtraAllow = []string{
	"coredumpsize", "maxproc", "memorylocked", "nthr", "openfiles",
	"pseudoterminals", "swapuse", "vmemoryuse",
}

// ExtraResources returns the resources a task's rctl block can name (those
// with an action), sorted.
func ExtraResources() []string {
	var out []string
	for n, d := range resources {
		if d.action != "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// CheckExtraResource says whether a task's rctl block may name resource,
// and if not, why.
func CheckExtraResource(resource string) error {
	d, ok := resources[resource]
	if !ok {
		return fmt.Errorf("unknown rctl resource %q; known: %s", resource, strings.Join(ExtraResources(), " "))
	}
	if d.action == "" {
		return fmt.Errorf("rctl resource %s cannot be set here: %s", resource, d.owner)
	}
	return nil
}

// ExtraAction is the rctl action an extra rule on resource uses.
func ExtraAction(resource string) string { return resources[resource].action }

// maxAmount is the largest amount the kernel keeps (int64 rr_amount).
const maxAmount = math.MaxInt64

// ParseAmount parses an amount for resource as a job writes it: a decimal
// number; for byte resources (and bytes per second) optionally followed by
// one of k, m, g, t, p, e (any case, powers of 1024, as expand_number(3)).
// Zero is refused: a zero limit would stop the jail from running anything.
func ParseAmount(resource, s string) (uint64, error) {
	d, ok := resources[resource]
	if !ok {
		return 0, fmt.Errorf("unknown rctl resource %q", resource)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty amount")
	}
	mult := uint64(1)
	if c := s[len(s)-1]; c < '0' || c > '9' {
		if d.unit != UnitBytes && d.unit != UnitBytesPerSecond {
			return 0, fmt.Errorf("%s counts, it takes a plain number", resource)
		}
		shift := strings.IndexByte("kmgtpe", byte(strings.ToLower(string(c))[0]))
		if shift < 0 {
			return 0, fmt.Errorf("unknown unit %q: want k, m, g, t, p or e", string(c))
		}
		mult = 1 << (10 * uint(shift+1))
		s = s[:len(s)-1]
	}
	if s == "" {
		return 0, errors.New("want a decimal number, optionally with k, m, g, t, p or e")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("want a decimal number, optionally with k, m, g, t, p or e")
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || (n > 0 && n > maxAmount/mult) {
		return 0, fmt.Errorf("amount out of range (at most %d)", uint64(maxAmount))
	}
	if n == 0 {
		return 0, errors.New("must be at least 1")
	}
	return n * mult, nil
}

// Rule is one rctl rule on a jail: jail:JAIL:RESOURCE:ACTION=AMOUNT.
type Rule struct {
	Jail     string
	Resource string
	Action   string
	Amount   uint64
}

// String is the rule as rctl -a takes it. Amounts are plain numbers (bytes
// for memory resources), so nothing depends on rctl's unit suffixes.
func (r Rule) String() string {
	return "jail:" + r.Jail + ":" + r.Resource + ":" + r.Action + "=" + strconv.FormatUint(r.Amount, 10)
}

// JailFilter is the rctl filter for every rule of a jail, as rctl -r and
// rctl -u take it.
func JailFilter(jail string) string { return "jail:" + jail }

// Limit is an amount of one rctl resource.
type Limit struct {
	Resource string
	Amount   uint64
}

// JailLimits are the limits of one jail, decided by the driver from the
// task's resources and config.
type JailLimits struct {
	// Jail is the jail's name (the pot name).
	Jail string
	// MemoryBytes is the task's memory: the reservation, and the hard
	// limit when MemoryMaxBytes is not larger. 0: no memory limit.
	MemoryBytes uint64
	// MemoryMaxBytes is memory_max (oversubscription): the hard limit
	// when larger than MemoryBytes.
	MemoryMaxBytes uint64
	// Pcpu caps the jail's CPU, in percent of one CPU. 0: no cap.
	Pcpu uint64
	// Extra are the task's rctl block, each resource at most once.
	Extra []Limit
}

// HardMemoryBytes is the amount above which the jail is paged out.
func (l JailLimits) HardMemoryBytes() uint64 {
	if l.MemoryMaxBytes > l.MemoryBytes {
		return l.MemoryMaxBytes
	}
	return l.MemoryBytes
}

// Empty says whether no rule is needed.
func (l JailLimits) Empty() bool {
	return l.HardMemoryBytes() == 0 && l.Pcpu == 0 && len(l.Extra) == 0
}

// Rules turns the limits into rctl rules, in a fixed order: memory
// (reservation, hard limit, its log), pcpu, then the extra rules sorted by
// resource.
//
//	memory only:            memoryuse:deny=MEM  memoryuse:log=MEM
//	memory < memory_max:    memoryuse:devctl=MEM  memoryuse:deny=MAX  memoryuse:log=MAX
//	cpu_hard_limit:         pcpu:deny=PERCENT
//	rctl { R = N }:         R:deny=N (R:throttle=N for the I/O resources)
//
// The reservation must not kill nor page out (devctl only notifies devd);
// the hard limit denies, which for memoryuse means paging the jail out; the
// log rule is the kernel's own record that the hard limit was reached (see
// MemoryLimitLogged).
func (l JailLimits) Rules() ([]Rule, error) {
	if l.Jail == "" || strings.ContainsAny(l.Jail, ":/ \t\n\x00") {
		return nil, fmt.Errorf("invalid jail name %q for an rctl rule", l.Jail)
	}
	var rules []Rule
	add := func(res, action string, amount uint64) {
		rules = append(rules, Rule{Jail: l.Jail, Resource: res, Action: action, Amount: amount})
	}
	if hard := l.HardMemoryBytes(); hard > 0 {
		if hard > maxAmount {
			return nil, fmt.Errorf("memory limit %d is out of range", hard)
		}
		if l.MemoryBytes > 0 && l.MemoryBytes < hard {
			add("memoryuse", "devctl", l.MemoryBytes)
		}
		add("memoryuse", "deny", hard)
		add("memoryuse", "log", hard)
	}
	if l.Pcpu > 0 {
		add("pcpu", "deny", l.Pcpu)
	}
	extra := append([]Limit(nil), l.Extra...)
	sort.Slice(extra, func(i, j int) bool { return extra[i].Resource < extra[j].Resource })
	for i, e := range extra {
		if err := CheckExtraResource(e.Resource); err != nil {
			return nil, err
		}
		if i > 0 && extra[i-1].Resource == e.Resource {
			return nil, fmt.Errorf("rctl resource %s set twice", e.Resource)
		}
		if e.Amount == 0 || e.Amount > maxAmount {
			return nil, fmt.Errorf("rctl %s: amount %d out of range", e.Resource, e.Amount)
		}
		add(e.Resource, ExtraAction(e.Resource), e.Amount)
	}
	return rules, nil
}

// PcpuFromMHz turns a task's CPU share in MHz into an rctl pcpu amount, in
// percent of one CPU of mhzPerCore MHz, rounded up, at least 1.
func PcpuFromMHz(shareMHz int64, mhzPerCore int64) (uint64, error) {
	if shareMHz <= 0 {
		return 0, errors.New("no CPU share to cap")
	}
	if mhzPerCore <= 0 {
		return 0, errors.New("the CPU clock rate is unknown")
	}
	p := (uint64(shareMHz)*100 + uint64(mhzPerCore) - 1) / uint64(mhzPerCore)
	if p == 0 {
		p = 1
	}
	return p, nil
}

// Usage is a resource usage report, resource name to amount as rctl gives
// it: bytes, counts, seconds (cputime, wallclock), percent of one CPU (pcpu).
type Usage map[string]uint64

// ParseUsage parses rctl's usage report: `rctl -u jail:NAME` prints one
// RESOURCE=AMOUNT a line, rctl_get_racct(2) returns them comma-separated.
// Unknown resources are kept; a malformed entry is an error.
func ParseUsage(s string) (Usage, error) {
	u := Usage{}
	s = strings.TrimRight(s, "\x00")
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, val, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("rctl usage: unexpected entry %q", f)
		}
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			// A negative figure (never expected) reads as 0 rather than
			// losing the whole sample.
			if i, ierr := strconv.ParseInt(val, 10, 64); ierr == nil && i < 0 {
				n = 0
			} else {
				return nil, fmt.Errorf("rctl usage: %s: bad amount %q", name, val)
			}
		}
		u[name] = n
	}
	if len(u) == 0 {
		return nil, errors.New("rctl usage: empty report")
	}
	return u, nil
}
