package pot

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Network types of `pot prepare -N`.
const (
	NetworkInherit       = "inherit"
	NetworkAlias         = "alias"
	NetworkPublicBridge  = "public-bridge"
	NetworkPrivateBridge = "private-bridge"
)

// PotName is the name pot gives the pot that `prepare -n NAME -a ALLOC`
// creates: NAME_ALLOC with every "." turned into "_".
func PotName(name, alloc string) string {
	return strings.ReplaceAll(name+"_"+alloc, ".", "_")
}

// ImageName is the name of the pot an image is imported as, the image
// cache entry: IMAGE_TAG with every "." turned into "_".
func ImageName(image, tag string) string {
	return strings.ReplaceAll(image+"_"+tag, ".", "_")
}

// Port is one exported port: [tcp:|udp:]POTPORT[:HOSTPORT].
type Port struct {
	Protocol string // "tcp" (default) or "udp"
	PotPort  uint16 // the port inside the jail
	HostPort uint16 // the host port; 0 lets pot pick a free one
}

// Spec renders the port the way prepare -e and export-ports -e take it.
func (p Port) Spec() (string, error) {
	if p.PotPort == 0 {
		return "", fmt.Errorf("port 0 cannot be exported")
	}
	var b strings.Builder
	switch p.Protocol {
	case "", "tcp":
	case "udp":
		b.WriteString("udp:")
	default:
		return "", fmt.Errorf("unknown protocol %q", p.Protocol)
	}
	fmt.Fprintf(&b, "%d", p.PotPort)
	if p.HostPort != 0 {
		fmt.Fprintf(&b, ":%d", p.HostPort)
	}
	return b.String(), nil
}

// PrepareOptions describes `pot prepare`.
type PrepareOptions struct {
	URL   string // -U, the image server
	Image string // -p
	Tag   string // -t
	Alloc string // -a
	Name  string // -n
	// Argv is the exact argv of the command `pot start` runs (-c), or
	// CommandLine the line its jail's sh runs as `exec LINE`, parsed by
	// that sh; at most one. Neither keeps the image's own command.
	Argv        []string
	CommandLine string
	// Network is the network type (-N); empty keeps pot's default.
	Network string
	// IP is -i: an address, or "auto" for the next free one on the bridge.
	IP string
	// Ports are exported with -e (bridge types only).
	Ports []Port
	// Bridge is the private bridge's name (-B).
	Bridge string
	// Stack is the network stack (-S): ipv4, ipv6 or dual.
	Stack string
	// DNS is the jail's resolver (-d).
	DNS DNS
	// PubKey verifies the image's signature (-C).
	PubKey string
	// Verbose is -v.
	Verbose bool
}

func (o PrepareOptions) args() ([]string, error) {
	for _, f := range []struct{ flag, v string }{
		{"-U", o.URL}, {"-p", o.Image}, {"-t", o.Tag}, {"-a", o.Alloc}, {"-n", o.Name},
	} {
		if f.v == "" {
			return nil, fmt.Errorf("prepare: %s is required", f.flag)
		}
	}
	args := []string{"prepare", "-U", o.URL, "-p", o.Image, "-t", o.Tag, "-a", o.Alloc, "-n", o.Name}
	switch {
	case len(o.Argv) > 0 && o.CommandLine != "":
		return nil, fmt.Errorf("prepare: Argv and CommandLine are both set")
	case len(o.Argv) > 0:
		line, err := CommandLine(o.Argv)
		if err != nil {
			return nil, fmt.Errorf("prepare command: %w", err)
		}
		args = append(args, "-c", line)
	case o.CommandLine != "":
		if err := CheckValue(o.CommandLine); err != nil {
			return nil, fmt.Errorf("prepare command line: %w", err)
		}
		// pot stores -c with one pair of surrounding double quotes
		// stripped (_set_command): wrapped in a pair, the line is kept
		// as it is, quotes of its own included.
		args = append(args, "-c", `"`+o.CommandLine+`"`)
	}
	if err := o.DNS.check(); err != nil {
		return nil, fmt.Errorf("prepare dns %q: %w", o.DNS.String(), err)
	}
	if o.Network != "" {
		args = append(args, "-N", o.Network)
	}
	if o.IP != "" {
		if o.IP != "auto" {
			if _, err := netip.ParseAddr(o.IP); err != nil {
				return nil, fmt.Errorf("prepare: invalid IP %q", o.IP)
			}
		}
		args = append(args, "-i", o.IP)
	}
	for _, p := range o.Ports {
		s, err := p.Spec()
		if err != nil {
			return nil, err
		}
		args = append(args, "-e", s)
	}
	for _, f := range []struct{ flag, v string }{
		{"-B", o.Bridge}, {"-S", o.Stack}, {"-d", o.DNS.String()}, {"-C", o.PubKey},
	} {
		if f.v != "" {
			args = append(args, f.flag, f.v)
		}
	}
	if o.Verbose {
		args = append(args, "-v")
	}
	return args, nil
}

// Prepare imports the image unless it is cached and clones it into a new pot
// named PotName(o.Name, o.Alloc), returned.
func (c *Client) Prepare(ctx context.Context, o PrepareOptions) (string, error) {
	args, err := o.args()
	if err != nil {
		return "", err
	}
	name := PotName(o.Name, o.Alloc)
	if _, err := c.runTimeout(ctx, c.PrepareLimit(), args...); err != nil {
		// prepare.sh: `_error "A pot with name NAME already exists"`.
		if ExitCode(err) == 1 && strings.Contains(err.Error(), "A pot with name "+name+" already exists") {
			return "", fmt.Errorf("%w: %w", ErrExists, err)
		}
		return "", err
	}
	return name, nil
}

// ErrExists: prepare found a pot of that name already there, and made none.
var ErrExists = errors.New("the pot exists already")
