package driver

import (
	"context"
	"time"

	cstructs "github.com/hashicorp/nomad/client/structs"
	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

var (
	measuredMemory = []string{"RSS", "Swap"}
	// Total Ticks is sent (Nomad's MHz line uses it) but not listed:
	// Nomad's CLI has no column for it, like Nomad's own drivers.
	measuredCPU = []string{"Percent"}
)

// TaskStats sends the jail's resource usage every interval until ctx ends
// or the task exits. A sample pot cannot give is skipped, not fatal: a
// closed channel would make Nomad restart the stream.
func (d *Driver) TaskStats(ctx context.Context, taskID string, interval time.Duration) (<-chan *cstructs.TaskResourceUsage, error) {
	h, ok := d.tasks.get(taskID)
	if !ok {
		return nil, errTaskNotFound(taskID)
	}
	if interval <= 0 {
		interval = time.Second
	}
	ch := make(chan *cstructs.TaskResourceUsage)
	go func() {
		defer close(ch)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.ctx.Done():
				return
			case <-h.done:
				return
			case <-timer.C:
			}
			timer.Reset(interval)
			usage, err := d.sample(ctx, h, interval)
			if err != nil {
				if !h.exited() {
					h.logger.Debug("skipping a stats sample", "error", err)
				}
				continue
			}
			select {
			case ch <- usage:
			case <-ctx.Done():
				return
			case <-h.done:
				return
			}
		}
	}()
	return ch, nil
}

// sample reads the jail's usage from the kernel where it can (FreeBSD:
// no process at all), and asks `pot get-rss -J` otherwise or if that fails.
func (d *Driver) sample(ctx context.Context, h *taskHandle, interval time.Duration) (*cstructs.TaskResourceUsage, error) {
	if u, err := d.sampleKernel(h); err == nil {
		return u, nil
	}
	ctx, cancel := context.WithTimeout(ctx, interval+5*time.Second)
	defer cancel()
	ru, err := d.potClient().GetRSS(ctx, h.potName)
	if err != nil {
		return nil, err
	}
	return usageFromPot(ru, time.Now()), nil
}

// usageFromPot maps pot's get-rss figures onto Nomad's, never leaving a
// nil part (Nomad's plugin process panics on one).
func usageFromPot(ru *pot.ResourceUsage, at time.Time) *cstructs.TaskResourceUsage {
	return &cstructs.TaskResourceUsage{
		ResourceUsage: &cstructs.ResourceUsage{
			MemoryStats: &cstructs.MemoryStats{
				RSS:      ru.MemoryStats.RSS,
				Swap:     ru.MemoryStats.Swap,
				Measured: measuredMemory,
			},
			CpuStats: &cstructs.CpuStats{
				Percent:    ru.CpuStats.Percent,
				TotalTicks: ru.CpuStats.TotalTicks,
				Measured:   measuredCPU,
			},
		},
		Timestamp: at.UTC().UnixNano(),
	}
}

var _ drivers.DriverPlugin = (*Driver)(nil)
