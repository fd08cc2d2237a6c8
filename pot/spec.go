package pot

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"
	"unicode"
)

// Spec describes a pot to create from an image: what `pot prepare` makes
// (the image, the command, the network, the exported ports, the resolver)
// and what is set on the pot before it starts. Create makes it in the
// order pot needs and undoes itself on failure.
type Spec struct {
	PrepareOptions
	// Mounts are host folders nullfs-mounted into the jail, in order.
	Mounts []MountOptions
	// Copies are host files or folders copied into the pot, in order.
	Copies []CopyOptions
	// Env is the environment of the pot's command.
	Env []EnvVar
	// Hosts are lines added to the jail's /etc/hosts.
	Hosts []Host
	// Attributes are set after prepare's own (a job's; never one prepare
	// sets and the driver relies on, IsAttributeOwned).
	Attributes []Attribute
}

// PotName is the pot Create makes (PotName of Name and Alloc).
func (s *Spec) PotName() string { return PotName(s.Name, s.Alloc) }

// Validate checks the spec against pot's own rules before anything is
// made: prepare's arguments, mount points pot accepts (absolute, not "/",
// no whitespace, each at most once), absolute host folders, copy paths,
// environment values pot can carry, host names and addresses, and
// attributes from pot's table, each at most once.
func (s *Spec) Validate() error {
	var errs []error
	if _, err := s.PrepareOptions.args(); err != nil {
		errs = append(errs, err)
	}
	jailPaths := map[string]bool{}
	for _, m := range s.Mounts {
		if err := m.check(); err != nil {
			errs = append(errs, err)
			continue
		}
		if jailPaths[path.Clean(m.JailPath)] {
			errs = append(errs, fmt.Errorf("mount %s: %s is mounted twice", m.HostDir, m.JailPath))
		}
		jailPaths[path.Clean(m.JailPath)] = true
	}
	for _, c := range s.Copies {
		if c.Source == "" || c.Destination == "" || !path.IsAbs(c.Source) || !path.IsAbs(c.Destination) {
			errs = append(errs, fmt.Errorf("copy %q to %q: both paths must be absolute", c.Source, c.Destination))
		} else if err := errors.Join(CheckValue(c.Source), CheckValue(c.Destination)); err != nil {
			errs = append(errs, fmt.Errorf("copy %q to %q: %w", c.Source, c.Destination, err))
		}
	}
	if _, err := EnvArgs(s.Env); err != nil {
		errs = append(errs, err) // names the variable
	}
	for _, h := range s.Hosts {
		if err := h.checkName(); err != nil {
			errs = append(errs, err)
		} else if _, err := netip.ParseAddr(h.IP); err != nil {
			errs = append(errs, fmt.Errorf("host %s: invalid address %q", h.Name, h.IP))
		}
	}
	seen := map[string]bool{}
	for _, a := range s.Attributes {
		if _, err := CheckAttribute(a.Name, a.Value); err != nil {
			errs = append(errs, err)
		} else if seen[a.Name] {
			errs = append(errs, fmt.Errorf("attribute %s is set twice", a.Name))
		}
		seen[a.Name] = true
	}
	return errors.Join(errs...)
}

// check is what pot mount-in -d refuses of a mount, and what the driver
// does not pass: a relative host folder.
func (m MountOptions) check() error {
	switch {
	case !path.IsAbs(m.HostDir):
		return fmt.Errorf("mount %q: the host folder must be an absolute path", m.HostDir)
	case !path.IsAbs(m.JailPath):
		return fmt.Errorf("mount %s at %q: the mount point has to be an absolute pathname", m.HostDir, m.JailPath)
	case path.Clean(m.JailPath) == "/":
		return fmt.Errorf("mount %s: / is not a valid mount point", m.HostDir)
	case strings.IndexFunc(m.JailPath, unicode.IsSpace) >= 0, strings.IndexFunc(m.HostDir, unicode.IsSpace) >= 0:
		// pot keeps mounts space-separated in fscomp.conf.
		return fmt.Errorf("mount %s at %s: pot cannot take whitespace in either path", m.HostDir, m.JailPath)
	}
	return errors.Join(CheckValue(m.HostDir), CheckValue(m.JailPath))
}

// Create steps, named in a CreateError.
const (
	StepPrepare    = "prepare"
	StepMount      = "mount-in"
	StepCopy       = "copy-in"
	StepEnv        = "set-env"
	StepHosts      = "set-hosts"
	StepAttributes = "set-attribute"
	StepAddress    = "info"
)

