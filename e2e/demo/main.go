// Command demo is `make demo`: a one-machine Nomad cluster running
// example-jobs/web.nomad.hcl in pot jails behind haproxy, until Ctrl-C.
//
// It builds what is missing (the pinned Nomad and Consul agents, ~10 minutes
// the first time; the driver; on Linux potsim and the test web server),
// starts Consul (dev mode), Nomad (dev agent, the pot driver in its
// plugin_dir) and haproxy (example-jobs/haproxy.cfg) on loopback, runs the
// web job, prints what to try, and on Ctrl-C (SIGINT or SIGTERM) stops the
// job, then every process it started.
//
// With -clients N (make demo-cluster: 3) the cluster is one Nomad server
// and N Nomad clients, each a node of its own (its address, Consul agent
// and potsim root), and the web job runs six instances spread over them;
// it prints how to drain a client or crash one. Potsim only.
//
// On FreeBSD the driver calls the real pot (/usr/local/bin/pot; run as
// root) and the job runs its default image (potluck's nginx). Elsewhere it
// calls potsim, the Linux stand-in for pot, and the job runs e2e/webserver.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/bsdpot/nomad-pot-driver/e2e/cluster"
)

func main() {
	keep := flag.Bool("keep", false, "keep the run folder (logs, data) after stopping")
	clients := flag.Int("clients", 0, "a multi-node cluster: one Nomad server and this many clients (potsim only; make demo-cluster: 3)")
	agentsOnly := flag.Bool("agents-only", false, "only build the agents (with progress on stderr) and print their folder (make agents)")
	flag.Parse()
	if *agentsOnly {
		if err := buildAgents(); err != nil {
			fmt.Fprintf(os.Stderr, "agents: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*keep, *clients); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// buildAgents is `make agents`: e2e/agents/build.sh with a progress line
// every 30 s while it compiles.
func buildAgents() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := cluster.AgentsDir(ctx, root, os.Stderr, 30*time.Second)
	if err != nil {
		return err
	}
	fmt.Println(dir)
	return nil
}

func say(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(keep bool, clients int) error {
	// A closed terminal or pipe must not kill the demo before it has
	// stopped what it started: writes then just fail.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := cluster.RepoRoot()
	if err != nil {
		return err
	}
	usePotsim := runtime.GOOS != "freebsd"
	if clients > 0 && !usePotsim {
		return errors.New("-clients: a multi-node cluster on one machine runs potsim (each client its own pot root); on FreeBSD run a client per host")
	}
	if usePotsim {
		say("pot: potsim, the Linux stand-in for pot (cmd/potsim): jails are process groups, not FreeBSD jails")
	} else {
		say("pot: %s (FreeBSD jails)", cluster.RealPot)
		if os.Geteuid() != 0 {
			return errors.New("pot needs root: run `make demo` as root on FreeBSD")
		}
	}
	haproxyCfg := filepath.Join(root, "example-jobs", "haproxy.cfg")
	if _, err := exec.LookPath("haproxy"); err != nil {
		say("haproxy is not installed (Debian: apt-get install haproxy; FreeBSD: pkg install haproxy): running without it")
		haproxyCfg = ""
	}

	say("Nomad and Consul: the pinned agents (e2e/agents/build.sh; the first build takes ~10 minutes)")
	agents, err := cluster.AgentsDir(ctx, root, os.Stdout, 15*time.Second)
	if err != nil {
		return err
	}

	c, err := cluster.Start(ctx, cluster.Options{
		Who:           "make demo",
		RepoRoot:      root,
		AgentsDir:     agents,
		Potsim:        usePotsim,
		DefaultPorts:  true,
		HaproxyConfig: haproxyCfg,
		Clients:       clients,
		Keep:          keep,
		Logf:          say,
	})
	if err != nil {
		if ctx.Err() != nil {
			say("interrupted")
			return nil
		}
		return err
	}
	defer func() {
		say("stopping: the web job, then Nomad, haproxy and Consul")
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: stopping: %v\n", err)
		} else {
			say("stopped cleanly")
		}
	}()

	job := filepath.Join(root, "example-jobs", "web.nomad.hcl")
	args := []string{"job", "run"}
	if usePotsim {
		args = append(args,
			"-var", "image_url="+c.Images.URL,
			"-var", "image="+cluster.ImageName,
			"-var", "tag="+cluster.ImageTag,
			"-var", "command="+c.Webserver,
			"-var", `args=["-port","8080"]`,
			"-var", "port=8080")
	}
	if clients > 0 {
		args = append(args, "-var", "instances=6")
	}
	args = append(args, job)
	say("nomad %s", strings.Join(args, " "))
	cmd := c.NomadCommand(args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Signal(os.Interrupt)
		<-done
		return nil
	}
	if err != nil {
		return fmt.Errorf("nomad job run: %w (logs: %s)", err, c.Dir)
	}

	printTry(c, usePotsim)
	<-ctx.Done()
	fmt.Println()
	return nil
}

// printTry shows the URLs and commands to try.
func printTry(c *cluster.Cluster, usePotsim bool) {
	fmt.Println()
	fmt.Println(strings.Repeat("=", 78))
	fmt.Print(c.Describe())
	fmt.Println(strings.Repeat("-", 78))
	if c.HaproxyAddr != "" {
		url := "http://" + c.HaproxyAddr + "/"
		fmt.Printf("Try (haproxy round-robins over the instances):\n  curl %s\n", url)
		if body, err := get(url); err == nil {
			fmt.Printf("  -> %s", body)
		}
		fmt.Printf("  haproxy stats: http://%s/stats\n", c.HaproxyStats)
	}
	fmt.Printf("Consul DNS, one SRV record per instance:\n  dig @127.0.0.1 -p %s _web._tcp.service.consul SRV\n", c.DNSPort())
	fmt.Printf("Consul UI:  %s/ui/\n", c.ConsulAddr)
	if uiAvailable(c.NomadAddr + "/ui/") {
		fmt.Printf("Nomad UI:   %s/ui/\n", c.NomadAddr)
	} else {
		fmt.Printf("Nomad API:  %s/v1/jobs   (this Nomad build has no web UI; use the CLI)\n", c.NomadAddr)
	}
	fmt.Printf("The nomad CLI:\n  export NOMAD_ADDR=%s\n  %s job status web\n  %s alloc logs -job web\n  %s alloc exec -job web /bin/sh -c 'echo $NOMAD_ALLOC_ID'\n",
		c.NomadAddr, c.NomadBin(), c.NomadBin(), c.NomadBin())
	if usePotsim && len(c.Nodes) > 0 {
		fmt.Printf("The pots of each client:\n")
		for _, n := range c.Nodes {
			fmt.Printf("  POTSIM_ROOT=%s %s ls -q\n", n.PotsimRoot, c.PotBin)
		}
	} else if usePotsim {
		fmt.Printf("The pots:\n  POTSIM_ROOT=%s %s ls -q\n", c.PotsimRoot, c.PotBin)
	} else {
		fmt.Printf("The pots:\n  pot ls -q\n")
	}
	if len(c.Nodes) > 0 {
		printTryCluster(c)
	}
	fmt.Println(strings.Repeat("=", 78))
	fmt.Println("Press Ctrl-C to stop the job and everything the demo started.")
}

// printTryCluster shows what to try on a multi-node cluster.
func printTryCluster(c *cluster.Cluster) {
	fmt.Println("The clients, and where the six instances run:")
	fmt.Printf("  %s node status\n  %s job status web\n", c.NomadBin(), c.NomadBin())
	fmt.Println("Drain a client while requests go through haproxy (none fails: shutdown_delay and Consul checks):")
	fmt.Printf("  while :; do curl -s -o /dev/null -w '%%{http_code}\\n' http://%s/; sleep 0.05; done | sort | uniq -c &\n", c.HaproxyAddr)
	fmt.Printf("  %s node drain -enable -yes <node id of %s>\n", c.NomadBin(), c.Nodes[0].Name)
	fmt.Printf("  %s node eligibility -enable <node id>     # back into service\n", c.NomadBin())
	fmt.Println("Lose a client: kill its Nomad and Consul agents; Nomad marks it down and places its instances on the others:")
	fmt.Printf("  pkill -KILL -f '%s/(nomad|consul)\\.hcl'\n", c.Nodes[len(c.Nodes)-1].Dir)
}

func get(url string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return string(b), err
}

// uiAvailable: Nomad built without the `ui` tag answers /ui/ with a page
// saying so.
func uiAvailable(url string) bool {
	body, err := get(url)
	return err == nil && !strings.Contains(strings.ToLower(body), "not available") && !strings.Contains(body, "ui is disabled")
}
