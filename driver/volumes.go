package driver

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/hostvolume"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// Volumes that are pot fscomps (made by the pot-fscomp host volume plugin,
// or by hand: any fscomp) get a snapshot before each start of a task that
// mounts them, DATASET@nomad-ALLOCID-UNIXNANO, so every deploy has a
// restore point; the newest N of those are kept (the dataset's
// hostvolume.SnapshotsProperty, else hostvolume.DefaultSnapshots), older
// ones destroyed after the start. Snapshots of other names are left
// alone. A task whose mounts are no fscomps costs no zfs call.

// snapshotPrefix begins the name of every snapshot the driver takes.
const snapshotPrefix = "nomad-"

// fscompVolumes are the datasets of the fscomps among the task's mounts,
// found from their paths in pot's layout (no zfs call for other paths).
func (d *Driver) fscompVolumes(ctx context.Context, mounts []pot.MountOptions) ([]string, error) {
	fsRoot, err := d.potClient().FSRoot(ctx)
	if err != nil {
		return nil, err
	}
	var datasets []string
	var zfsRoot string
	for _, m := range mounts {
		name, ok := pot.FscompOfPath(fsRoot, m.HostDir)
		if !ok {
			continue
		}
		if zfsRoot == "" {
			store, err := d.imageStore(ctx) // pot's ZFS root, read once per config
			if err != nil {
				return nil, fmt.Errorf("volume %s is a pot fscomp, but: %w", m.HostDir, err)
			}
			zi, ok := store.(zfsImages)
			if !ok {
				return nil, fmt.Errorf("volume %s is a pot fscomp, but pot's ZFS root is unknown", m.HostDir)
			}
			zfsRoot = zi.root
		}
		ds, err := pot.FscompDataset(zfsRoot, name)
		if err != nil {
			return nil, err
		}
		datasets = append(datasets, ds)
	}
	return datasets, nil
}

// snapshotVolumes takes the pre-start snapshot of each fscomp volume (one
// zfs call each) and tells the task; the pruning (pruneSnapshots) follows
// once StartTask is done.
func (d *Driver) snapshotVolumes(ctx context.Context, cfg *drivers.TaskConfig, datasets []string) error {
	for _, ds := range datasets {
		name := fmt.Sprintf("%s%s-%d", snapshotPrefix, cleanNamePart(cfg.AllocID, 36), time.Now().UnixNano())
		if err := freebsd.Snapshot(ctx, ds, name); err != nil {
			return fmt.Errorf("the volume's restore point before the start (zfs snapshot %s@%s): %w", ds, name, err)
		}
		d.emit(cfg, fmt.Sprintf("Volume snapshot %s@%s taken before the start (a restore point)", ds, name))
	}
	return nil
}

// pruneDelay is how long after a start its volume's snapshots are
// pruned: the jail's start does not share the disk with zfs destroys.
const pruneDelay = time.Second

// pruneSnapshots destroys, pruneDelay after a start, the driver's
// snapshots of dataset beyond the newest N.
func (d *Driver) pruneSnapshots(dataset string) {
	select {
	case <-time.After(pruneDelay):
	case <-d.ctx.Done():
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Minute)
	defer cancel()
	keep := hostvolume.DefaultSnapshots
	if v, err := freebsd.ReadProperty(ctx, dataset, hostvolume.SnapshotsProperty); err == nil && v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			keep = n
		}
	}
	all, err := freebsd.Snapshots(ctx, dataset)
	if err != nil {
		d.logger.Warn("volume snapshots: cannot list them", "dataset", dataset, "error", err)
		return
	}
	for _, s := range snapshotsToPrune(dataset, all, keep) {
		if err := freebsd.DestroySnapshot(ctx, s); err != nil && !isMissing(err) {
			d.logger.Warn("volume snapshots: cannot destroy an old one", "snapshot", s, "error", err)
			continue
		}
		d.logger.Info("volume snapshot destroyed: more than the volume keeps", "snapshot", s, "keep", keep)
	}
}

// snapshotsToPrune picks the driver's snapshots of dataset itself beyond
// the newest keep, oldest first.
func snapshotsToPrune(dataset string, all []string, keep int) []string {
	type snap struct {
		name  string
		stamp int64
	}
	var ours []snap
	for _, s := range all {
		name, ok := strings.CutPrefix(s, dataset+"@"+snapshotPrefix)
		if !ok {
			continue
		}
		i := strings.LastIndexByte(name, '-')
		stamp, err := strconv.ParseInt(name[i+1:], 10, 64)
		if i < 0 || err != nil {
			continue
		}
		ours = append(ours, snap{s, stamp})
	}
	sort.Slice(ours, func(i, j int) bool { return ours[i].stamp < ours[j].stamp })
	var out []string
	for i := 0; i < len(ours)-keep; i++ {
		out = append(out, ours[i].name)
	}
	return out
}

func isMissing(err error) bool {
	var ze *freebsd.ZFSError
	return errors.As(err, &ze) && ze.Missing
}
