//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
)

// The driver's Consul settings of the clusters that run jail-service: a
// short TTL and anti-entropy period, so the tests see them at work.
const (
	driverTTL         = 5 * time.Second
	driverAntiEntropy = 10 * time.Second
)

func driverConsul(o *cluster.Options) {
	o.DriverConsul = &cluster.DriverConsul{TTL: driverTTL.String(), AntiEntropyPeriod: driverAntiEntropy.String()}
}

// jailPort is the port the test web server listens on in the jail.
const jailPort = 8080

// runJailService is `nomad job run [-detach] VARS... jail-service.nomad.hcl`
// with the test web server on jailPort.
func runJailService(t *testing.T, c *cluster.Cluster, root string, detach bool, vars ...string) string {
	t.Helper()
	args := []string{"job", "run"}
	if detach {
		args = append(args, "-detach")
	}
	args = append(args, imageVars(c)...)
	args = append(args,
		"-var", "command="+c.Webserver,
		"-var", fmt.Sprintf(`args=["-port","%d"]`, jailPort),
		"-var", fmt.Sprintf("port=%d", jailPort))
	for _, v := range vars {
		args = append(args, "-var", v)
	}
	out := nomad(t, c, append(args, jobFile(root, "jail-service.nomad.hcl"))...)
	if !detach && !strings.Contains(out.Stdout, "Deployment completed successfully") {
		t.Fatalf("nomad job run did not report a successful deployment:\n%s", out)
	}
	return out.Stdout
}

// jail is one running instance of jail-service as the host sees it.
type jail struct {
	alloc alloc
	pot   string // pot name
	addr  string // the jail's own address (pot info)
}

func (j jail) jailAddr() string { return fmt.Sprintf("%s:%d", j.addr, jailPort) }
func (j jail) hostAddr() string { return fmt.Sprintf("127.0.0.1:%d", j.alloc.hostPort("http")) }

// jailsOf finds the pot and address of each running allocation.
func jailsOf(t *testing.T, c *cluster.Cluster, job string, allocs []alloc) []jail {
	t.Helper()
	var out []jail
	for _, a := range allocs {
		p := potOfAlloc(t, c, job, a.ID)
		if p == "" {
			t.Fatalf("allocation %s runs, but pot ls shows no pot of it", a.ID)
		}
		out = append(out, jail{alloc: a, pot: p, addr: jailAddr(t, c, p)})
	}
	return out
}

// waitDriverRegistrations waits until Consul has exactly the driver's
// registrations of jails under the name jail-pot — one per pot, with the
// jail's own address and port, its check passing, and none of other pots —
// and returns how long that took.
func waitDriverRegistrations(t *testing.T, c *cluster.Cluster, jails []jail, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var want []string
	for _, j := range jails {
		want = append(want, fmt.Sprintf("%s %s pot=%s passing", driverServiceID(j.pot), j.jailAddr(), j.pot))
	}
	sort.Strings(want)
	eventually(t, limit, "the driver's registrations of jail-pot to be exactly the running jails, passing", func() (bool, string) {
		list, err := consulInstances(c, "jail-pot")
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, in := range list {
			got = append(got, in.String())
		}
		sort.Strings(got)
		return sameStrings(got, want), fmt.Sprintf("got %q, want %q", got, want)
	})
	return time.Since(start)
}

