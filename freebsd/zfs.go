package freebsd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	zfs "github.com/mistifyio/go-zfs/v4"
)

// ZFSCallTimeout bounds every zfs and zpool command go-zfs runs (SIGTERM at
// the deadline, SIGKILL ZFSCallGrace later).
const (
	ZFSCallTimeout = 20 * time.Second
	ZFSCallGrace   = 2 * time.Second
)

var zfsRunnerOnce sync.Once

// ReadZFS reads a dataset and its pool with go-zfs, which runs `zfs list
// -Hp` and `zpool get -Hp` (found on PATH) as argv, each bounded by
// ZFSCallTimeout. It builds on every OS; only the FreeBSD Host calls it.
func ReadZFS(ctx context.Context, root string) (ZFSReading, error) {
	zfsRunnerOnce.Do(func() {
		zfs.SetRunner(&zfs.Runner{Timeout: ZFSCallTimeout, Grace: ZFSCallGrace})
	})
	r := ZFSReading{Root: root, Pool: PoolName(root)}
	if root == "" || strings.HasPrefix(root, "-") || strings.ContainsAny(root, " \t\n\x00") {
		return r, &ZFSError{What: "dataset " + root, Missing: root == "", Err: errors.New("invalid dataset name")}
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	ds, err := zfs.GetDataset(root)
	if err != nil {
		return r, &ZFSError{What: "dataset " + root, Missing: zfsMissing(err), Err: err}
	}
	r.RootAvail = ds.Avail
	if err := ctx.Err(); err != nil {
		return r, err
	}
	pool, err := zfs.GetZpool(r.Pool)
	if err != nil {
		return r, &ZFSError{What: "pool " + r.Pool, Missing: zfsMissing(err), Err: err}
	}
	r.PoolHealth = pool.Health
	r.PoolFree = pool.Free
	return r, nil
}

// zfsMissing says whether a go-zfs error is zfs or zpool saying the
// dataset or pool does not exist.
func zfsMissing(err error) bool {
	var ze *zfs.Error
	if !errors.As(err, &ze) {
		return false
	}
	s := strings.ToLower(ze.Stderr)
	return strings.Contains(s, "does not exist") || strings.Contains(s, "no such pool")
}

// PotDataset is one pot as ZFS sees it: ROOT/jails/NAME and the datasets
// below it.
type PotDataset struct {
	// Used is the "used" property of ROOT/jails/NAME in bytes (its
	// datasets and snapshots together).
	Used uint64
	// Origins are the pots this one was cloned from: the pot named in
	// the origin of ROOT/jails/NAME or any dataset below it
	// (ROOT/jails/BASE/m@SNAP for a clone of BASE).
	Origins []string
}

// ImageMarkProperty is the ZFS user property the driver sets on the
// dataset of an image it imported: the time it last used the image
// (FormatImageMark).
const ImageMarkProperty = "org.bsdpot.nomad-pot-driver:last-used"

// ReadPotDatasets lists the pots under ROOT/jails with go-zfs (one `zfs list
// -rHp -t filesystem`), keyed by pot name.
func ReadPotDatasets(ctx context.Context, root string) (map[string]PotDataset, error) {
	zfsRunnerOnce.Do(func() {
		zfs.SetRunner(&zfs.Runner{Timeout: ZFSCallTimeout, Grace: ZFSCallGrace})
	})
	if err := checkDatasetName(root); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	jails := root + "/jails"
	list, err := zfs.Filesystems(jails)
	if err != nil {
		return nil, &ZFSError{What: "dataset " + jails, Missing: zfsMissing(err), Err: err}
	}
	return potDatasets(jails, list), nil
}

// potDatasets groups go-zfs's datasets below jails by pot.
func potDatasets(jails string, list []*zfs.Dataset) map[string]PotDataset {
	out := map[string]PotDataset{}
	potOf := func(name string) (string, bool) {
		rest, ok := strings.CutPrefix(name, jails+"/")
		if !ok || rest == "" {
			return "", false
		}
		if i := strings.IndexAny(rest, "/@"); i >= 0 {
			rest = rest[:i]
		}
		return rest, rest != ""
	}
	for _, ds := range list {
		pot, ok := potOf(ds.Name)
		if !ok {
			continue
		}
		p := out[pot]
		if ds.Name == jails+"/"+pot {
			p.Used = ds.Used
		}
		if base, ok := potOf(ds.Origin); ok && base != pot {
			p.Origins = append(p.Origins, base)
		}
		out[pot] = p
	}
	return out
}

// ImageRecordProperty is the ZFS user property where the driver keeps
// what it knows of an image's origin: the hash it was imported with and
// the keys its signature was checked with (the driver's format).
const ImageRecordProperty = "org.bsdpot.nomad-pot-driver:verified"

// ReadImageMark reads ImageMarkProperty of ROOT/jails/NAME: the time the
// driver last used the image, and whether the driver marked it at all.
func ReadImageMark(ctx context.Context, root, name string) (time.Time, bool, error) {
	v, err := ReadPotProperty(ctx, root, name, ImageMarkProperty)
	if err != nil {
		return time.Time{}, false, err
	}
	return ParseImageMark(v)
}

// WriteImageMark sets ImageMarkProperty of ROOT/jails/NAME to t.
func WriteImageMark(ctx context.Context, root, name string, t time.Time) error {
	return WritePotProperty(ctx, root, name, ImageMarkProperty, FormatImageMark(t))
}

// ReadPotProperty reads a user property of ROOT/jails/NAME; "" when unset.
func ReadPotProperty(ctx context.Context, root, name, property string) (string, error) {
	ds, err := potDataset(ctx, root, name)
	if err != nil {
		return "", err
	}
	v, err := ds.GetProperty(property)
	if err != nil {
		return "", &ZFSError{What: "dataset " + ds.Name, Missing: zfsMissing(err), Err: err}
	}
	if v == "-" {
		return "", nil
	}
	return v, nil
}

// WritePotProperty sets a user property of ROOT/jails/NAME.
func WritePotProperty(ctx context.Context, root, name, property, value string) error {
	ds, err := potDataset(ctx, root, name)
	if err != nil {
		return err
	}
	if err := ds.SetProperty(property, value); err != nil {
		return &ZFSError{What: "dataset " + ds.Name, Missing: zfsMissing(err), Err: err}
	}
	return nil
}

func potDataset(ctx context.Context, root, name string) (*zfs.Dataset, error) {
	zfsRunnerOnce.Do(func() {
		zfs.SetRunner(&zfs.Runner{Timeout: ZFSCallTimeout, Grace: ZFSCallGrace})
	})
	if err := checkDatasetName(root); err != nil {
		return nil, err
	}
	if name == "" || strings.ContainsAny(name, "/@ \t\n\x00") || strings.HasPrefix(name, "-") {
		return nil, &ZFSError{What: "pot " + name, Err: errors.New("invalid pot name")}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &zfs.Dataset{Name: root + "/jails/" + name}, nil
}

func checkDatasetName(root string) error {
	if root == "" || strings.HasPrefix(root, "-") || strings.ContainsAny(root, " \t\n\x00@") {
		return &ZFSError{What: "dataset " + root, Missing: root == "", Err: errors.New("invalid dataset name")}
	}
	return nil
}

// FormatImageMark and ParseImageMark write and read the value of an image
// mark: the time in RFC 3339 with nanoseconds, UTC ("-" or "" is no mark).
func FormatImageMark(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ParseImageMark: see FormatImageMark.
func ParseImageMark(v string) (time.Time, bool, error) {
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
