package pot

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestObserverSeesEveryCompletedCall(t *testing.T) {
	var mu sync.Mutex
	var seen [][]string
	var took []time.Duration
	c := &Client{Bin: "/bin/echo", Observer: func(args []string, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, args)
		took = append(took, d)
		if err != nil {
			t.Errorf("echo failed: %v", err)
		}
	}}
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	// A call refused before pot runs is no pot command: not observed.
	if err := c.Stop(context.Background(), "bad\nname"); err == nil {
		t.Fatal("a name with a newline was accepted")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0][0] != "version" || seen[1][0] != "stop" || seen[1][2] != "web" {
		t.Fatalf("observed %q", seen)
	}
	for _, d := range took {
		if d <= 0 {
			t.Fatalf("durations %v", took)
		}
	}
}
