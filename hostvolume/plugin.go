package hostvolume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// Version is the plugin's version, answered to fingerprint.
const Version = "0.1.0"

// The ZFS user properties of a volume's dataset: Nomad's volume ID, and
// how many pre-start snapshots the driver keeps.
const (
	VolumeIDProperty  = "org.bsdpot.nomad-pot-driver:volume-id"
	SnapshotsProperty = "org.bsdpot.nomad-pot-driver:snapshots"
)

// Plugin does what a request asks, on the ZFS root of Pot.
type Plugin struct {
	Pot *pot.Client
}

// CreateResponse is create's answer to Nomad.
type CreateResponse struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// FingerprintResponse is fingerprint's answer.
type FingerprintResponse struct {
	Version string `json:"version"`
}

// ErrorResponse is the answer of a failed operation (Nomad reads "error"
// from stdout when the plugin exits non-zero).
type ErrorResponse struct {
	Error string `json:"error"`
}

// dataset is the volume's fscomp dataset under pot's ZFS root.
func (p *Plugin) dataset(ctx context.Context, r *Request) (string, error) {
	root, err := p.Pot.ZFSRoot(ctx)
	if err != nil {
		return "", err
	}
	return pot.FscompDataset(root, r.Fscomp())
}

// Create makes the volume's fscomp with its quota (capacity_max), its
// reservation (capacity_min, with reserve), compression and recordsize,
// and Nomad's volume ID, in one zfs create: all or nothing. The same ID
// again is Nomad's volume update: the quota and reservation are set
// anew (a quota below what the volume holds is zfs's error). A dataset of
// that name with another ID, or none, is refused. The answer is the
// dataset's mount point and its quota. A dataset `volume receive` moved
// here from another client (MovedFromProperty) is adopted: it becomes
// this volume, its data kept.
func (p *Plugin) Create(ctx context.Context, r *Request) (CreateResponse, error) {
	ds, err := p.dataset(ctx, r)
	if err != nil {
		return CreateResponse{}, err
	}
	id, err := freebsd.ReadProperty(ctx, ds, VolumeIDProperty)
	var ze *freebsd.ZFSError
	switch {
	case errors.As(err, &ze) && ze.Missing:
		if err := freebsd.CreateFilesystem(ctx, ds, createProps(r)); err != nil {
			return CreateResponse{}, fmt.Errorf("creating volume %s: %w", r.Name, err)
		}
		resp, err := p.answer(ctx, ds, r)
		if err != nil {
			// Nothing half made: Nomad records no volume.
			if derr := freebsd.DestroyFilesystem(ctx, ds); derr != nil {
				err = fmt.Errorf("%w (and removing %s again: %v)", err, ds, derr)
			}
		}
		return resp, err
	case err != nil:
		return CreateResponse{}, err
	case id != r.ID:
		movedFrom, err := freebsd.ReadProperty(ctx, ds, MovedFromProperty)
		if err != nil {
			return CreateResponse{}, err
		}
		if movedFrom == "" || movedFrom != id {
			return CreateResponse{}, fmt.Errorf("dataset %s exists and is not volume %s (its volume ID is %q): pick another name, or destroy it", ds, r.ID, id)
		}
		// Moved here by volume receive: adopted, with every setting of
		// the new volume.
		for k, v := range createProps(r) {
			if err := freebsd.WriteProperty(ctx, ds, k, v); err != nil {
				return CreateResponse{}, fmt.Errorf("adopting %s, moved here from volume %s: %w", ds, id, err)
			}
		}
		return p.answer(ctx, ds, r)
	}
	for k, v := range updateProps(r) {
		if err := freebsd.WriteProperty(ctx, ds, k, v); err != nil {
			return CreateResponse{}, fmt.Errorf("updating volume %s: %w", r.Name, err)
		}
	}
	return p.answer(ctx, ds, r)
}

func createProps(r *Request) map[string]string {
	props := updateProps(r)
	props[VolumeIDProperty] = r.ID
	if r.Params.Compression != "" {
		props["compression"] = r.Params.Compression
	}
	if r.Params.RecordSize > 0 {
		props["recordsize"] = strconv.FormatInt(r.Params.RecordSize, 10)
	}
	return props
}

