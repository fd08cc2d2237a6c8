package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// potsim keeps its pots' datasets as pot does where the machine's zfs
// knows pot's jails dataset (ZFS_ROOT/jails: FreeBSD's zfs, or the FreeBSD
// emulation's in the driver's tests): ZFS_ROOT/jails/NAME and NAME/m, an
// imported image's m snapshotted, a clone's m cloned from its base's
// latest snapshot, all destroyed with the pot. zfs then reports what it
// reports of pot's own pots (names, origins, used, user properties), and
// the driver reads them as it does on FreeBSD. potsim's files stay its
// folders: the datasets are made with mountpoint none, nothing is mounted.
// Without such a zfs potsim keeps folders only.

var (
	datasetsOnce sync.Once
	datasetsOn   bool
)

// keepsDatasets says whether this machine's zfs knows ZFS_ROOT/jails.
func keepsDatasets() bool {
	datasetsOnce.Do(func() {
		if _, err := exec.LookPath("zfs"); err != nil {
			return
		}
		_, err := zfsCmd("list", "-H", "-o", "name", zfsRoot+"/jails")
		datasetsOn = err == nil
	})
	return datasetsOn
}

// zfsCmd runs zfs (argv only) and returns its output; an error carries
// what zfs said.
func zfsCmd(args ...string) (string, error) {
	cmd := exec.Command("zfs", args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("zfs %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

func potDataset(name string) string { return zfsRoot + "/jails/" + name }

// datasetsImported makes an imported image's datasets, as zfs receive
// does: NAME, NAME/m and a snapshot of m.
func datasetsImported(name string) error {
	if !keepsDatasets() {
		return nil
	}
	ds := potDataset(name)
	if _, err := zfsCmd("create", "-o", "mountpoint=none", ds); err != nil {
		return err
	}
	if _, err := zfsCmd("create", ds+"/m"); err != nil {
		return err
	}
	_, err := zfsCmd("snapshot", ds+"/m@"+strconv.FormatInt(time.Now().Unix(), 10))
	return err
}

// datasetsCloned makes a clone's datasets as clone.sh's _cj_zfs does:
// NAME, and NAME/m cloned from the latest snapshot of BASE/m.
func datasetsCloned(name, base string) error {
	if !keepsDatasets() {
		return nil
	}
	out, err := zfsCmd("list", "-H", "-t", "snapshot", "-o", "name", "-s", "creation", "-d", "1", potDataset(base)+"/m")
	if err != nil {
		return err
	}
	snaps := strings.Fields(out)
	if len(snaps) == 0 {
		return fmt.Errorf("%s/m has no snap - please take a snapshot of %s", potDataset(base), base)
	}
	ds := potDataset(name)
	if _, err := zfsCmd("create", "-o", "mountpoint=none", ds); err != nil {
		return err
	}
	_, err = zfsCmd("clone", snaps[len(snaps)-1], ds+"/m")
	return err
}

// datasetsDestroyed destroys a pot's datasets (zfs destroy -r), if any.
func datasetsDestroyed(name string) error {
	if !keepsDatasets() {
		return nil
	}
	if _, err := zfsCmd("list", "-H", "-o", "name", potDataset(name)); err != nil {
		return nil // none: made before datasets were kept, or never
	}
	_, err := zfsCmd("destroy", "-r", potDataset(name))
	return err
}
