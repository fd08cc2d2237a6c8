package hclspec

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/bsdpot/nomad-pot-driver/freebsd"
	"github.com/bsdpot/nomad-pot-driver/pot"
)

// TaskSettings is a validated task config. Every string in it passed
// pot.CheckValue (no newline, carriage return or NUL); paths are absolute
// and clean.
type TaskSettings struct {
	// ImageURL is the image key as given (pot prepare -U).
	ImageURL string
	// Image is the pot key: the image name (pot prepare -p).
	Image string
	// Tag is the image tag (pot prepare -t).
	Tag string
	// SignaturePubkey is the key file the image is verified with (an
	// absolute, clean host path: whether it may be used is the plugin's
	// host_path_allow to say); empty when the job names none.
	SignaturePubkey string
	// CommandLine is command and args joined by single spaces, the line
	// the jail's sh runs as `exec LINE` (the bsdpot driver's meaning);
	// Argv is command followed by args, each an exact argument
	// (exact_args). At most one is set; neither when the job sets no
	// command, so the image's own command runs.
	CommandLine string
	Argv        []string
	// PortMap maps a port label to the port inside the jail; nil when
	// the job sets none.
	PortMap map[string]uint16
	// NetworkMode is never empty ("host" is NetworkInherit).
	NetworkMode NetworkMode
	// Network are the other network keys.
	Network NetworkSettings
	// Mounts are the mount entries, then the mount_read_only entries,
	// each in job order. No two share a JailPath.
	Mounts []Mount
	// Copies are the copy entries in job order.
	Copies []Copy
	// ExtraHosts are the extra_hosts entries in job order.
	ExtraHosts []Host
	// Attributes are the attributes in job order, each name at most once.
	Attributes []pot.Attribute
	// Consul is the driver's own Consul registration; nil when not asked.
	Consul *ConsulSettings
	// CPUHardLimit caps the jail's CPU at the task's cpu share (rctl pcpu).
	CPUHardLimit bool
	// Rctl are the rctl block's limits, sorted by resource, each one a job
	// may set (freebsd.CheckExtraResource). Whether the plugin allows them
	// is PluginConfig.CheckTask's to say.
	Rctl []freebsd.Limit
}

