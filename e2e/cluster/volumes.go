package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bsdpot/nomad-pot-driver/hostvolume"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// Options.HostVolumes: the driver's binary as the Nomad client's host
// volume plugin (hostvolume.PluginName in host_volume_plugin_dir), pot's
// fscomps allowed in host_path_allow. A host volume plugin gets from Nomad
// the DHV_* variables only: the plugin's file is a script that gives it
// the cluster's environment (PATH with pot and zfs, potsim's root) and
// runs the driver's binary.
//
// With potsim the cluster gives the machine ZFS, the FreeBSD emulation's
// zfs and zpool (cmd/fbsdemu) first on everyone's PATH over a state of
// the run's: pool zroot, pot's root zroot/pot (not mounted itself) with
// its jails dataset (unmounted; potsim keeps its pots' datasets there)
// and its fscomp dataset mounted at potsim's root/fscomp, where the
// volumes' datasets are mounted too. Those mounts are bind mounts: the
// caller runs in a mount namespace of its own (internal/emulation's
// InMountNamespace), and Stop destroys the pool first.

// emulatedPool is the emulated ZFS pool of a potsim cluster.
const emulatedPool = "zroot"

// setUpZFS gives a potsim cluster the emulation's ZFS (see above).
func (c *Cluster) setUpZFS(fbsdemu string) error {
	emu := filepath.Join(c.Dir, "emu-bin")
	state := filepath.Join(c.Dir, "emu-state")
	for _, d := range []string{emu, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, tool := range []string{"zfs", "zpool"} {
		if err := os.Symlink(fbsdemu, filepath.Join(emu, tool)); err != nil {
			return err
		}
	}
	c.extraEnv = append(c.extraEnv, "FBSDEMU_STATE="+state, "PATH="+emu+string(os.PathListSeparator)+os.Getenv("PATH"))
	c.emulatedZFS = true
	for _, argv := range [][]string{
		{"zpool", "create", "-m", "none", emulatedPool, "/dev/emulated"},
		{"zfs", "create", "-o", "canmount=off", "-o", "mountpoint=" + c.PotsimRoot, emulatedPool + "/pot"},
		{"zfs", "create", "-o", "mountpoint=none", emulatedPool + "/pot/jails"},
		{"zfs", "create", emulatedPool + "/pot/fscomp"},
	} {
		if out, err := run(c.Env(), time.Minute, append([]string{filepath.Join(emu, argv[0])}, argv[1:]...)...); err != nil {
			return fmt.Errorf("%s: %v\n%s%s", strings.Join(argv, " "), err, out.Stdout, out.Stderr)
		}
	}
	return nil
}

// tearDownZFS destroys the emulated pool: its mounts go before the run
// folder does.
func (c *Cluster) tearDownZFS() error {
	if !c.emulatedZFS {
		return nil
	}
	out, err := run(c.Env(), time.Minute, filepath.Join(c.Dir, "emu-bin", "zpool"), "destroy", "-f", emulatedPool)
	if err != nil {
		return fmt.Errorf("zpool destroy %s: %v\n%s", emulatedPool, err, out.Stderr)
	}
	return nil
}

// setUpVolumePlugin writes the host volume plugin's folder and returns it
// and pot's fscomp folder (FS_ROOT/fscomp), which volumes are under.
func (c *Cluster) setUpVolumePlugin(driverBin string) (pluginDir, fscomps string, err error) {
	client := &pot.Client{Bin: c.PotBin, Env: c.Env(), CallTimeout: time.Minute}
	fsRoot, err := client.FSRoot(context.Background())
	if err != nil {
		return "", "", err
	}
	fscomps = filepath.Join(fsRoot, "fscomp")
	// The plugin runs `pot` from PATH: this cluster's.
	potDir := filepath.Join(c.Dir, "volume-bin")
	pluginDir = filepath.Join(c.Dir, "host_volume_plugins")
	for _, d := range []string{potDir, pluginDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", "", err
		}
	}
	if err := os.Symlink(c.PotBin, filepath.Join(potDir, "pot")); err != nil {
		return "", "", err
	}
	var script strings.Builder
	script.WriteString("#!/bin/sh\n# The pot driver as Nomad's host volume plugin, in the cluster's environment.\n")
	// All of the cluster's environment (under the FreeBSD emulation its
	// FBSDEMU_* variables too), as the driver has it.
	for _, kv := range cleanEnv(c.volumeEnv(potDir)...) {
		k, v, _ := strings.Cut(kv, "=")
		if pot.IsEnvName(k) {
			fmt.Fprintf(&script, "export %s=%s\n", k, pot.ShellQuoteWord(v))
		}
	}
	fmt.Fprintf(&script, "exec %s \"$@\"\n", pot.ShellQuoteWord(driverBin))
	if err := os.WriteFile(filepath.Join(pluginDir, hostvolume.PluginName), []byte(script.String()), 0o755); err != nil {
		return "", "", err
	}
	c.volumePotDir, c.driverBin = potDir, driverBin
	return pluginDir, fscomps, nil
}

// volumeEnv is what the volume plugin and the driver's volume commands
// run with: PATH with potDir first, the emulation's state, potsim's root.
func (c *Cluster) volumeEnv(potDir string) []string {
	path := os.Getenv("PATH")
	var env []string
	for _, kv := range c.extraEnv {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = p
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH="+potDir+string(os.PathListSeparator)+path)
	if c.PotsimRoot != "" {
		env = append(env, "POTSIM_ROOT="+c.PotsimRoot)
	}
	return env
}

// VolumeCommand runs the driver's operator command `nomad-pot-driver
// volume ARGS...` on this cluster's pot (Options.HostVolumes).
func (c *Cluster) VolumeCommand(args ...string) (Output, error) {
	if c.driverBin == "" {
		return Output{}, errors.New("the cluster has no host volume plugin (Options.HostVolumes)")
	}
	return run(cleanEnv(c.volumeEnv(c.volumePotDir)...), 5*time.Minute, append([]string{c.driverBin, "volume"}, args...)...)
}

// ZFS runs the machine's zfs (the emulation's with potsim).
func (c *Cluster) ZFS(args ...string) (Output, error) {
	zfs := "zfs"
	if c.emulatedZFS {
		zfs = filepath.Join(c.Dir, "emu-bin", "zfs")
	}
	return run(c.Env(), time.Minute, append([]string{zfs}, args...)...)
}
