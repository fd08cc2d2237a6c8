package hclspec

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

// Limits that keep values within what pot, ZFS and exec accept.
const (
	// MaxNameLen bounds pot and tag: both end up in ZFS dataset and jail
	// names (ZFS allows 255 bytes for the whole dataset path).
	MaxNameLen = 100
	// MaxHostnameLen is the DNS limit for an extra_hosts name.
	MaxHostnameLen = 253
	// MaxCommandLine bounds the start command pot stores and passes on
	// as one argv element (FreeBSD's ARG_MAX is 512 KiB, environment
	// included).
	MaxCommandLine = 128 << 10
)

// NetworkMode is pot's network type (pot prepare -N).
type NetworkMode string

const (
	// NetworkInherit shares the host's network stack; the job may also
	// say "host".
	NetworkInherit NetworkMode = "inherit"
	// NetworkAlias aliases a host address onto the jail.
	NetworkAlias NetworkMode = "alias"
	// NetworkPublicBridge is a VNET jail on pot's bridge, NAT to the
	// outside, ports through export-ports. The default.
	NetworkPublicBridge NetworkMode = "public-bridge"
	// NetworkPrivateBridge is a VNET jail on a named private bridge.
	NetworkPrivateBridge NetworkMode = "private-bridge"
)

// DefaultNetworkMode is used when the job sets no network_mode. It is the
// default the bsdpot driver documents, and what it used whenever port_map
// was set.
const DefaultNetworkMode = NetworkPublicBridge

// ParseNetworkMode checks a network_mode value; "" gives
// DefaultNetworkMode and "host" gives NetworkInherit.
func ParseNetworkMode(s string) (NetworkMode, error) {
	switch s {
	case "":
		return DefaultNetworkMode, nil
	case "host", string(NetworkInherit):
		return NetworkInherit, nil
	case string(NetworkAlias), string(NetworkPublicBridge), string(NetworkPrivateBridge):
		return NetworkMode(s), nil
	}
	return "", errors.New("want one of inherit, host, alias, public-bridge, private-bridge")
}

// splitExact splits "A:B" where neither side may contain ':'.
func splitExact(s string) (a, b string, err error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(b, ":") {
		return "", "", errors.New("exactly one ':' expected")
	}
	return a, b, nil
}

// ParseAttribute reads a job's "NAME:VALUE" (split at the first ':') and
// checks it against pot's attribute table (pot.CheckAttribute).
func ParseAttribute(s string) (pot.Attribute, error) {
	name, value, err := splitFirst(s)
	if err != nil {
		return pot.Attribute{}, fmt.Errorf("want NAME:VALUE: %w", err)
	}
	return pot.CheckAttribute(name, value)
}

var errDuplicate = errors.New("set twice")

// splitFirst splits "A:B" at the first ':'; B may contain more.
func splitFirst(s string) (a, b string, err error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", errors.New("no ':' found")
	}
	return a, b, nil
}

func hasSpace(s string) bool {
	return strings.IndexFunc(s, unicode.IsSpace) >= 0
}

// CheckName checks a pot image name or tag: letters, digits, '_', '-' and
// '.', starting with a letter or digit, at most MaxNameLen bytes.
func CheckName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("longer than %d bytes", MaxNameLen)
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '_' || c == '-' || c == '.') && i > 0:
		default:
			return fmt.Errorf("only letters, digits, '_', '-' and '.' are allowed, starting with a letter or digit (found %q at byte %d)", c, i)
		}
	}
	return nil
}

// ParseImageURL checks the image key: the base URL pot fetches
// IMAGE_TAG.xz from. http and https URLs need a host, file URLs an absolute
// path (and no host but localhost). pot appends "/IMAGE_TAG.xz", so a query
// or fragment is refused, and so are characters outside a conservative URL
// set (whitespace, quotes, shell metacharacters).
func ParseImageURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("must not be empty")
	}
	if err := pot.CheckValue(s); err != nil {
		return nil, err
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("-._~:/@%+=,[]", c):
		default:
			return nil, fmt.Errorf("character %q is not allowed in an image URL", c)
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", unwrapURLError(err))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("a query or fragment is not allowed: pot appends /NAME_TAG.xz to the URL")
	}
	if u.Opaque != "" {
		return nil, errors.New("want scheme://host/path")
	}
	switch u.Scheme {
	case "http", "https":
		if u.Hostname() == "" {
			return nil, errors.New("an http(s) URL needs a host")
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
				return nil, fmt.Errorf("bad port %q", p)
			}
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, errors.New("a file URL takes no host: file:///absolute/path")
		}
		if u.User != nil {
			return nil, errors.New("a file URL takes no user")
		}
		if !path.IsAbs(u.Path) {
			return nil, errors.New("a file URL needs an absolute path: file:///absolute/path")
		}
	default:
		return nil, errors.New("scheme must be http, https or file")
	}
	return u, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// cleanAbs checks an absolute path without ".." elements and returns it
