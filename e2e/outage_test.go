//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
)

// consulOutage is how long Consul stays away: long enough for the rollout
// of release 2 — on pot's own scripts, whose prepare, start and stop take
// 1–3 s each on a 2-core machine, twice as long.
func consulOutage() time.Duration { return slowerOnRealPot(30*time.Second, 2) }

// TestConsulOutage: Consul stops for 30 s while jail-service is deployed
// anew (every instance replaced, one more added). The tasks start and run
// regardless (their registrations pending, as their task events say);
// once Consul is back — a dev agent, which forgets every registration — the
// driver has registered exactly the running jails again, passing, within
// one anti-entropy period, and nothing of the pots stopped during the
// outage. Nomad registers its own services again too.
//
// It has a cluster of its own: the other tests' jobs would not survive
// their registrations vanishing.
func TestConsulOutage(t *testing.T) {
	c, root := startCluster(t, driverConsul, func(o *cluster.Options) { o.HaproxyConfig = "" })
	const job = "jail-service"
	t.Cleanup(func() { stopJob(t, c, job) })

	// Release 1, two instances. Deployments count an instance healthy once
	// its task runs (health_check = "task_states"), so they go on while
	// Consul is away.
	runJailService(t, c, root, false, "health_check=task_states")
	before := jailsOf(t, c, job, waitRunning(t, c, job, 2, time.Minute))
	waitDriverRegistrations(t, c, before, 15*time.Second)
	waitNomadRegistrations(t, c, before, 30*time.Second)

	// Consul goes away; release 2 with three instances is deployed.
	if err := c.StopConsul(); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	t.Logf("Consul stopped; deploying release 2 with 3 instances")
	runJailService(t, c, root, true, "health_check=task_states", "release=2", "instances=3")

	// While Consul is away: the deployment completes, three allocations of
	// the new version run, each in a running pot; the old pots are gone.
	var version struct{ Version uint64 }
	if err := c.NomadJSON("/v1/job/"+job, &version); err != nil {
		t.Fatal(err)
	}
	var after []jail
	eventually(t, consulOutage()-time.Since(stoppedAt), "release 2 to run 3 instances, and nothing of release 1", func() (bool, string) {
		var stubs []struct {
			ID, ClientStatus, DesiredStatus string
			JobVersion                      uint64
		}
		if err := c.NomadJSON("/v1/job/"+job+"/allocations", &stubs); err != nil {
			return false, err.Error()
		}
		var cur []alloc
		var old []string
		for _, s := range stubs {
			if s.ClientStatus != "running" || s.DesiredStatus != "run" {
				continue
			}
			if s.JobVersion != version.Version {
				old = append(old, s.ID[:8])
				continue
			}
			var a alloc
			if err := c.NomadJSON("/v1/allocation/"+s.ID, &a); err != nil {
				return false, err.Error()
			}
			cur = append(cur, a)
		}
		pots := potsOf(t, c, job)
		if len(cur) != 3 || len(old) > 0 || len(pots) != 3 {
			return false, fmt.Sprintf("%d of version %d running, of older versions: %v; pots: %v", len(cur), version.Version, old, pots)
		}
		after = jailsOf(t, c, job, cur)
		return true, ""
	})
	t.Logf("release 2 runs %s after Consul stopped", time.Since(stoppedAt).Round(time.Millisecond))
	// pot ps: every new pot runs; nomad alloc status: running, and the
	// driver says its registration is pending.
	ps := runningPots(t, c)
	for _, j := range after {
		if !ps[j.pot] {
			t.Errorf("pot ps -q does not list %s of the running allocation %s", j.pot, j.alloc.ID)
		}
		st := nomad(t, c, "alloc", "status", j.alloc.ID).Stdout
		if !regexp.MustCompile(`Client Status\s+= running`).MatchString(st) {
			t.Errorf("nomad alloc status %s does not show it running:\n%s", j.alloc.ID, st)
		}
		if !strings.Contains(st, "Consul registration of jail-pot pending") {
			t.Errorf("nomad alloc status %s has no event saying the registration is pending:\n%s", j.alloc.ID, st)
		}
	}
	for _, j := range before {
		if ps[j.pot] {
			t.Errorf("pot %s of release 1 still runs", j.pot)
		}
	}

	// Consul back after 30 s.
	time.Sleep(time.Until(stoppedAt.Add(consulOutage())))
	t.Logf("deployment of release 2 when Consul comes back: %s", deploymentStatus(t, c, job))
	// Still running at the end of the outage, none restarted.
	ps = runningPots(t, c)
	for _, j := range after {
		st := nomad(t, c, "alloc", "status", j.alloc.ID).Stdout
		if !ps[j.pot] || totalRestarts(st) != 0 || !regexp.MustCompile(`Client Status\s+= running`).MatchString(st) {
			t.Errorf("at the end of the outage, pot %s runs: %v; nomad alloc status:\n%s", j.pot, ps[j.pot], st)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.RestartConsul(ctx); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	t.Logf("Consul back after %s", upAt.Sub(stoppedAt).Round(time.Millisecond))

	// Within one anti-entropy period (and a little): exactly the running
	// jails, passing; nothing of release 1.
	const slack = 2 * time.Second
	took := waitDriverRegistrations(t, c, after, driverAntiEntropy+slack)
	t.Logf("the driver's registrations were right %s after Consul came back (anti-entropy period %s)", took.Round(time.Millisecond), driverAntiEntropy)
	eventually(t, 10*time.Second, "Consul DNS to answer the new jails", func() (bool, string) {
		var want []string
		for _, j := range after {
			want = append(want, j.jailAddr())
		}
		got, answer := digSRVAddrs(t, c, "jail-pot.service.consul")
		return sameStrings(got, want), fmt.Sprintf("got %v, want %v\n%s", got, want, answer)
	})
	// Still right one anti-entropy period later: no stale registration
	// comes back, none goes.
	time.Sleep(driverAntiEntropy)
	waitDriverRegistrations(t, c, after, time.Second)
	for _, j := range before {
		if list, err := consulInstances(c, "jail-pot"); err == nil {
			for _, in := range list {
				if in.Meta["pot"] == j.pot {
					t.Errorf("Consul has a registration of pot %s, stopped during the outage: %s", j.pot, in)
				}
			}
		}
	}

	// Nomad registers its own services again (its sync runs every 30 s),
	// and the deployment has succeeded.
	waitNomadRegistrations(t, c, after, 45*time.Second)
	t.Logf("Nomad's registrations of jail-http were right %s after Consul came back", time.Since(upAt).Round(time.Millisecond))
	eventually(t, 30*time.Second, "the deployment of release 2 to succeed", func() (bool, string) {
		st := deploymentStatus(t, c, job)
		return strings.HasPrefix(st, "successful"), st
	})

	nomad(t, c, "job", "stop", "-detach", job)
	waitNoPots(t, c, job, time.Minute)
	eventually(t, 30*time.Second, "Consul to have no jail-pot left", func() (bool, string) {
		list, err := consulInstances(c, "jail-pot")
		return err == nil && len(list) == 0, describeInstances(list)
	})
}

// deploymentStatus is the latest deployment's status and description.
func deploymentStatus(t *testing.T, c *cluster.Cluster, job string) string {
	t.Helper()
	var d struct{ Status, StatusDescription string }
	if err := c.NomadJSON("/v1/job/"+job+"/deployment", &d); err != nil {
		return err.Error()
	}
	return d.Status + " (" + d.StatusDescription + ")"
}

// waitNomadRegistrations waits until Nomad's registrations of jail-http
// (address_mode = "driver") are the jails' addresses, passing.
func waitNomadRegistrations(t *testing.T, c *cluster.Cluster, jails []jail, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var want []string
	for _, j := range jails {
		want = append(want, j.jailAddr()+" passing")
	}
	sort.Strings(want)
	eventually(t, limit, "Nomad's registrations of jail-http to be the running jails, passing", func() (bool, string) {
		list, err := consulInstances(c, "jail-http")
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, in := range list {
			got = append(got, fmt.Sprintf("%s:%d %s", in.Address, in.Port, in.Status))
		}
		return sameStrings(got, want), fmt.Sprintf("got %q, want %q", got, want)
	})
	return time.Since(start)
}
