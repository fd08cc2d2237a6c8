package driver

import (
	"time"

	cstructs "github.com/hashicorp/nomad/client/structs"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
)

// sampleKernel reads the jail's usage straight from the kernel
// (rctl_get_racct(2) on FreeBSD): no process is started. Elsewhere it
// fails with freebsd.ErrUnsupported and the caller asks pot get-rss.
func (d *Driver) sampleKernel(h *taskHandle) (*cstructs.TaskResourceUsage, error) {
	host := d.hostProbe()
	u, err := host.JailUsage(h.potName)
	if err != nil {
		return nil, err
	}
	mhz, err := host.ClockRateMHz()
	if err != nil {
		mhz = 0
	}
	return usageFromRacct(u, mhz, time.Now()), nil
}

// usageFromRacct maps the jail's racct figures onto Nomad's, as pot
// get-rss does: RSS is memoryuse, Swap is swapuse (racct's swap
// reservation of the jail), Percent is pcpu (percent of one CPU, decaying
// average) and Total Ticks is pcpu of one CPU's clock in MHz. racct has no
// user/system split, so those are not measured. Never a nil part.
func usageFromRacct(u freebsd.Usage, clockMHz int, at time.Time) *cstructs.TaskResourceUsage {
	cpu := &cstructs.CpuStats{
		Percent:  float64(u["pcpu"]),
		Measured: measuredCPU,
	}
	if clockMHz > 0 {
		cpu.TotalTicks = float64(u["pcpu"]) * float64(clockMHz) / 100
	}
	return &cstructs.TaskResourceUsage{
		ResourceUsage: &cstructs.ResourceUsage{
			MemoryStats: &cstructs.MemoryStats{
				RSS:      u["memoryuse"],
				Swap:     u["swapuse"],
				Measured: measuredMemory,
			},
			CpuStats: cpu,
		},
		Timestamp: at.UTC().UnixNano(),
	}
}