// cleaned (no trailing '/', no "//", no "." elements).
func cleanAbs(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if err := pot.CheckText(p); err != nil {
		return "", err
	}
	if !path.IsAbs(p) {
		return "", fmt.Errorf("path %q is not absolute", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", fmt.Errorf("path %q contains '..'", p)
		}
	}
	return path.Clean(p), nil
}

// Mount is a nullfs mount of a host directory (pot mount-in).
type Mount struct {
	// HostPath is absolute and clean.
	HostPath string
	// JailPath is absolute and clean, not "/".
	JailPath string
	// ReadOnly mounts with -r.
	ReadOnly bool
	// Key is the entry's key in the task config ("mount[0]",
	// "mount_read_only[1]"), set by TaskConfig.Validate.
	Key string
}

// ParseMount checks "HOSTPATH:JAILPATH". Neither path may contain ':' or
// whitespace (pot keeps mounts in a space-separated file), both must be
// absolute without "..", and the jail path may not be "/".
func ParseMount(s string, readOnly bool) (Mount, error) {
	h, j, err := splitExact(s)
	if err != nil {
		return Mount{}, fmt.Errorf("want HOSTPATH:JAILPATH: %w", err)
	}
	if hasSpace(h) || hasSpace(j) {
		return Mount{}, errors.New("paths may not contain whitespace (pot stores mounts space-separated)")
	}
	hp, err := cleanAbs(h)
	if err != nil {
		return Mount{}, fmt.Errorf("host %w", err)
	}
	jp, err := cleanAbs(j)
	if err != nil {
		return Mount{}, fmt.Errorf("jail %w", err)
	}
	if jp == "/" {
		return Mount{}, errors.New("cannot mount over the jail's root")
	}
	return Mount{HostPath: hp, JailPath: jp, ReadOnly: readOnly}, nil
}

// Copy is a host file or folder copied into the jail (pot copy-in).
type Copy struct {
	// Src is an absolute, clean host path.
	Src string
	// Dest is an absolute, clean jail path.
	Dest string
	// Key is the entry's key in the task config ("copy[0]"), set by
	// TaskConfig.Validate.
	Key string
}

// ParseCopy checks "HOSTSRC:JAILDEST": exactly one ':', both paths
// absolute without "..".
func ParseCopy(s string) (Copy, error) {
	h, j, err := splitExact(s)
	if err != nil {
		return Copy{}, fmt.Errorf("want HOSTSRC:JAILDEST: %w", err)
	}
	src, err := cleanAbs(h)
	if err != nil {
		return Copy{}, fmt.Errorf("host %w", err)
	}
	dst, err := cleanAbs(j)
	if err != nil {
		return Copy{}, fmt.Errorf("jail %w", err)
	}
	return Copy{Src: src, Dest: dst}, nil
}

// Host is an /etc/hosts entry of the jail (pot set-hosts).
type Host struct {
	Name string
	IP   netip.Addr
}

// HostsArg is the HOSTNAME:IP argument of pot set-hosts -H.
func (h Host) HostsArg() string { return h.Name + ":" + h.IP.String() }

// ParseHost checks "HOSTNAME:IP". The name is split off at the first ':'
// (as pot does), so IPv6 addresses need no brackets. The name is made of
// dot-separated labels of letters, digits, '-' and '_'; the address must
// parse with net/netip and carry no zone.
func ParseHost(s string) (Host, error) {
	n, a, err := splitFirst(s)
	if err != nil {
		return Host{}, fmt.Errorf("want HOSTNAME:IP: %w", err)
	}
	if err := CheckHostname(n); err != nil {
		return Host{}, fmt.Errorf("hostname: %w", err)
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return Host{}, fmt.Errorf("IP: %w", err)
	}
	if ip.Zone() != "" {
		return Host{}, errors.New("IP: a zone is not allowed")
	}
	return Host{Name: n, IP: ip}, nil
}

// CheckHostname checks a host name for /etc/hosts.
func CheckHostname(n string) error {
	if n == "" {
		return errors.New("empty")
	}
	if len(n) > MaxHostnameLen {
		return fmt.Errorf("longer than %d bytes", MaxHostnameLen)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" {
			return errors.New("empty label")
		}
		if len(label) > 63 {
			return errors.New("label longer than 63 bytes")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("a label may not start or end with '-'")
		}
		for _, c := range label {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				return fmt.Errorf("character %q is not allowed", c)
			}
		}
	}
	return nil
}

// ParsePort checks a port_map value: a decimal port 1..65535.
func ParsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, errors.New("want a port number 1..65535")
	}
	return uint16(n), nil
}

// CheckPortLabel checks a port_map key.
func CheckPortLabel(l string) error {
	if l == "" {
		return errors.New("empty port label")
	}
	if err := pot.CheckText(l); err != nil {
		return err
	}
	if hasSpace(l) {
		return errors.New("port label contains whitespace")
	}
	return nil
}
