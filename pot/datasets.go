package pot

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
)

// pot's ZFS layout: its pots under ZFS_ROOT/jails, each ZFS_ROOT/jails/NAME
// with NAME/m (its root) below; a clone's m cloned from a snapshot of its
// base's (ZFS_ROOT/jails/BASE/m@SNAP).

// JailsDataset is where pot keeps its pots.
func JailsDataset(zfsRoot string) string { return zfsRoot + "/jails" }

// Dataset is the dataset of pot name.
func Dataset(zfsRoot, name string) (string, error) {
	if !datasetName(name) {
		return "", fmt.Errorf("invalid pot name %q", name)
	}
	return JailsDataset(zfsRoot) + "/" + name, nil
}

// PotDataset is one pot as ZFS sees it: ZFS_ROOT/jails/NAME and the
// datasets below it.
type PotDataset struct {
	// Used is the "used" property of ZFS_ROOT/jails/NAME in bytes (its
	// datasets and snapshots together).
	Used uint64
	// Origins are the pots this one was cloned from: the pot named in
	// the origin of ZFS_ROOT/jails/NAME or any dataset below it.
	Origins []string
}

// PotDatasets groups the filesystems below ZFS_ROOT/jails (as
// freebsd.ReadFilesystems lists them) by pot.
func PotDatasets(zfsRoot string, list []freebsd.Filesystem) map[string]PotDataset {
	jails := JailsDataset(zfsRoot)
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

// FscompDataset is the dataset of fscomp name (`pot create-fscomp -f
// NAME`, listed by `pot ls -f`): ZFS_ROOT/fscomp/NAME.
func FscompDataset(zfsRoot, name string) (string, error) {
	if !datasetName(name) {
		return "", fmt.Errorf("invalid fscomp name %q", name)
	}
	return zfsRoot + "/fscomp/" + name, nil
}

// FscompOfPath is the fscomp whose mount point path is in pot's layout (an
// fscomp is mounted at FS_ROOT/fscomp/NAME); ok is false for any other
// path. No zfs call: a task's other mounts cost none.
func FscompOfPath(fsRoot, path string) (name string, ok bool) {
	rest, found := strings.CutPrefix(filepath.Clean(path), filepath.Join(fsRoot, "fscomp")+"/")
	if !found || !datasetName(rest) {
		return "", false
	}
	return rest, true
}

// datasetName says whether name can be the last part of a pot's or an
// fscomp's dataset: not empty, no '/', '@', whitespace or leading '-'.
func datasetName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "/@ \t\n\x00") && !strings.HasPrefix(name, "-")
}