// testJailService: example-jobs/jail-service.nomad.hcl. Nomad's service
// with address_mode = "driver" and the driver's own registration resolve in
// Consul DNS to the jails' addresses, which answer there; in host mode
// Nomad's resolves to the host ports; haproxy-jail.cfg fronts the driver's
// registration; a pot stopped behind the driver's back turns its check
// critical within the TTL and Nomad restarts the task.
func testJailService(t *testing.T, c *cluster.Cluster, root string) {
	const job = "jail-service"
	t.Cleanup(func() { stopJob(t, c, job) })

	// Driver mode (the job's default): `nomad job run` waits for both
	// instances' checks, which Consul runs against the jails' addresses.
	runJailService(t, c, root, false)
	allocs := running(jobAllocs(t, c, job))
	if len(allocs) != 2 {
		t.Fatalf("%d allocations running, want 2", len(allocs))
	}
	jails := jailsOf(t, c, job, allocs)
	var jailAddrs, jailIPs, hostAddrs []string
	network := potNetwork(t, c)
	for _, j := range jails {
		if !strings.HasPrefix(j.addr, network) || net.ParseIP(j.addr) == nil {
			t.Errorf("pot %s has address %q, want one of the pot bridge's (%sx.x)", j.pot, j.addr, network)
		}
		jailAddrs = append(jailAddrs, j.jailAddr())
		jailIPs = append(jailIPs, j.addr)
		hostAddrs = append(hostAddrs, j.hostAddr())
	}
	sort.Strings(jailAddrs)
	sort.Strings(jailIPs)
	sort.Strings(hostAddrs)
	t.Logf("jails: %v; host ports: %v", jailAddrs, hostAddrs)

	// Consul DNS: Nomad's registration (address_mode = "driver") and the
	// driver's own, SRV and A, are the jails' addresses and the jail port.
	for _, name := range []string{"jail-http", "jail-pot"} {
		eventually(t, 30*time.Second, "dig "+name+" SRV to answer the jails' addresses and port", func() (bool, string) {
			got, answer := digSRVAddrs(t, c, name+".service.consul")
			return sameStrings(got, jailAddrs), fmt.Sprintf("got %v, want %v\n%s", got, jailAddrs, answer)
		})
		if got, answer := digA(t, c, name+".service.consul"); !sameStrings(got, jailIPs) {
			t.Errorf("dig %s.service.consul A = %v, want the jails' addresses %v\n%s", name, got, jailIPs, answer)
		}
	}
	waitDriverRegistrations(t, c, jails, 10*time.Second)

	// The jails answer at their own addresses.
	for _, j := range jails {
		body, err := curl("http://" + j.jailAddr() + "/")
		if err != nil || !strings.Contains(body, "hello from alloc "+j.alloc.ID+" (pot "+j.pot+")") {
			t.Errorf("curl http://%s/ = %q (%v), want the answer of alloc %s", j.jailAddr(), body, err, j.alloc.ID)
		}
	}

	// haproxy-jail.cfg: servers from the SRV records of the driver's
	// registration; it answers from both jails.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hp, err := c.StartHaproxy(ctx, "haproxy-jail", jobFile(root, "haproxy-jail.cfg"))
	if err != nil {
		t.Fatalf("starting haproxy with haproxy-jail.cfg: %v", err)
	}
	seen := map[string]int{}
	eventually(t, 45*time.Second, "haproxy-jail to answer from both jails", func() (bool, string) {
		body, err := curl("http://" + hp.Addr + "/")
		if err != nil {
			return false, fmt.Sprintf("%v: %s", err, body)
		}
		for _, j := range jails {
			if strings.Contains(body, "hello from alloc "+j.alloc.ID) {
				seen[j.alloc.ID]++
			}
		}
		return len(seen) == 2, fmt.Sprintf("answers so far: %v; last: %q", seen, body)
	})

	// Host mode: the same job with address_mode = "host" is updated in
	// place (same allocations, same pots); Nomad's registration moves to
	// 127.0.0.1 and the allocated host ports, the driver's stays on the
	// jails.
	runJailService(t, c, root, false, "address_mode=host")
	now := running(jobAllocs(t, c, job))
	if len(now) != 2 || !sameStrings(allocIDs(now), allocIDs(allocs)) {
		t.Fatalf("after the switch to host mode, running allocations %v, want the same %v (an in-place update)", allocIDs(now), allocIDs(allocs))
	}
	var before, after []string
	for _, j := range jails {
		before = append(before, j.pot)
	}
	for _, j := range jailsOf(t, c, job, now) {
		after = append(after, j.pot)
	}
	if !sameStrings(before, after) {
		t.Errorf("after the switch to host mode, pots %v run, want the same %v", after, before)
	}
	eventually(t, 30*time.Second, "dig jail-http SRV to answer 127.0.0.1 and the host ports", func() (bool, string) {
		got, answer := digSRVAddrs(t, c, "jail-http.service.consul")
		return sameStrings(got, hostAddrs), fmt.Sprintf("got %v, want %v\n%s", got, hostAddrs, answer)
	})
	if got, answer := digA(t, c, "jail-http.service.consul"); !sameStrings(got, []string{"127.0.0.1"}) {
		t.Errorf("dig jail-http.service.consul A = %v in host mode, want 127.0.0.1\n%s", got, answer)
	}
	if got, answer := digSRVAddrs(t, c, "jail-pot.service.consul"); !sameStrings(got, jailAddrs) {
		t.Errorf("dig jail-pot SRV = %v in host mode, want the driver's registrations unchanged %v\n%s", got, jailAddrs, answer)
	}
	for _, j := range jails {
		body, err := curl("http://" + j.hostAddr() + "/")
		if err != nil || !strings.Contains(body, "hello from alloc "+j.alloc.ID) {
			t.Errorf("curl http://%s/ (host port) = %q (%v), want the answer of alloc %s", j.hostAddr(), body, err, j.alloc.ID)
		}
	}

	testKillPot(t, c, job, jails)

	// nomad job stop: no pot left, neither name in DNS.
	nomad(t, c, "job", "stop", "-detach", job)
	waitNoPots(t, c, job, 60*time.Second)
	for _, name := range []string{"jail-http", "jail-pot"} {
		eventually(t, 30*time.Second, "Consul DNS to have no "+name+" left", func() (bool, string) {
			got, answer := digSRVAddrs(t, c, name+".service.consul")
			return len(got) == 0, answer
		})
	}
}

