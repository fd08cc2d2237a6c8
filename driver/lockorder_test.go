package driver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad/plugins/base"

	"github.com/bsdpot/nomad-pot-driver/hclspec"
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

// TestSetConfigDuringStarts: the plugin config is set again and again while
// tasks start, run and are destroyed (every start takes the image store's
// and the driver's locks): nothing deadlocks, and every task runs.
func TestSetConfigDuringStarts(t *testing.T) {
	env := newTestEnv(t)
	pc := &hclspec.PluginConfig{PotBin: potsimBin}
	_, h := env.newDriverWith(pc)
	var data []byte
	if err := base.MsgPackEncode(&data, pc); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	configs := make(chan int)
	go func() {
		n := 0
		defer func() { configs <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := h.SetConfig(&base.Config{PluginConfig: data}); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			cfg, tc := env.task(fmt.Sprintf("reconf%d", i), "echo ran")
			encode(t, cfg, tc)
			allocDir(t, h, cfg, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := h.StartTask(cfg); err != nil {
					t.Errorf("StartTask %s: %v", cfg.Name, err)
					return
				}
				if res := waitResult(t, h, cfg.ID, time.Minute); res.ExitCode != 0 {
					t.Errorf("%s: exit %d", cfg.Name, res.ExitCode)
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("starts under SetConfig did not finish: deadlocked?")
	}
	close(stop)
	t.Logf("%d SetConfig calls during the starts", <-configs)
}
