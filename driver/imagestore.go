package driver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
)

// potInfo is what the image cache needs to know of a pot.
type potInfo struct {
	// Origins are the pots this one was cloned from.
	Origins []string
	// Marked: the driver imported this image; LastUsed is when it last
	// used it. Size (bytes) is read for marked pots only.
	Marked   bool
	LastUsed time.Time
	Size     uint64
}

// imageStore reads the pots' disk use and the driver's marks on images. On
// FreeBSD it is ZFS (go-zfs): sizes and origins of pot's datasets, the mark
// a user property. Elsewhere it is pot's file tree as potsim keeps it.
type imageStore interface {
	// Scan lists every pot with its origins; marks and sizes are read for
	// the pots candidate accepts.
	Scan(ctx context.Context, candidate func(name string) bool) (map[string]*potInfo, error)
	// SetMark records that the driver used image at t. Without create it
	// only moves an existing mark on.
	SetMark(ctx context.Context, image string, t time.Time, create bool) error
	// Record and SetRecord read and keep the image's origin record
	// (imageRecord's form); "" when it has none.
	Record(ctx context.Context, image string) (string, error)
	SetRecord(ctx context.Context, image, record string) error
}

// errNoImageStore: the machine's zfs does not know pot's ZFS root (or
// there is no zfs): the image cache has nothing to read its images from.
var errNoImageStore = errors.New("the image cache needs pot's ZFS datasets")

// imageStore returns the store of the configured pot, made once per plugin
// config: pot's datasets, read and marked through go-zfs, wherever zfs(8)
// knows pot's ZFS root (FreeBSD; the FreeBSD emulation of the tests, under
// pot's scripts or potsim). Elsewhere (Linux without it: potsim in the
// demo) there is none (errNoImageStore): no image is pruned and a signed
// start has no record of an earlier import's check.
func (d *Driver) imageStore(ctx context.Context) (imageStore, error) {
	d.storeMu.Lock()
	defer d.storeMu.Unlock()
	if d.images != nil {
		return d.images, nil
	}
	root, err := d.potClient().ZFSRoot(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoImageStore, err)
	}
	if _, err := freebsd.ReadZFS(ctx, root); err != nil {
		return nil, fmt.Errorf("%w: pot's ZFS root %q: %w", errNoImageStore, root, err)
	}
	d.images = zfsImages{root: root}
	return d.images, nil
}

// zfsImages: pot's datasets under ZFS_ROOT/jails.
type zfsImages struct{ root string }

func (z zfsImages) Scan(ctx context.Context, candidate func(string) bool) (map[string]*potInfo, error) {
	sets, err := freebsd.ReadPotDatasets(ctx, z.root)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*potInfo, len(sets))
	for name, ds := range sets {
		p := &potInfo{Origins: ds.Origins}
		if candidate(name) {
			if p.LastUsed, p.Marked, err = freebsd.ReadImageMark(ctx, z.root, name); err != nil {
				return nil, err
			}
			p.Size = ds.Used
		}
		out[name] = p
	}
	return out, nil
}

func (z zfsImages) SetMark(ctx context.Context, image string, t time.Time, create bool) error {
	if !create {
		if _, marked, err := freebsd.ReadImageMark(ctx, z.root, image); err != nil || !marked {
			return err
		}
	}
	return freebsd.WriteImageMark(ctx, z.root, image, t)
}

func (z zfsImages) Record(ctx context.Context, image string) (string, error) {
	return freebsd.ReadPotProperty(ctx, z.root, image, freebsd.ImageRecordProperty)
}

func (z zfsImages) SetRecord(ctx context.Context, image, record string) error {
	return freebsd.WritePotProperty(ctx, z.root, image, freebsd.ImageRecordProperty, record)
}