// testKillPot stops one jail's pot with `pot stop`, as an operator (or a
// crash) would behind the driver's back: the driver's check of it turns
// critical within the TTL, or the registration is gone by then (in Consul's
// log: the driver sees the exit at once and marks it critical, then removes
// the registration when Nomad destroys the task — which may come first);
// Nomad restarts the task in a new pot, which is registered; `nomad
// alloc status` shows the restart.
func testKillPot(t *testing.T, c *cluster.Cluster, job string, jails []jail) {
	victim := jails[0]
	checkID := driverServiceID(victim.pot) + ":ttl"
	logFrom := consulLogSize(c)

	// pot refuses to stop a pot that is still starting; these have run
	// for a while, but retry for a little while anyway.
	var killedAt time.Time
	eventually(t, 10*time.Second, "pot stop -p "+victim.pot+" to succeed", func() (bool, string) {
		killedAt = time.Now()
		out, err := c.Pot("stop", "-p", victim.pot)
		if err != nil {
			return false, fmt.Sprintf("%v", err)
		}
		return true, out.Stdout
	})

	// Critical within the TTL — or already gone: the driver marks the
	// check critical when it sees the exit and deregisters when Nomad
	// destroys the task, right after; when the deregistration comes
	// first, Consul never logs the critical state.
	var criticalAt time.Time
	what := "critical"
	eventually(t, driverTTL, "Consul to log the check "+checkID+" critical, or the service deregistered", func() (bool, string) {
		at, _, ok := consulLogLine(c, logFrom, "Check status updated", "check="+checkID, "status=critical")
		if !ok {
			at, _, ok = consulLogLine(c, logFrom, "Deregistered service", "service="+driverServiceID(victim.pot))
			what = "deregistered"
		}
		criticalAt = at
		return ok, "not yet"
	})
	latency := criticalAt.Sub(killedAt)
	t.Logf("the driver's registration of the stopped pot was %s %s after pot stop (TTL %s)", what, latency.Round(time.Millisecond), driverTTL)
	if latency > driverTTL {
		t.Errorf("the registration was %s %s after pot stop, want within the TTL %s", what, latency, driverTTL)
	}
	// ... and by then it no longer passes: gone, or critical.
	eventually(t, time.Until(killedAt.Add(driverTTL)), "the stopped pot's registration to stop passing", func() (bool, string) {
		list, err := consulInstances(c, "jail-pot")
		if err != nil {
			return false, err.Error()
		}
		for _, in := range list {
			if in.ID == driverServiceID(victim.pot) && in.Status == "passing" {
				return false, describeInstances(list)
			}
		}
		return true, ""
	})
	if at, line, ok := consulLogLine(c, logFrom, "Deregistered service", "service="+driverServiceID(victim.pot)); ok {
		t.Logf("its registration was removed %s after pot stop: %s", at.Sub(killedAt).Round(time.Millisecond), line)
	}

	// Nomad restarts the task (the job's restart delay is 5 s) in a new
	// pot of the same allocation, registered by the driver.
	var newPot string
	eventually(t, 45*time.Second, "the task to run again in a new pot", func() (bool, string) {
		for _, a := range running(jobAllocs(t, c, job)) {
			if a.ID == victim.alloc.ID && a.TaskStates["app"].State == "running" {
				newPot = potOfAlloc(t, c, job, a.ID)
				if newPot != "" && newPot != victim.pot && runningPots(t, c)[newPot] {
					return true, ""
				}
			}
		}
		return false, "pot " + newPot
	})
	restartedAt := time.Now()
	jails = append([]jail{{alloc: victim.alloc, pot: newPot, addr: jailAddr(t, c, newPot)}}, jails[1:]...)
	took := waitDriverRegistrations(t, c, jails, 15*time.Second)
	t.Logf("the task ran again in pot %s %s after pot stop, registered %s later", newPot, restartedAt.Sub(killedAt).Round(time.Millisecond), took.Round(time.Millisecond))

	// What the operator sees, once the client has passed the new task's
	// events on to the server (it sends them in batches, after the
	// registration Consul already shows).
	want := []string{`Terminated\s+Exit Code: \d+`, `Restarting\s+Task restarting in`, `Driver\s+Registered in Consul as jail-pot at ` + regexp.QuoteMeta(jails[0].jailAddr())}
	var st string
	eventually(t, 15*time.Second, "nomad alloc status to show the restart and the new registration", func() (bool, string) {
		st = nomad(t, c, "alloc", "status", victim.alloc.ID).Stdout
		for _, re := range want {
			if !regexp.MustCompile(re).MatchString(st) {
				return false, fmt.Sprintf("no match for %q:\n%s", re, st)
			}
		}
		return true, ""
	})
	if n := totalRestarts(st); n != 1 {
		t.Errorf("nomad alloc status shows Total Restarts = %d, want 1:\n%s", n, st)
	}
}

func allocIDs(allocs []alloc) []string {
	var ids []string
	for _, a := range allocs {
		ids = append(ids, a.ID)
	}
	sort.Strings(ids)
	return ids
}

// potNetwork is the prefix of the pot bridge's addresses, "A.B.": the first
// half of pot's gateway (potsim's 127.192.0.1, pot's 10.192.0.1 by default).
func potNetwork(t *testing.T, c *cluster.Cluster) string {
	t.Helper()
	out, err := c.Pot("config", "-q", "-g", "gateway")
	f := strings.Split(strings.TrimSpace(out.Stdout), ".")
	if err != nil || len(f) != 4 {
		t.Fatalf("pot config -q -g gateway: %q %v", out.Stdout, err)
	}
	return f[0] + "." + f[1] + "."
}
