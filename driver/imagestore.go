package driver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// imageStore returns the store of the configured pot, made once per
// plugin config: ZFS wherever zfs(8) knows pot's ZFS root dataset (FreeBSD,
// and the FreeBSD emulation under pot's own scripts). A machine with zfs(8)
// that does not know it is an error; one without zfs(8) (Linux under
// potsim, which keeps no datasets) has pot's file tree.
func (d *Driver) imageStore(ctx context.Context) (imageStore, error) {
	d.storeMu.Lock()
	defer d.storeMu.Unlock()
	if d.images != nil {
		return d.images, nil
	}
	client := d.potClient()
	root, zerr := client.ZFSRoot(ctx)
	if zerr == nil {
		if _, zerr = freebsd.ReadZFS(ctx, root); zerr == nil {
			d.images = zfsImages{root: root}
			return d.images, nil
		}
	}
	if freebsd.HasZFS() {
		return nil, fmt.Errorf("pot's ZFS root %q: %w", root, zerr)
	}
	fsRoot, err := client.FSRoot(ctx)
	if err != nil {
		return nil, err
	}
	d.images = dirImages{root: fsRoot}
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

// dirImages: pot's file tree FS_ROOT/jails/NAME as potsim keeps it, where
// conf/.potsim_origin stands for the ZFS origin and the mark is the file
// conf/.nomad-pot-driver-image.
type dirImages struct{ root string }

const (
	dirImageMark   = ".nomad-pot-driver-image"
	dirImageRecord = ".nomad-pot-driver-verified"
)

func (s dirImages) Scan(ctx context.Context, candidate func(string) bool) (map[string]*potInfo, error) {
	jails := filepath.Join(s.root, "jails")
	entries, err := os.ReadDir(jails)
	if err != nil {
		return nil, err
	}
	out := map[string]*potInfo{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		conf := filepath.Join(jails, name, "conf")
		p := &potInfo{}
		if b, err := os.ReadFile(filepath.Join(conf, ".potsim_origin")); err == nil {
			if o := strings.TrimSpace(string(b)); o != "" {
				p.Origins = []string{o}
			}
		}
		if candidate(name) {
			if b, err := os.ReadFile(filepath.Join(conf, dirImageMark)); err == nil {
				if p.LastUsed, p.Marked, err = freebsd.ParseImageMark(string(b)); err != nil {
					return nil, fmt.Errorf("pot %s: %w", name, err)
				}
			}
			if p.Marked {
				if p.Size, err = treeSize(filepath.Join(jails, name)); err != nil {
					return nil, err
				}
			}
		}
		out[name] = p
	}
	return out, nil
}

func (s dirImages) SetMark(ctx context.Context, image string, t time.Time, create bool) error {
	file, err := s.confFile(image, dirImageMark)
	if err != nil {
		return err
	}
	if !create {
		if _, err := os.Stat(file); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
	}
	return os.WriteFile(file, []byte(freebsd.FormatImageMark(t)+"\n"), 0o644)
}

func (s dirImages) Record(ctx context.Context, image string) (string, error) {
	file, err := s.confFile(image, dirImageRecord)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

func (s dirImages) SetRecord(ctx context.Context, image, record string) error {
	file, err := s.confFile(image, dirImageRecord)
	if err != nil {
		return err
	}
	return os.WriteFile(file, []byte(record+"\n"), 0o644)
}

// confFile is the path of file in the conf folder of pot image.
func (s dirImages) confFile(image, file string) (string, error) {
	if image == "" || strings.ContainsAny(image, "/\x00") || image == "." || image == ".." {
		return "", fmt.Errorf("invalid pot name %q", image)
	}
	return filepath.Join(s.root, "jails", image, "conf", file), nil
}

// treeSize adds up the sizes of the files below dir, not following links
// (a pot's mounts are links or bind mounts into the host).
func treeSize(dir string) (uint64, error) {
	var total uint64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				total += uint64(info.Size())
			}
		}
		return nil
	})
	return total, err
}
