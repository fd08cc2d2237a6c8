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
	zfsRunner()
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

// Filesystem is one ZFS filesystem as zfs list shows it.
type Filesystem struct {
	Name   string
	Origin string // the snapshot it was cloned from; "" for none
	Used   uint64 // bytes, its descendants and snapshots included
}

func zfsRunner() {
	zfsRunnerOnce.Do(func() {
		zfs.SetRunner(&zfs.Runner{Timeout: ZFSCallTimeout, Grace: ZFSCallGrace})
	})
}

// ReadFilesystems lists parent and the filesystems below it with go-zfs
// (one `zfs list -rHp -t filesystem`).
func ReadFilesystems(ctx context.Context, parent string) ([]Filesystem, error) {
	zfsRunner()
	if err := checkDatasetName(parent); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, err := zfs.Filesystems(parent)
	if err != nil {
		return nil, &ZFSError{What: "dataset " + parent, Missing: zfsMissing(err), Err: err}
	}
	out := make([]Filesystem, 0, len(list))
	for _, ds := range list {
		origin := ds.Origin
		if origin == "-" {
			origin = ""
		}
		out = append(out, Filesystem{Name: ds.Name, Origin: origin, Used: ds.Used})
	}
	return out, nil
}

// ReadProperty reads a property of a dataset; "" when unset ("-").
func ReadProperty(ctx context.Context, dataset, property string) (string, error) {
	ds, err := datasetOf(ctx, dataset)
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

// WriteProperty sets a property of a dataset.
func WriteProperty(ctx context.Context, dataset, property, value string) error {
	ds, err := datasetOf(ctx, dataset)
	if err != nil {
		return err
	}
	if err := ds.SetProperty(property, value); err != nil {
		return &ZFSError{What: "dataset " + ds.Name, Missing: zfsMissing(err), Err: err}
	}
	return nil
}

func datasetOf(ctx context.Context, name string) (*zfs.Dataset, error) {
	zfsRunner()
	if err := checkDatasetName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &zfs.Dataset{Name: name}, nil
}

func checkDatasetName(root string) error {
	if root == "" || strings.HasPrefix(root, "-") || strings.ContainsAny(root, " \t\n\x00@") {
		return &ZFSError{What: "dataset " + root, Missing: root == "", Err: errors.New("invalid dataset name")}
	}
	return nil
}

// CreateFilesystem makes a filesystem with its properties in the same call
// (`zfs create -o P=V ...`): it is made with all of them or not at all.
func CreateFilesystem(ctx context.Context, name string, props map[string]string) error {
	zfsRunner()
	if err := checkDatasetName(name); err != nil {
		return err
	}
	for k, v := range props {
		if k == "" || strings.ContainsAny(k, "= \t\n\x00") || strings.ContainsAny(v, "\n\x00") {
			return &ZFSError{What: "dataset " + name, Err: fmt.Errorf("invalid property %q=%q", k, v)}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := zfs.CreateFilesystem(name, props); err != nil {
		return &ZFSError{What: "dataset " + name, Err: err}
	}
	return nil
}

// DestroyFilesystem destroys a filesystem with everything below it and
// its snapshots (`zfs destroy -r`); one that does not exist is Missing.
func DestroyFilesystem(ctx context.Context, name string) error {
	ds, err := datasetOf(ctx, name)
	if err != nil {
		return err
	}
	if err := ds.Destroy(zfs.DestroyRecursive); err != nil {
		return &ZFSError{What: "dataset " + name, Missing: zfsMissing(err), Err: err}
	}
	return nil
}

// Snapshot takes snapshot dataset@name: one `zfs snapshot` (argv, bounded
// by ZFSCallTimeout), run here rather than through go-zfs, whose Snapshot
// lists the snapshot again after taking it: a task start pays one call.
func Snapshot(ctx context.Context, dataset, name string) error {
	if _, err := datasetOf(ctx, dataset); err != nil {
		return err
	}
	if name == "" || strings.ContainsAny(name, "@/ \t\n\x00") || strings.HasPrefix(name, "-") {
		return &ZFSError{What: "dataset " + dataset, Err: fmt.Errorf("invalid snapshot name %q", name)}
	}
	t := Tools{Timeout: ZFSCallTimeout}
	if _, err := t.run(ctx, FindTool("zfs", "/sbin/zfs"), "snapshot", dataset+"@"+name); err != nil {
		var te *ToolError
		missing := errors.As(err, &te) && strings.Contains(strings.ToLower(te.Stderr), "does not exist")
		return &ZFSError{What: "dataset " + dataset, Missing: missing, Err: err}
	}
	return nil
}

// Snapshots lists the snapshots of a dataset and those below it
// (dataset@name; `zfs list -r -t snapshot`).
func Snapshots(ctx context.Context, dataset string) ([]string, error) {
	ds, err := datasetOf(ctx, dataset)
	if err != nil {
		return nil, err
	}
	list, err := ds.Snapshots()
	if err != nil {
		return nil, &ZFSError{What: "dataset " + dataset, Missing: zfsMissing(err), Err: err}
	}
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, s.Name)
	}
	return out, nil
}

// DestroySnapshot destroys snapshot dataset@name.
func DestroySnapshot(ctx context.Context, snapshot string) error {
	ds, err := snapshotOf(ctx, snapshot)
	if err != nil {
		return err
	}
	if err := ds.Destroy(zfs.DestroyDefault); err != nil {
		return &ZFSError{What: "snapshot " + snapshot, Missing: zfsMissing(err), Err: err}
	}
	return nil
}

// Rollback rolls a dataset back to its snapshot dataset@name (`zfs
// rollback -r`: later snapshots are destroyed).
func Rollback(ctx context.Context, snapshot string) error {
	ds, err := snapshotOf(ctx, snapshot)
	if err != nil {
		return err
	}
	if err := ds.Rollback(true); err != nil {
		return &ZFSError{What: "snapshot " + snapshot, Missing: zfsMissing(err), Err: err}
	}
	return nil
}

// Clone makes dest a clone of snapshot (`zfs clone`).
func Clone(ctx context.Context, snapshot, dest string) error {
	ds, err := snapshotOf(ctx, snapshot)
	if err != nil {
		return err
	}
	if err := checkDatasetName(dest); err != nil {
		return err
	}
	if _, err := ds.Clone(dest, nil); err != nil {
		return &ZFSError{What: "snapshot " + snapshot, Missing: zfsMissing(err), Err: err}
	}
	return nil
}

// snapshotOf checks a snapshot's name, DATASET@NAME.
func snapshotOf(ctx context.Context, snapshot string) (*zfs.Dataset, error) {
	dataset, name, ok := strings.Cut(snapshot, "@")
	if !ok || name == "" || strings.ContainsAny(name, "@/ \t\n\x00") {
		return nil, &ZFSError{What: "snapshot " + snapshot, Err: errors.New("not a snapshot")}
	}
	if _, err := datasetOf(ctx, dataset); err != nil {
		return nil, err
	}
	return &zfs.Dataset{Name: snapshot, Type: zfs.DatasetSnapshot}, nil
}