// PortLabels returns the PortMap labels sorted, for a stable order.
func (s *TaskSettings) PortLabels() []string {
	labels := make([]string, 0, len(s.PortMap))
	for l := range s.PortMap {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	return labels
}

// Validate checks every value of the task config and returns the typed
// settings, or an error listing every problem found (up to a limit), each
// naming its key and value.
func (c *TaskConfig) Validate() (*TaskSettings, error) {
	if c == nil {
		return nil, errors.New("no task config")
	}
	var errs errList
	s := &TaskSettings{}

	// image, pot, tag
	if _, err := ParseImageURL(c.Image); err != nil {
		errs.add(fieldErr("image", c.Image, err))
	} else {
		s.ImageURL = c.Image
	}
	if err := CheckName(c.Pot); err != nil {
		errs.add(fieldErr("pot", c.Pot, err))
	} else {
		s.Image = c.Pot
	}
	if err := CheckName(c.Tag); err != nil {
		errs.add(fieldErr("tag", c.Tag, err))
	} else {
		s.Tag = c.Tag
	}

	if c.SignaturePubkey != "" {
		if err := checkHostFile(c.SignaturePubkey); err != nil {
			errs.add(fieldErr("signature_pubkey", c.SignaturePubkey, err))
		} else {
			s.SignaturePubkey = c.SignaturePubkey
		}
	}

	// command, args, exact_args
	if c.ExactArgs {
		c.validateExactArgs(s, &errs)
	} else {
		c.validateCommandLine(s, &errs)
	}

	// port_map, network_mode
	if len(c.PortMap) > 0 {
		s.PortMap = make(map[string]uint16, len(c.PortMap))
		labels := make([]string, 0, len(c.PortMap))
		for l := range c.PortMap {
			labels = append(labels, l)
		}
		sort.Strings(labels)
		for _, l := range labels {
			key := "port_map[" + quoteValue(l) + "]"
			if err := CheckPortLabel(l); err != nil {
				errs.add(fieldErr(key, c.PortMap[l], err))
				continue
			}
			p, err := ParsePort(c.PortMap[l])
			if err != nil {
				errs.add(fieldErr(key, c.PortMap[l], err))
				continue
			}
			s.PortMap[l] = p
		}
	}
	if nm, err := ParseNetworkMode(c.NetworkMode); err != nil {
		errs.add(fieldErr("network_mode", c.NetworkMode, err))
	} else {
		s.NetworkMode = nm
	}
	if s.NetworkMode != "" {
		c.validateNetwork(s, &errs)
	}

	// mount, mount_read_only
	jailPaths := map[string]string{}
	addMounts := func(key string, list []string, ro bool) {
		for i, v := range list {
			k := idx(key, i)
			m, err := ParseMount(v, ro)
			if err != nil {
				errs.add(fieldErr(k, v, err))
				continue
			}
			if prev, dup := jailPaths[m.JailPath]; dup {
				errs.add(fieldErr(k, v, fmt.Errorf("jail path %s is already mounted by %s", m.JailPath, prev)))
				continue
			}
			jailPaths[m.JailPath] = k
			m.Key = k
			s.Mounts = append(s.Mounts, m)
		}
	}
	addMounts("mount", c.Mount, false)
	addMounts("mount_read_only", c.MountReadOnly, true)

	// copy
	for i, v := range c.Copy {
		cp, err := ParseCopy(v)
		if err != nil {
			errs.add(fieldErr(idx("copy", i), v, err))
			continue
		}
		cp.Key = idx("copy", i)
		s.Copies = append(s.Copies, cp)
	}

	// extra_hosts
	for i, v := range c.ExtraHosts {
		h, err := ParseHost(v)
		if err != nil {
			errs.add(fieldErr(idx("extra_hosts", i), v, err))
			continue
		}
		s.ExtraHosts = append(s.ExtraHosts, h)
	}

	// attributes
	seen := map[string]string{}
	for i, v := range c.Attributes {
		k := idx("attributes", i)
		a, err := ParseAttribute(v)
		if err != nil {
			errs.add(fieldErr(k, v, err))
			continue
		}
		if prev, dup := seen[a.Name]; dup {
			errs.add(fieldErr(k, v, fmt.Errorf("attribute %s %w (also in %s)", a.Name, errDuplicate, prev)))
			continue
		}
		seen[a.Name] = k
		s.Attributes = append(s.Attributes, a)
	}

	// consul
	if c.Consul != nil {
		cs, err := c.Consul.validate()
		if err != nil {
			errs.add(err)
		} else {
			s.Consul = cs
		}
	}

	// cpu_hard_limit, rctl
	s.CPUHardLimit = c.CPUHardLimit
	s.Rctl = parseRctl(c.Rctl, &errs)

	if err := errs.err(); err != nil {
		return nil, err
	}
	return s, nil
}

func idx(key string, i int) string {
	var b strings.Builder
	b.WriteString(key)
	b.WriteByte('[')
	b.WriteString(strconv.Itoa(i))
	b.WriteByte(']')
	return b.String()
}

// validateCommandLine checks command and args as the bsdpot driver means
// them: joined by single spaces into the jail's command line, which its sh
// parses (quotes, $VAR, ;), so jobs written for that driver run unchanged.
// pot keeps the line in its line-based pot.conf: no line breaks.
func (c *TaskConfig) validateCommandLine(s *TaskSettings, errs *errList) {
	ok := true
	if c.Command == "" && len(c.Args) > 0 {
		errs.add(fieldErr("command", c.Command, errors.New("required when args are given")))
		return
	}
	if c.Command == "" {
		return
	}
	if err := pot.CheckValue(c.Command); err != nil {
		errs.add(fieldErr("command", c.Command, err))
		ok = false
	} else if strings.TrimSpace(c.Command) == "" {
		errs.add(fieldErr("command", c.Command, errors.New("only whitespace")))
		ok = false
	} else if strings.HasPrefix(strings.TrimLeft(c.Command, " \t"), "-") {
		errs.add(fieldErr("command", c.Command, errors.New("may not start with '-' (the jail's sh would run it as `exec -…`)")))
		ok = false
	}
	if !c.checkArgs(errs) || !ok {
		return
	}
	line := strings.Join(append([]string{c.Command}, c.Args...), " ")
	if len(line) > MaxCommandLine {
		errs.add(fmt.Errorf("command and args: the command line of %d bytes is longer than %d", len(line), MaxCommandLine))
		return
	}
	s.CommandLine = line
}

// validateExactArgs checks command and args with exact_args: command is
// one program, and each of args reaches it as exactly one argument.
func (c *TaskConfig) validateExactArgs(s *TaskSettings, errs *errList) {
	argvOK := true
	switch {
	case c.Command == "" && len(c.Args) > 0:
		errs.add(fieldErr("command", c.Command, errors.New("required when args are given")))
		argvOK = false
	case c.Command == "":
		errs.add(fieldErr("exact_args", "true", errors.New("needs a command")))
		argvOK = false
	default:
		if err := pot.CheckValue(c.Command); err != nil {
			errs.add(fieldErr("command", c.Command, err))
			argvOK = false
		} else if strings.HasPrefix(c.Command, "-") {
			errs.add(fieldErr("command", c.Command, errors.New("may not start with '-' (the jail's sh would run it as `exec -…`)")))
			argvOK = false
		} else if hasSpace(c.Command) {
			errs.add(fieldErr("command", c.Command, errors.New(
				"contains whitespace: with exact_args, command is one program path, not split; put each argument in args")))
			argvOK = false
		}
	}
	if !c.checkArgs(errs) || !argvOK {
		return
	}
	argv := append([]string{c.Command}, c.Args...)
	cl, err := pot.CommandLine(argv)
	switch {
	case err != nil:
		errs.add(fieldErr("command", c.Command, err))
	case len(cl) > MaxCommandLine:
		errs.add(fmt.Errorf("command and args: the command line of %d bytes is longer than %d", len(cl), MaxCommandLine))
	default:
		s.Argv = argv
	}
}

// checkArgs refuses every element of args pot cannot carry, naming it; it
// reports whether all passed.
func (c *TaskConfig) checkArgs(errs *errList) bool {
	ok := true
	for i, a := range c.Args {
		if err := pot.CheckValue(a); err != nil {
			errs.add(fieldErr(idx("args", i), a, err))
			ok = false
		}
	}
	return ok
}