// updateProps are what a create of the same volume sets again.
func updateProps(r *Request) map[string]string {
	props := map[string]string{SnapshotsProperty: strconv.Itoa(r.Params.Snapshots)}
	if r.CapacityMax > 0 {
		props["quota"] = strconv.FormatInt(r.CapacityMax, 10)
	}
	if r.Params.Reserve {
		props["reservation"] = strconv.FormatInt(r.CapacityMin, 10)
	}
	return props
}

// answer reads the volume's mount point and quota.
func (p *Plugin) answer(ctx context.Context, ds string, r *Request) (CreateResponse, error) {
	mp, err := freebsd.ReadProperty(ctx, ds, "mountpoint")
	if err != nil {
		return CreateResponse{}, err
	}
	if mp == "" || mp == "none" || mp == "legacy" || mp[0] != '/' {
		return CreateResponse{}, fmt.Errorf("volume %s: dataset %s has no mount point (mountpoint=%s): pot's fscomps are mounted under its fs_root", r.Name, ds, mp)
	}
	return CreateResponse{Path: mp, Bytes: r.CapacityMax}, nil
}

// Delete destroys the volume's dataset with its snapshots. One that is
// not there is deleted already; one of another volume ID is refused.
func (p *Plugin) Delete(ctx context.Context, r *Request) error {
	ds, err := p.dataset(ctx, r)
	if err != nil {
		return err
	}
	id, err := freebsd.ReadProperty(ctx, ds, VolumeIDProperty)
	var ze *freebsd.ZFSError
	switch {
	case errors.As(err, &ze) && ze.Missing:
		return nil
	case err != nil:
		return err
	case id != r.ID:
		return fmt.Errorf("dataset %s is not volume %s (its volume ID is %q): left alone", ds, r.ID, id)
	}
	if err := freebsd.DestroyFilesystem(ctx, ds); err != nil {
		return fmt.Errorf("deleting volume %s: %w", r.Name, err)
	}
	return nil
}

// Run answers one call: the operation's JSON on stdout and 0, or an
// ErrorResponse on stdout, the message on stderr and 1.
func (p *Plugin) Run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		_ = json.NewEncoder(stdout).Encode(ErrorResponse{Error: err.Error()})
		fmt.Fprintf(stderr, "%s: %v\n", PluginName, err)
		return 1
	}
	r, err := ParseRequest(args, env)
	if err != nil {
		return fail(err)
	}
	var out any
	switch r.Operation {
	case OpFingerprint:
		out = FingerprintResponse{Version: Version}
	case OpCreate:
		resp, err := p.Create(ctx, r)
		if err != nil {
			return fail(err)
		}
		out = resp
	case OpDelete:
		if err := p.Delete(ctx, r); err != nil {
			return fail(err)
		}
		out = struct{}{}
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		return fail(err)
	}
	return 0
}

// freebsdPath is FreeBSD's default PATH: Nomad runs a host volume plugin
// with the DHV_* variables only, and go-zfs runs zfs from PATH.
const freebsdPath = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"

// Main is the plugin's process: pot and zfs found on PATH (FreeBSD's
// default PATH when Nomad gives none), within Nomad's own deadline.
func Main(args []string) int {
	if os.Getenv("PATH") == "" {
		os.Setenv("PATH", freebsdPath)
	}
	p := &Plugin{Pot: pot.New(freebsd.FindTool("pot", pot.DefaultBin), nil)}
	ctx, cancel := context.WithTimeout(context.Background(), pluginDeadline)
	defer cancel()
	return p.Run(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}

// CommandMain is `nomad-pot-driver volume ...`, for an operator (pot
// and zfs from PATH).
func CommandMain(args []string) int {
	o := &Operator{Pot: pot.New(freebsd.FindTool("pot", pot.DefaultBin), nil)}
	ctx, cancel := context.WithTimeout(context.Background(), commandDeadline)
	defer cancel()
	return o.Command(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}
