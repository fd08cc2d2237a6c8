package pot

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
)

// DNS modes of `pot prepare -d`.
const (
	DNSInherit = "inherit" // the host's resolv.conf
	DNSPot     = "pot"     // pot's own resolver (pot's dns pot)
	DNSOff     = "off"     // none: the image's own
	DNSCustom  = "custom"  // File, copied into the jail as its resolv.conf
)

// DNS is how prepare sets up the jail's resolver (-d). The zero value keeps
// pot's default (its POT_DNS_* configuration).
type DNS struct {
	Mode string // "", DNSInherit, DNSPot, DNSOff or DNSCustom
	File string // DNSCustom: an absolute, clean host path
}

// CustomDNS is the mode that gives the jail file as its resolv.conf.
func CustomDNS(file string) DNS { return DNS{Mode: DNSCustom, File: file} }

// ParseDNS reads a dns value in prepare -d's own syntax: inherit, pot, off
// or custom:FILE (an absolute, clean path without whitespace: pot copies
// it with the path split on spaces). "" keeps pot's default.
func ParseDNS(s string) (DNS, error) {
	switch s {
	case "":
		return DNS{}, nil
	case DNSInherit, DNSPot, DNSOff:
		return DNS{Mode: s}, nil
	}
	file, ok := strings.CutPrefix(s, DNSCustom+":")
	if !ok {
		return DNS{}, fmt.Errorf("one of %s, %s, %s, %s:/path/to/resolv.conf", DNSInherit, DNSPot, DNSOff, DNSCustom)
	}
	d := CustomDNS(file)
	return d, d.check()
}

func (d DNS) check() error {
	switch d.Mode {
	case "", DNSInherit, DNSPot, DNSOff:
		if d.File != "" {
			return fmt.Errorf("dns mode %q takes no file", d.Mode)
		}
		return nil
	case DNSCustom:
		if err := CheckText(d.File); err != nil {
			return err
		}
		if !path.IsAbs(d.File) || path.Clean(d.File) != d.File || strings.IndexFunc(d.File, unicode.IsSpace) >= 0 {
			return errors.New(DNSCustom + ": takes an absolute, clean path of a resolv.conf without whitespace")
		}
		return nil
	}
	return fmt.Errorf("unknown dns mode %q", d.Mode)
}

// String is the value in prepare -d's syntax ("" for pot's default).
func (d DNS) String() string {
	if d.Mode == DNSCustom {
		return DNSCustom + ":" + d.File
	}
	return d.Mode
}
