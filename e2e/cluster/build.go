package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// RepoRoot finds the module root (the folder with go.mod declaring this
// module) from the working folder upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/bsdpot/nomad-pot-driver\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of github.com/bsdpot/nomad-pot-driver above the working folder")
		}
		dir = parent
	}
}

// build compiles packages of this repository (output path -> package
// path), in parallel: each is a relink when Go's build cache is warm.
func build(ctx context.Context, repoRoot string, jobs map[string]string) error {
	for out := range jobs {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for out, pkg := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
			cmd.Dir = repoRoot
			if msg, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("go build %s: %v\n%s", pkg, err, msg))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// AgentsDir returns the folder holding the nomad and consul executables:
// $NOMAD_POT_AGENTS_BIN, or what e2e/agents/build.sh builds (once per
// machine, ~10 minutes the first time). build.sh's progress lines go to
// progress, and while it runs a line every interval says it is still at
// work and for how long.
func AgentsDir(ctx context.Context, repoRoot string, progress io.Writer, interval time.Duration) (string, error) {
	script := filepath.Join(repoRoot, "e2e", "agents", "build.sh")
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = repoRoot
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	since := time.Now()
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("running %s: %w", script, err)
	}
	var mu sync.Mutex
	last := ""
	building := false
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			last = strings.TrimPrefix(line, "agents: ")
			if strings.Contains(line, "building") {
				building, since = true, time.Now()
			}
			mu.Unlock()
			fmt.Fprintf(progress, "%s\n", line)
		}
	}()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for waiting := true; waiting; {
		select {
		case <-lines:
			waiting = false
		case <-ticker.C:
			mu.Lock()
			if building {
				fmt.Fprintf(progress, "agents: … %s: %s so far\n", last, time.Since(since).Round(time.Second))
			}
			mu.Unlock()
		}
	}
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("%s failed: %w (see the lines above)", script, err)
	}
	dir := strings.TrimSpace(stdout.String())
	for _, name := range []string{"nomad", "consul"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s printed %q, which holds no %s", script, dir, name)
		}
	}
	return dir, nil
}
