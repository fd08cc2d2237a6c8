package hclspec

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"

	"github.com/bsdpot/nomad-pot-driver/pot"
)

// NetworkSettings are the validated network keys besides network_mode and
// port_map.
type NetworkSettings struct {
	// IP is prepare's -i: the alias address, or a fixed bridge address;
	// "auto" (the default for bridges) takes the next free one.
	IP string
	// Bridge is the private bridge's name (private-bridge only).
	Bridge string
	// Stack is prepare's -S: ipv4, ipv6 or dual; "" keeps pot's default.
	Stack string
	// DNS is the jail's resolver; the zero value keeps pot's default.
	DNS pot.DNS
	// AutoAdvertise makes Nomad's address_mode = "auto" services use the
	// jail's address.
	AutoAdvertise bool
}

var bridgeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)

// validateNetwork checks ip, bridge, network_stack, dns and auto_advertise
// against the network mode already in s.
func (c *TaskConfig) validateNetwork(s *TaskSettings, errs *errList) {
	n := NetworkSettings{AutoAdvertise: c.AutoAdvertise}
	mode := s.NetworkMode
	bridged := mode == NetworkPublicBridge || mode == NetworkPrivateBridge

	switch {
	case c.IP == "" && bridged:
		n.IP = "auto"
	case c.IP == "" && mode == NetworkAlias:
		errs.add(fieldErr("ip", c.IP, errors.New("network_mode alias needs the address to alias onto the jail")))
	case c.IP == "":
	case mode == NetworkInherit:
		errs.add(fieldErr("ip", c.IP, errors.New("network_mode inherit shares the host's addresses: no ip")))
	case c.IP == "auto" && bridged:
		n.IP = "auto"
	default:
		ip, err := netip.ParseAddr(c.IP)
		if err != nil || ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() {
			if err == nil {
				err = errors.New("not a unicast address")
			}
			errs.add(fieldErr("ip", c.IP, err))
		} else {
			n.IP = ip.String()
		}
	}

	switch {
	case mode == NetworkPrivateBridge && c.Bridge == "":
		errs.add(fieldErr("bridge", c.Bridge, errors.New("network_mode private-bridge needs the bridge's name (pot create-private-bridge)")))
	case mode != NetworkPrivateBridge && c.Bridge != "":
		errs.add(fieldErr("bridge", c.Bridge, fmt.Errorf("only for network_mode private-bridge, not %s", mode)))
	case c.Bridge != "" && !bridgeNameRE.MatchString(c.Bridge):
		errs.add(fieldErr("bridge", c.Bridge, errors.New("letters, digits, '_' and '-', at most 32")))
	default:
		n.Bridge = c.Bridge
	}

	switch c.NetworkStack {
	case "", "ipv4", "ipv6", "dual":
		n.Stack = c.NetworkStack
	default:
		errs.add(fieldErr("network_stack", c.NetworkStack, errors.New("one of ipv4, ipv6, dual")))
	}

	if dns, err := pot.ParseDNS(c.DNS); err != nil {
		errs.add(fieldErr("dns", c.DNS, err))
	} else {
		n.DNS = dns
	}
	s.Network = n
}
