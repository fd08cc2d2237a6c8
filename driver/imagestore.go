package driver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/pot"
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
	list, err := freebsd.ReadFilesystems(ctx, pot.JailsDataset(z.root))
	if err != nil {
		return nil, err
	}
	sets := pot.PotDatasets(z.root, list)
	out := make(map[string]*potInfo, len(sets))
	for name, ds := range sets {
		p := &potInfo{Origins: ds.Origins}
		if candidate(name) {
			if p.LastUsed, p.Marked, err = z.mark(ctx, name); err != nil {
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
		if _, marked, err := z.mark(ctx, image); err != nil || !marked {
			return err
		}
	}
	return z.set(ctx, image, imageMarkProperty, formatImageMark(t))
}

func (z zfsImages) Record(ctx context.Context, image string) (string, error) {
	return z.get(ctx, image, imageRecordProperty)
}

func (z zfsImages) SetRecord(ctx context.Context, image, record string) error {
	return z.set(ctx, image, imageRecordProperty, record)
}

// mark reads the image's mark: when the driver last used it, and whether
// the driver marked it at all.
func (z zfsImages) mark(ctx context.Context, image string) (time.Time, bool, error) {
	v, err := z.get(ctx, image, imageMarkProperty)
	if err != nil {
		return time.Time{}, false, err
	}
	return parseImageMark(v)
}

func (z zfsImages) get(ctx context.Context, image, property string) (string, error) {
	ds, err := pot.Dataset(z.root, image)
	if err != nil {
		return "", err
	}
	return freebsd.ReadProperty(ctx, ds, property)
}

func (z zfsImages) set(ctx context.Context, image, property, value string) error {
	ds, err := pot.Dataset(z.root, image)
	if err != nil {
		return err
	}
	return freebsd.WriteProperty(ctx, ds, property, value)
}

// The driver's ZFS user properties on the dataset of an image pot it
// imported: the time it last used the image (formatImageMark), and what
// it knows of the image's origin (imageRecord: the hash it was imported
// with, the keys its signature was checked with).
const (
	imageMarkProperty   = "org.bsdpot.nomad-pot-driver:last-used"
	imageRecordProperty = "org.bsdpot.nomad-pot-driver:verified"
)

// formatImageMark and parseImageMark write and read the value of an image
// mark: the time in RFC 3339 with nanoseconds, UTC ("-" or "" is no mark).
func formatImageMark(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// parseImageMark: see formatImageMark.
func parseImageMark(v string) (time.Time, bool, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "-" {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("image mark %q is not an RFC 3339 time", v)
	}
	return t, true, nil
}
