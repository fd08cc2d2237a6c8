//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// What the tests of the driver's own Consul registrations and of Nomad's
// services with address_mode "driver" read: Consul DNS (dig), Consul's
// health API, `pot info`, Consul's log.

// digSRVAddrs is `dig @127.0.0.1 -p PORT NAME SRV`: each answer's target
// resolved through the additional section (Consul puts the service's
// address there), as "ADDRESS:PORT", sorted; and dig's output.
func digSRVAddrs(t *testing.T, c *cluster.Cluster, name string) ([]string, string) {
	t.Helper()
	out, err := exec.Command("dig", "@127.0.0.1", "-p", c.DNSPort(), name, "SRV",
		"+noall", "+answer", "+additional", "+time=2", "+tries=1").CombinedOutput()
	if err != nil {
		return nil, fmt.Sprintf("dig: %v: %s", err, out)
	}
	type srv struct {
		target string
		port   int
	}
	var answers []srv
	addrs := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line) // NAME TTL IN TYPE DATA...
		if len(f) < 5 || f[2] != "IN" {
			continue
		}
		switch f[3] {
		case "SRV": // priority weight port target
			if len(f) != 8 {
				continue
			}
			if p, err := strconv.Atoi(f[6]); err == nil {
				answers = append(answers, srv{f[7], p})
			}
		case "A":
			addrs[f[0]] = f[4]
		}
	}
	var got []string
	for _, a := range answers {
		ip, ok := addrs[a.target]
		if !ok {
			ip = "?" + a.target
		}
		got = append(got, fmt.Sprintf("%s:%d", ip, a.port))
	}
	sort.Strings(got)
	return got, string(out)
}

// digA is `dig @127.0.0.1 -p PORT NAME A +short`: the addresses, sorted,
// without repeats; and dig's output.
func digA(t *testing.T, c *cluster.Cluster, name string) ([]string, string) {
	t.Helper()
	out, err := exec.Command("dig", "@127.0.0.1", "-p", c.DNSPort(), name, "A", "+short", "+time=2", "+tries=1").CombinedOutput()
	if err != nil {
		return nil, fmt.Sprintf("dig: %v: %s", err, out)
	}
	return uniqSorted(strings.Fields(string(out))), string(out)
}

func uniqSorted(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func sameStrings(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// instance is a service instance as Consul's health API reports it, with
// the worst status of its checks.
type instance struct {
	ID, Name, Address string
	Port              int
	Meta              map[string]string
	Tags              []string
	Status            string // passing, warning, critical
	Checks            map[string]string
}

// consulInstances reads /v1/health/service/NAME: every instance, passing
// or not.
func consulInstances(c *cluster.Cluster, name string) ([]instance, error) {
	var entries []struct {
		Service struct {
			ID, Service, Address string
			Port                 int
			Meta                 map[string]string
			Tags                 []string
		}
		Checks []struct{ CheckID, Status, ServiceID string }
	}
	if err := c.ConsulJSON("/v1/health/service/"+name, &entries); err != nil {
		return nil, err
	}
	rank := map[string]int{"passing": 0, "warning": 1, "critical": 2}
	var out []instance
	for _, e := range entries {
		in := instance{ID: e.Service.ID, Name: e.Service.Service, Address: e.Service.Address, Port: e.Service.Port,
			Meta: e.Service.Meta, Tags: e.Service.Tags, Status: "passing", Checks: map[string]string{}}
		for _, ch := range e.Checks {
			if ch.ServiceID != e.Service.ID {
				continue // the node's own serfHealth
			}
			in.Checks[ch.CheckID] = ch.Status
			if rank[ch.Status] > rank[in.Status] {
				in.Status = ch.Status
			}
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (in instance) String() string {
	return fmt.Sprintf("%s %s:%d pot=%s %s", in.ID, in.Address, in.Port, in.Meta["pot"], in.Status)
}

func describeInstances(list []instance) string {
	var s []string
	for _, in := range list {
		s = append(s, in.String())
	}
	return "[" + strings.Join(s, "; ") + "]"
}

// driverRegistration is the registration the driver makes for a pot:
// service ID nomad-pot-POT, the pot's name in the meta, its TTL check.
func driverServiceID(potName string) string { return "nomad-pot-" + potName }

// jailAddr is the pot's own address, as `pot info -E -p POT` prints it
// (_POT_IP).
func jailAddr(t *testing.T, c *cluster.Cluster, potName string) string {
	t.Helper()
	out, err := c.Pot("info", "-E", "-p", potName)
	if err != nil {
		t.Fatalf("pot info -E -p %s: %v", potName, err)
	}
	info, err := pot.ParseInfoExports(out.Stdout)
	if err != nil {
		t.Fatalf("pot info -E -p %s: %v\n%s", potName, err, out.Stdout)
	}
	ips := info.IPs()
	if len(ips) == 0 {
		t.Fatalf("pot info -E -p %s shows no address:\n%s", potName, out.Stdout)
	}
	return ips[0]
}

// potOfAlloc is the task pot of the allocation (JOB_TASK_ALLOCID_XXXXXXXX)
// in `pot ls`; "" if there is none, and a failure if there are several.
func potOfAlloc(t *testing.T, c *cluster.Cluster, job, allocID string) string {
	t.Helper()
	var found []string
	for _, n := range potsOf(t, c, job) {
		if strings.Contains(n, "_"+allocID+"_") {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return ""
	case 1:
		return found[0]
	}
	t.Fatalf("allocation %s has %d pots: %q", allocID, len(found), found)
	return ""
}

// runningPots are the pots that run now (`pot ps -q`).
func runningPots(t *testing.T, c *cluster.Cluster) map[string]bool {
	t.Helper()
	out, err := c.Pot("ps", "-q")
	if err != nil {
		t.Fatalf("pot ps -q: %v", err)
	}
	m := map[string]bool{}
	for _, n := range strings.Fields(out.Stdout) {
		m[n] = true
	}
	return m
}

// consulLogLine finds, in Consul's log (what `consul monitor
// -log-level=debug` shows; a dev agent logs at debug), the first line
// after offset containing every one of want, and returns its time.
func consulLogLine(c *cluster.Cluster, offset int64, want ...string) (time.Time, string, bool) {
	f, err := os.Open(filepath.Join(c.Dir, "consul.log"))
	if err != nil {
		return time.Time{}, "", false
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return time.Time{}, "", false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		for _, w := range want {
			if !strings.Contains(line, w) {
				continue next
			}
		}
		// 2026-01-02T15:04:05.000Z [DEBUG] agent: ...
		ts, _, _ := strings.Cut(line, " ")
		at, err := time.Parse("2006-01-02T15:04:05.000Z07:00", ts)
		if err != nil {
			continue
		}
		return at, line, true
	}
	return time.Time{}, "", false
}

// consulLogSize is the current size of Consul's log, to look only at what
// comes after.
func consulLogSize(c *cluster.Cluster) int64 {
	st, err := os.Stat(filepath.Join(c.Dir, "consul.log"))
	if err != nil {
		return 0
	}
	return st.Size()
}

var totalRestartsRE = regexp.MustCompile(`Total Restarts\s+= (\d+)`)

// totalRestarts is the Total Restarts of the (single) task in `nomad
// alloc status`, -1 if not shown.
func totalRestarts(status string) int {
	m := totalRestartsRE.FindStringSubmatch(status)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
