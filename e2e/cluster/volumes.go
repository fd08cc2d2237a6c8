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

// potHost is what one pot host of the cluster has of its own: the single
// node's (Cluster.host) or each client's of a multi-node cluster (Node).
type potHost struct {
	// dir holds the host's state: the emulation's, its volume plugin's.
	dir string
	// potsimRoot is potsim's root on this host ("" with a real pot).
	potsimRoot string
	// env is added to the environment of every process of the host:
	// potsim's network and address, the emulated ZFS's state and PATH.
	env         []string
	emulatedZFS bool
	// volumePotDir and driverBin: Options.HostVolumes.
	volumePotDir, driverBin string
	// emuBin holds the emulation's zfs and zpool (emulatedZFS).
	emuBin string
}

// hostEnv is the environment of an operator's command on the host: the
// host's own variables and potsim's root.
func (h *potHost) hostEnv(extra ...string) []string {
	env := cleanEnv(append(append([]string{}, h.env...), extra...)...)
	if h.potsimRoot != "" {
		env = append(env, "POTSIM_ROOT="+h.potsimRoot)
	}
	return env
}

// emulationTools links the emulation's zfs and zpool into dir, once.
func emulationTools(fbsdemu, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, tool := range []string{"zfs", "zpool"} {
		link := filepath.Join(dir, tool)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(fbsdemu, link); err != nil {
			return err
		}
	}
	return nil
}

// setUpZFS gives a potsim host the emulation's ZFS (see above), its tools
// in emuBin.
func (h *potHost) setUpZFS(fbsdemu, emuBin string) error {
	if err := emulationTools(fbsdemu, emuBin); err != nil {
		return err
	}
	state := filepath.Join(h.dir, "emu-state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	h.env = append(h.env, "FBSDEMU_STATE="+state, "PATH="+emuBin+string(os.PathListSeparator)+os.Getenv("PATH"))
	h.emulatedZFS, h.emuBin = true, emuBin
	for _, argv := range [][]string{
		{"zpool", "create", "-m", "none", emulatedPool, "/dev/emulated"},
		{"zfs", "create", "-o", "canmount=off", "-o", "mountpoint=" + h.potsimRoot, emulatedPool + "/pot"},
		{"zfs", "create", "-o", "mountpoint=none", emulatedPool + "/pot/jails"},
		{"zfs", "create", emulatedPool + "/pot/fscomp"},
	} {
		if out, err := run(h.hostEnv(), time.Minute, append([]string{filepath.Join(emuBin, argv[0])}, argv[1:]...)...); err != nil {
			return fmt.Errorf("%s: %v\n%s%s", strings.Join(argv, " "), err, out.Stdout, out.Stderr)
		}
	}
	return nil
}

// tearDownZFS destroys the emulated pool: its mounts go before the run
// folder does.
func (h *potHost) tearDownZFS() error {
	if !h.emulatedZFS {
		return nil
	}
	out, err := run(h.hostEnv(), time.Minute, filepath.Join(h.emuBin, "zpool"), "destroy", "-f", emulatedPool)
	if err != nil {
		return fmt.Errorf("zpool destroy %s: %v\n%s", emulatedPool, err, out.Stderr)
	}
	h.emulatedZFS = false
	return nil
}

// setUpVolumePlugin writes the host volume plugin's folder and returns it
// and pot's fscomp folder (FS_ROOT/fscomp), which volumes are under.
func (h *potHost) setUpVolumePlugin(potBin, driverBin string) (pluginDir, fscomps string, err error) {
	client := &pot.Client{Bin: potBin, Env: h.hostEnv(), CallTimeout: time.Minute}
	fsRoot, err := client.FSRoot(context.Background())
	if err != nil {
		return "", "", err
	}
	fscomps = filepath.Join(fsRoot, "fscomp")
	// The plugin runs `pot` from PATH: this cluster's.
	potDir := filepath.Join(h.dir, "volume-bin")
	pluginDir = filepath.Join(h.dir, "host_volume_plugins")
	for _, d := range []string{potDir, pluginDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", "", err
		}
	}
	if err := os.Symlink(potBin, filepath.Join(potDir, "pot")); err != nil {
		return "", "", err
	}
	var script strings.Builder
	script.WriteString("#!/bin/sh\n# The pot driver as Nomad's host volume plugin, in the cluster's environment.\n")
	// All of the cluster's environment (under the FreeBSD emulation its
	// FBSDEMU_* variables too), as the driver has it.
	for _, kv := range cleanEnv(h.volumeEnv(potDir)...) {
		k, v, _ := strings.Cut(kv, "=")
		if pot.IsEnvName(k) {
			fmt.Fprintf(&script, "export %s=%s\n", k, pot.ShellQuoteWord(v))
		}
	}
	fmt.Fprintf(&script, "exec %s \"$@\"\n", pot.ShellQuoteWord(driverBin))
	if err := os.WriteFile(filepath.Join(pluginDir, hostvolume.PluginName), []byte(script.String()), 0o755); err != nil {
		return "", "", err
	}
	h.volumePotDir, h.driverBin = potDir, driverBin
	return pluginDir, fscomps, nil
}

// volumeEnv is what the volume plugin and the driver's volume commands
// run with: PATH with potDir first, the emulation's state, potsim's root.
func (h *potHost) volumeEnv(potDir string) []string {
	path := os.Getenv("PATH")
	var env []string
	for _, kv := range h.env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = p
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH="+potDir+string(os.PathListSeparator)+path)
	if h.potsimRoot != "" {
		env = append(env, "POTSIM_ROOT="+h.potsimRoot)
	}
	return env
}

// VolumeCommand runs the driver's operator command `nomad-pot-driver
// volume ARGS...` on this cluster's pot (Options.HostVolumes).
func (c *Cluster) VolumeCommand(args ...string) (Output, error) { return c.host.volumeCommand(args...) }

func (h *potHost) volumeCommand(args ...string) (Output, error) {
	if h.driverBin == "" {
		return Output{}, errors.New("the cluster has no host volume plugin (Options.HostVolumes)")
	}
	return run(cleanEnv(h.volumeEnv(h.volumePotDir)...), 5*time.Minute, append([]string{h.driverBin, "volume"}, args...)...)
}

// ZFS runs the machine's zfs (the emulation's with potsim).
func (c *Cluster) ZFS(args ...string) (Output, error) { return c.host.zfs(args...) }

// zfs runs the host's zfs (the emulation's with potsim).
func (h *potHost) zfs(args ...string) (Output, error) {
	zfs := "zfs"
	if h.emulatedZFS {
		zfs = filepath.Join(h.emuBin, "zfs")
	}
	return run(h.hostEnv(), time.Minute, append([]string{zfs}, args...)...)
}
