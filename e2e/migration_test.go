//go:build e2e

package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
	"github.com/bsdpot/nomad-pot-driver/internal/emulation"
)

// TestVolumeMigration is the prototype of docs/migration.md: a volume of
// example-jobs/stateful.volume.hcl moves from one client to another with
// its task, on two clients of a multi-node cluster, each its own emulated
// ZFS pool:
//
//  1. the job runs on client 1 (count=1) and data is written to the
//     volume (4 MiB);
//  2. first pass, the task running: `nomad-pot-driver volume send`
//     there piped into `volume receive` on client 2 (everything);
//  3. more is written (what the task writes meanwhile); the job stops;
//  4. second pass: `volume send -from` the first pass's snapshot (only
//     the changes) into `volume receive` on client 2;
//  5. `nomad volume create` on client 2 adopts the received dataset,
//     `nomad volume delete` removes client 1's, the job runs again, on
//     client 2, and counts on: count=2.
//
// The bytes on client 2 are checked against what was written on client 1,
// and the downtime (the job's stop to its task running on client 2) is
// measured.
func TestVolumeMigration(t *testing.T) {
	if os.Getenv(realPotEnv) != "" {
		t.Skip("the multi-node cluster runs on potsim")
	}
	if !emulation.InMountNamespace(t) {
		return
	}
	c, root := startCluster(t, func(o *cluster.Options) { o.Clients = 2; o.HostVolumes = true; o.HaproxyConfig = "" })
	rep := &clusterReport{section: "TestVolumeMigration", title: "A volume moves with its task", started: time.Now()}
	t.Cleanup(func() { rep.write(t) })
	const job = "stateful"
	t.Cleanup(func() { stopJob(t, c, job) })
	from, to := c.Nodes[0], c.Nodes[1]
	fromID, err := from.ID()
	if err != nil {
		t.Fatal(err)
	}
	toID, err := to.ID()
	if err != nil {
		t.Fatal(err)
	}

	spec, err := os.ReadFile(jobFile(root, "stateful.volume.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	createVolume := func(nodeID string) string {
		t.Helper()
		path := filepath.Join(c.HostDir, "volume-"+nodeID[:8]+".hcl")
		mustWrite(t, path, string(spec)+fmt.Sprintf("\nnode_id = %q\n", nodeID))
		out := nomad(t, c, "volume", "create", path)
		m := regexp.MustCompile(`ID "?([0-9a-f-]{36})`).FindStringSubmatch(out.Stdout + out.Stderr)
		if m == nil {
			t.Fatalf("nomad volume create said:\n%s%s", out.Stdout, out.Stderr)
		}
		return m[1]
	}
	const dataset = "zroot/pot/fscomp/default_counter"
	mountpoint := func(n *cluster.Node) string {
		t.Helper()
		out, err := n.ZFS("get", "-H", "-o", "value", "mountpoint", dataset)
		if err != nil {
			t.Fatalf("zfs get mountpoint on %s: %v", n.Name, err)
		}
		return strings.TrimSpace(out.Stdout)
	}
	runJob := func(node string, count string) alloc {
		t.Helper()
		nomad(t, c, append(append([]string{"job", "run", "-detach"}, imageVars(c)...), jobFile(root, "stateful.nomad.hcl"))...)
		a := waitRunning(t, c, job, 1, time.Minute)[0]
		if a.NodeName != node {
			t.Fatalf("the job runs on %s, want %s (where the volume is)", a.NodeName, node)
		}
		waitLog(t, c, a.ID, "counter", false, "count="+count, 30*time.Second)
		return a
	}
	// pass pipes `volume send ARGS` on client 1 into `volume receive` on
	// client 2 and returns what send said.
	pass := func(args ...string) (string, time.Duration) {
		t.Helper()
		start := time.Now()
		send := from.VolumeCmd(append(append([]string{"send"}, args...), "counter")...)
		recv := to.VolumeCmd("receive", "counter")
		pipe, err := send.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var sendErr, recvOut bytes.Buffer
		send.Stderr = &sendErr
		recv.Stdin, recv.Stdout, recv.Stderr = pipe, &recvOut, &recvOut
		if err := send.Start(); err != nil {
			t.Fatal(err)
		}
		if err := recv.Run(); err != nil {
			_ = send.Wait()
			t.Fatalf("volume receive on %s: %v\n%s\nvolume send on %s said:\n%s", to.Name, err, recvOut.String(), from.Name, sendErr.String())
		}
		if err := send.Wait(); err != nil {
			t.Fatalf("volume send on %s: %v\n%s", from.Name, err, sendErr.String())
		}
		t.Logf("send: %sreceive: %s", sendErr.String(), recvOut.String())
		return sendErr.String(), time.Since(start)
	}
	sentBytes := func(said string) string {
		if m := regexp.MustCompile(`: (\d+) bytes`).FindStringSubmatch(said); m != nil {
			return m[1]
		}
		return "?"
	}

	// 1. On client 1, with data.
	oldID := createVolume(fromID)
	runJob(from.Name, "1")
	src := mountpoint(from)
	blob := make([]byte, 4<<20)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(src, "blob"), string(blob))
	mustWrite(t, filepath.Join(src, "journal"), "before the first pass\n")

	// 2. Everything, while the task runs.
	said, fullTook := pass()
	next := regexp.MustCompile(`-from (move-\d+)`).FindStringSubmatch(said)
	if next == nil {
		t.Fatalf("volume send did not name the next pass's -from:\n%s", said)
	}

	// 3. Written meanwhile; then the job stops.
	journal := "before the first pass\nafter the first pass\n"
	mustWrite(t, filepath.Join(src, "journal"), journal)
	if err := os.Remove(filepath.Join(src, "blob")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(src, "blob"), string(blob[:1<<20]))
	downStart := time.Now()
	nomad(t, c, "job", "stop", "-purge", "-detach", job)
	eventually(t, time.Minute, "the job's pot on "+from.Name+" to be destroyed", func() (bool, string) {
		pots, err := from.TaskPots()
		return err == nil && len(pots) == 0, fmt.Sprint(pots, err)
	})
	stopped := time.Since(downStart)

	// 4. The changes.
	said2, incTook := pass("-from", next[1])

	// 5. Adopted on client 2, removed from client 1, the job there.
	volumesFrom := time.Now()
	newID := createVolume(toID)
	nomad(t, c, "system", "gc")
	eventually(t, time.Minute, "nomad volume delete of the volume on "+from.Name, func() (bool, string) {
		out, err := c.Nomad(time.Minute, "volume", "delete", "-type", "host", oldID)
		if err != nil {
			_, _ = c.Nomad(time.Minute, "system", "gc")
			return false, err.Error()
		}
		return true, out.Stdout
	})
	volumesTook := time.Since(volumesFrom)
	runFrom := time.Now()
	runJob(to.Name, "2")
	runTook := time.Since(runFrom)
	downtime := time.Since(downStart)

	// The bytes.
	dst := mountpoint(to)
	if got, err := os.ReadFile(filepath.Join(dst, "blob")); err != nil || sha256.Sum256(got) != sha256.Sum256(blob[:1<<20]) {
		t.Errorf("the blob on %s is not what was written on %s (%d bytes, %v)", to.Name, from.Name, len(got), err)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "journal")); string(got) != journal {
		t.Errorf("the journal on %s holds %q, want %q", to.Name, got, journal)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "count")); strings.TrimSpace(string(got)) != "2" {
		t.Errorf("the count on %s is %q, want 2", to.Name, got)
	}
	if out, err := to.ZFS("get", "-H", "-o", "value", "org.bsdpot.nomad-pot-driver:volume-id", dataset); err != nil || strings.TrimSpace(out.Stdout) != newID {
		t.Errorf("the dataset on %s carries volume ID %q, want the new volume's %s (%v)", to.Name, strings.TrimSpace(out.Stdout), newID, err)
	}
	if out, err := from.ZFS("list", "-H", "-o", "name", dataset); err == nil {
		t.Errorf("the volume's dataset is still on %s after nomad volume delete:\n%s", from.Name, out.Stdout)
	}

	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	rep.add("volume move", "first pass, task running: volume send piped into volume receive (everything; 4 MiB of data)", fmt.Sprintf("%s bytes in %s", sentBytes(said), ms(fullTook)))
	rep.add("volume move", "second pass, task stopped: volume send -from (the changes: a 1 MiB file replaced, a line added)", fmt.Sprintf("%s bytes in %s", sentBytes(said2), ms(incTook)))
	rep.add("volume move", "downtime: job stop to the task running on the other client", ms(downtime))
	rep.add("volume move", "of which: job stop -purge to its pot destroyed (shutdown, no shutdown_delay)", ms(stopped))
	rep.add("volume move", "of which: nomad volume create there (adoption), system gc, volume delete here", ms(volumesTook))
	rep.add("volume move", "of which: nomad job run to the task counting on (count=2)", ms(runTook))
	rep.add("volume move", "bytes checked on the new client (blob, journal, count=2)", "equal")
}
