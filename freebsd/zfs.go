package freebsd

import (
	"context"
	"errors"
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
