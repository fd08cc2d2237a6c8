package driver

import (
	"context"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// TestSetConfigMeetsImageStore: a reconfiguration (SetConfig) and the
// first image-cache call of a start (imageStore) running at once never
// deadlock: both take the driver's lock and the store's, in one order.
// (They took them in opposite orders: SetConfig d.mu then storeMu,
// imageStore storeMu then d.mu through potClient.)
func TestSetConfigMeetsImageStore(t *testing.T) {
	d := New(hclog.NewNullLogger())
	defer d.Shutdown()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				if err := d.SetConfig(nil); err != nil {
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				// Cancelled: the store's pot calls return at once; what
				// is exercised is the locking around them.
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_, _ = d.imageStore(ctx)
			}()
			wg.Wait()
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("SetConfig and imageStore deadlocked")
	}
}
