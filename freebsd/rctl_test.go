package freebsd

import (
	"reflect"
	"strings"
	"testing"
)

func ruleStrings(rules []Rule) []string {
	if len(rules) == 0 {
		return nil
	}
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.String()
	}
	return out
}

func TestJailLimitsRules(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name string
		l    JailLimits
		want []string
	}{
		{"nothing", JailLimits{Jail: "j"}, nil},
		{
			"memory only: deny and log at memory",
			JailLimits{Jail: "web_a1", MemoryBytes: 256 * mib},
			[]string{"jail:web_a1:memoryuse:deny=268435456", "jail:web_a1:memoryuse:log=268435456"},
		},
		{
			"memory_max: devctl at the reservation, deny and log at the max",
			JailLimits{Jail: "web_a1", MemoryBytes: 256 * mib, MemoryMaxBytes: 512 * mib},
			[]string{
				"jail:web_a1:memoryuse:devctl=268435456",
				"jail:web_a1:memoryuse:deny=536870912",
				"jail:web_a1:memoryuse:log=536870912",
			},
		},
		{
			"memory_max not above memory: memory is the hard limit",
			JailLimits{Jail: "j", MemoryBytes: 512 * mib, MemoryMaxBytes: 256 * mib},
			[]string{"jail:j:memoryuse:deny=536870912", "jail:j:memoryuse:log=536870912"},
		},
		{
			"pcpu and extra rules, sorted, I/O throttled",
			JailLimits{Jail: "j", Pcpu: 25, Extra: []Limit{
				{Resource: "vmemoryuse", Amount: 2 << 30},
				{Resource: "readbps", Amount: 1 << 20},
				{Resource: "maxproc", Amount: 100},
			}},
			[]string{
				"jail:j:pcpu:deny=25",
				"jail:j:maxproc:deny=100",
				"jail:j:readbps:throttle=1048576",
				"jail:j:vmemoryuse:deny=2147483648",
			},
		},
	} {
		rules, err := c.l.Rules()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := ruleStrings(rules); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
		if c.l.Empty() != (len(c.want) == 0) {
			t.Errorf("%s: Empty() = %v", c.name, c.l.Empty())
		}
	}
}

func TestJailLimitsRulesRefuses(t *testing.T) {
	for _, l := range []JailLimits{
		{Jail: "", MemoryBytes: 1},
		{Jail: "a:b", MemoryBytes: 1},
		{Jail: "j", Extra: []Limit{{Resource: "memoryuse", Amount: 1}}},
		{Jail: "j", Extra: []Limit{{Resource: "pcpu", Amount: 1}}},
		{Jail: "j", Extra: []Limit{{Resource: "maxproc", Amount: 1}, {Resource: "maxproc", Amount: 2}}},
		{Jail: "j", Extra: []Limit{{Resource: "maxproc", Amount: 0}}},
		{Jail: "j", MemoryBytes: 1 << 63},
	} {
		if r, err := l.Rules(); err == nil {
			t.Errorf("%+v accepted: %v", l, r)
		}
	}
}

func TestPcpuFromMHz(t *testing.T) {
	for _, c := range []struct {
		share, mhz int64
		want       uint64
	}{
		{500, 2000, 25},   // a quarter of a core
		{2000, 2000, 100}, // one core
		{4500, 2000, 225}, // more than two cores
		{1, 3000, 1},      // never 0
		{1001, 2000, 51},  // rounded up
	} {
		got, err := PcpuFromMHz(c.share, c.mhz)
		if err != nil || got != c.want {
			t.Errorf("PcpuFromMHz(%d, %d) = %d, %v; want %d", c.share, c.mhz, got, err, c.want)
		}
	}
	if _, err := PcpuFromMHz(0, 2000); err == nil {
		t.Error("no share accepted")
	}
	if _, err := PcpuFromMHz(100, 0); err == nil {
		t.Error("unknown clock accepted")
	}
}

func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		res, in string
		want    uint64
		err     string
	}{
		{"maxproc", "100", 100, ""},
		{"vmemoryuse", "2g", 2 << 30, ""},
		{"vmemoryuse", "2G", 2 << 30, ""},
		{"swapuse", "512m", 512 << 20, ""},
		{"coredumpsize", "1k", 1024, ""},
		{"writebps", "3m", 3 << 20, ""},
		{"memorylocked", "4096", 4096, ""},
		{"maxproc", "1k", 0, "plain number"},
		{"readiops", "1k", 0, "plain number"},
		{"maxproc", "", 0, "empty"},
		{"maxproc", "0", 0, "at least 1"},
		{"maxproc", "1.5", 0, "decimal number"},
		{"vmemoryuse", "g", 0, "decimal number"},
		{"vmemoryuse", "1q", 0, "unknown unit"},
		{"vmemoryuse", "8e", 0, "out of range"},
		{"maxproc", "9223372036854775808", 0, "out of range"},
		{"nope", "1", 0, "unknown rctl resource"},
	} {
		got, err := ParseAmount(c.res, c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %q: got %d, %v; want error %q", c.res, c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %q: got %d, %v; want %d", c.res, c.in, got, err, c.want)
		}
	}
}

func TestExtraResources(t *testing.T) {
	got := ExtraResources()
	for _, owned := range []string{"memoryuse", "pcpu", "cputime", "wallclock"} {
		for _, r := range got {
			if r == owned {
				t.Errorf("%s is settable by jobs", owned)
			}
		}
	}
	for _, r := range DefaultExtraAllow {
		if err := CheckExtraResource(r); err != nil {
			t.Errorf("default allowlist entry %s: %v", r, err)
		}
	}
	if len(got) != 21 {
		t.Errorf("%d extra resources: %v", len(got), got)
	}
}

// rctlUsageOutput is `rctl -u jail:web` on FreeBSD 14.
const rctlUsageOutput = `cputime=11
datasize=3174400
stacksize=0
coredumpsize=0
memoryuse=23306240
memorylocked=0
maxproc=4
openfiles=91
vmemoryuse=1097658368
pseudoterminals=0
swapuse=0
nthr=6
msgqqueued=0
msgqsize=0
nmsgq=0
nsem=0
nsemop=0
nshm=0
shmsize=0
wallclock=1385
pcpu=37
readbps=0
writebps=4096
readiops=0
writeiops=1
`

func TestParseUsage(t *testing.T) {
	lines, err := ParseUsage(rctlUsageOutput)
	if err != nil {
		t.Fatal(err)
	}
	// rctl_get_racct(2) gives the same, comma-separated and NUL-terminated.
	racct, err := ParseUsage(strings.ReplaceAll(rctlUsageOutput, "\n", ",") + "\x00")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lines, racct) {
		t.Fatalf("forms differ:\n%v\n%v", lines, racct)
	}
	if len(lines) != 25 || lines["memoryuse"] != 23306240 || lines["pcpu"] != 37 || lines["swapuse"] != 0 || lines["cputime"] != 11 {
		t.Fatalf("usage %v", lines)
	}
	for _, bad := range []string{"", "\x00", "memoryuse", "memoryuse=x", "=1"} {
		if u, err := ParseUsage(bad); err == nil {
			t.Errorf("%q parsed: %v", bad, u)
		}
	}
	if u, err := ParseUsage("pcpu=-3,memoryuse=1"); err != nil || u["pcpu"] != 0 {
		t.Errorf("negative: %v %v", u, err)
	}
}