// CreateError is a Create that failed at Step. The pot is gone again
// (Cleanup says why not, if it is not), except when prepare found it
// already there (ErrExists): that pot is left alone.
type CreateError struct {
	Pot     string
	Step    string
	Err     error
	Cleanup error
}

func (e *CreateError) Error() string {
	msg := e.Err.Error()
	if e.Step != StepPrepare {
		msg = e.Step + ": " + msg
	}
	if e.Cleanup != nil {
		msg += fmt.Sprintf(" (and pot %s could not be removed: %v)", e.Pot, e.Cleanup)
	}
	return msg
}

func (e *CreateError) Unwrap() error { return e.Err }

// Prepared says whether prepare succeeded before the failure: the image
// was imported (or was there).
func (e *CreateError) Prepared() bool { return e.Step != StepPrepare }

// Created is a pot Create made.
type Created struct {
	Name string
	// IPs are the pot's addresses (Info.IPs), for a network type that
	// gives it its own (not inherit); nil for inherit.
	IPs []string
}

// Create makes the pot s describes: `pot prepare` (importing the image
// unless it is cached, cloning it), then the mounts (written as pot
// mount-in writes them, in one step: mountAll), copies, environment, hosts
// and attributes, and reads the address the pot was given. On failure it
// destroys what it made and returns a *CreateError; a pot already there
// (errors.Is(err, ErrExists)) is left as it is.
func (c *Client) Create(ctx context.Context, s Spec) (Created, error) {
	name := s.PotName()
	if err := s.Validate(); err != nil {
		return Created{}, &CreateError{Pot: name, Step: StepPrepare, Err: err}
	}
	if _, err := c.Prepare(ctx, s.PrepareOptions); err != nil {
		ce := &CreateError{Pot: name, Step: StepPrepare, Err: err}
		if !errors.Is(err, ErrExists) {
			// prepare may have got as far as making the pot.
			ce.Cleanup = c.undo(ctx, name)
		}
		return Created{}, ce
	}
	created := Created{Name: name}
	step, err := c.setUp(ctx, name, s)
	if err == nil && s.Network != "" && s.Network != NetworkInherit {
		step = StepAddress
		var info Info
		if info, err = c.Info(ctx, name); err == nil {
			if created.IPs = info.IPs(); len(created.IPs) == 0 {
				err = fmt.Errorf("pot %s has no address (network type %s)", name, s.Network)
			}
		}
	}
	if err != nil {
		return Created{}, &CreateError{Pot: name, Step: step, Err: err, Cleanup: c.undo(ctx, name)}
	}
	return created, nil
}

// setUp sets what prepare does not on a prepared pot that does not run.
func (c *Client) setUp(ctx context.Context, name string, s Spec) (step string, _ error) {
	if err := c.mountAll(ctx, name, s.Mounts); err != nil {
		return StepMount, err
	}
	for _, cp := range s.Copies {
		if err := c.CopyIn(ctx, name, cp); err != nil {
			return StepCopy, fmt.Errorf("copying %s to %s: %w", cp.Source, cp.Destination, err)
		}
	}
	if err := c.SetEnv(ctx, name, s.Env); err != nil {
		return StepEnv, err
	}
	if err := c.SetHosts(ctx, name, s.Hosts); err != nil {
		return StepHosts, err
	}
	for _, a := range s.Attributes {
		if err := c.SetAttribute(ctx, name, a.Name, a.Value); err != nil {
			return StepAttributes, fmt.Errorf("attribute %s: %w", a.Name, err)
		}
	}
	return "", nil
}

// undoLimit bounds the removal of a failed Create's pot, which runs also
// when the caller's context has ended.
const undoLimit = 2 * time.Minute

// undo removes a pot Create made, also after ctx ended.
func (c *Client) undo(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoLimit)
	defer cancel()
	return c.Remove(ctx, name)
}

// Remove destroys a pot, stopping it first (Destroy with force); one that
// is not there (pot's file tree: Exists) is removed already.
func (c *Client) Remove(ctx context.Context, name string) error {
	if there, err := c.Exists(ctx, name); err == nil && !there {
		return nil
	}
	err := c.Destroy(ctx, name, true)
	if err == nil {
		return nil
	}
	if there, xerr := c.Exists(ctx, name); xerr == nil && !there {
		return nil
	}
	return err
}
