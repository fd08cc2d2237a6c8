package driver

import (
	"context"
	"errors"
	"math"

	"github.com/hashicorp/nomad/plugins/drivers"
	pstructs "github.com/hashicorp/nomad/plugins/shared/structs"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// hostFingerprint adds what the driver knows of the host to attrs and
// decides health from pot's ZFS root: unhealthy, with the reason, when pot
// cannot say what it is (`pot config zfs_root` fails: a pot that was never
// initialised says to run `pot init`, and so does the description), when the
// dataset is missing or its pool is not ONLINE. Everything is read again on
// every call (nothing cached), so a change shows in the next fingerprint.
// Off FreeBSD (freebsd.ErrUnsupported) the host attributes are left out and
// only pot's own answer affects health.
//
//	driver.pot.freebsd_release      kern.osrelease
//	driver.pot.racct                kern.racct.enable
//	driver.pot.vnet                 kern.features.vimage
//	driver.pot.pf                   pf enabled (pfctl -s info)
//	driver.pot.zfs_root             pot config zfs_root
//	driver.pot.zfs_root_free_bytes  space available to that dataset
//	driver.pot.zfs_pool             its pool
//	driver.pot.zfs_pool_health      ONLINE, DEGRADED, ...
//	driver.pot.zfs_pool_free_bytes  the pool's free space
func (d *Driver) hostFingerprint(ctx context.Context, client *pot.Client, attrs map[string]*pstructs.Attribute) (drivers.HealthState, string) {
	host := d.hostProbe()
	rel, err := host.Release()
	onFreeBSD := !errors.Is(err, freebsd.ErrUnsupported)
	if onFreeBSD {
		if err == nil {
			attrs["driver.pot.freebsd_release"] = pstructs.NewStringAttribute(rel)
		}
		if st, err := host.Racct(); st != freebsd.RacctUnsupported {
			attrs["driver.pot.racct"] = pstructs.NewBoolAttribute(st == freebsd.RacctEnabled && err == nil)
		}
		if v, err := host.VNET(); err == nil {
			attrs["driver.pot.vnet"] = pstructs.NewBoolAttribute(v)
		}
		if v, err := host.PF(ctx); err == nil {
			attrs["driver.pot.pf"] = pstructs.NewBoolAttribute(v)
		} else {
			d.logger.Debug("fingerprint: pf state unknown", "error", err)
		}
	}

	// pot's own configuration, on every system: a pot that answers version
	// but was never initialised fails everything else.
	root, err := client.ZFSRoot(ctx)
	if err != nil {
		return drivers.HealthStateUnhealthy, err.Error()
	}
	attrs["driver.pot.zfs_root"] = pstructs.NewStringAttribute(root)
	if !onFreeBSD {
		return drivers.HealthStateHealthy, drivers.DriverHealthy
	}

	r, zerr := host.ZFS(ctx, root)
	if errors.Is(zerr, freebsd.ErrUnsupported) {
		return drivers.HealthStateHealthy, drivers.DriverHealthy
	}
	if r.Pool != "" {
		attrs["driver.pot.zfs_pool"] = pstructs.NewStringAttribute(r.Pool)
	}
	if zerr == nil {
		attrs["driver.pot.zfs_root_free_bytes"] = pstructs.NewIntAttribute(clampInt64(r.RootAvail), "")
		attrs["driver.pot.zfs_pool_health"] = pstructs.NewStringAttribute(r.PoolHealth)
		attrs["driver.pot.zfs_pool_free_bytes"] = pstructs.NewIntAttribute(clampInt64(r.PoolFree), "")
	}
	if r.Root == "" {
		r.Root = root
	}
	if ok, why := freebsd.ZFSHealthy(r, zerr); !ok {
		return drivers.HealthStateUnhealthy, why
	}
	return drivers.HealthStateHealthy, drivers.DriverHealthy
}

func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
