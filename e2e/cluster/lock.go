package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// RunPrefix starts the name of every run folder under os.TempDir().
const RunPrefix = "nomad-pot-e2e-"

// machineLock is held for the whole life of a cluster: two clusters on one
// machine would hand their pots the same addresses (potsim's 127.192.0.0/16)
// and fight over ports, so e2e runs and the demo take turns.
type machineLock struct{ f *os.File }

func lockPath() string { return filepath.Join(os.TempDir(), "nomad-pot-e2e.lock") }

// acquireMachineLock waits for the machine-wide lock, saying once who holds
// it.
func acquireMachineLock(ctx context.Context, who string, logf func(string, ...any)) (*machineLock, error) {
	f, err := os.OpenFile(lockPath(), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", lockPath(), err)
		}
		if !said {
			holder, _ := os.ReadFile(lockPath())
			logf("waiting for %s, held by: %s", lockPath(), strings.TrimSpace(string(holder)))
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", lockPath(), ctx.Err())
		case <-time.After(time.Second):
		}
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("%s (pid %d, since %s)\n", who, os.Getpid(), time.Now().Format(time.RFC3339))), 0)
	return &machineLock{f: f}, nil
}

func (l *machineLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}
