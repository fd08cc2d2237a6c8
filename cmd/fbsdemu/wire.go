package main

// The wire: the other end of the machine's em0, in a network namespace of
// its own with the machine's gateway address, standing for the LAN (another
// host on em0's network). A program run there with `fbsdemu wire -- CMD`
// is a client on the LAN: it reaches the machine at FBSDEMU_EXTIF_ADDR, and
// through pf's rdr rules (applied as nftables rules) the ports a pot
// exports. The namespace is kept by a bind mount in the machine's own mount
// namespace, so it goes with the machine.
func init() { commands["wire"] = cmdWire }

const (
	// wireNetnsEnv names the wire's network namespace file (for setns(2)
	// or nsenter --net) in the machine's environment.
	wireNetnsEnv = "FBSDEMU_WIRE_NETNS"
	// extIfAddrEnv is em0's address, the machine as the wire sees it.
	extIfAddrEnv = "FBSDEMU_EXTIF_ADDR"
)
