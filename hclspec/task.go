package hclspec

import (
	"github.com/hashicorp/go-msgpack/v2/codec"
	nhcl "github.com/hashicorp/nomad/plugins/shared/hclspec"
)

// TaskConfigSpec is the schema of a task's config block, returned by the
// driver's TaskConfigSchema. Keys, HCL types and meaning are those of the
// bsdpot nomad-pot-driver.
var TaskConfigSpec = nhcl.NewObject(map[string]*nhcl.Spec{
	"image":   nhcl.NewAttr("image", "string", true),
	"pot":     nhcl.NewAttr("pot", "string", true),
	"tag":     nhcl.NewAttr("tag", "string", true),
	"command": nhcl.NewAttr("command", "string", false),
	"args":    nhcl.NewAttr("args", "list(string)", false),
	// Not the bsdpot driver's: args as exact arguments, Nomad style.
	"exact_args": nhcl.NewAttr("exact_args", "bool", false),
	// list(map(string)) as in the bsdpot driver and Nomad's own docker
	// driver: Nomad's HCL2 job parser hands both `port_map = { http = 80 }`
	// and the block form `port_map { http = 80 }` over as a list of maps.
	"port_map":        nhcl.NewAttr("port_map", "list(map(string))", false),
	"network_mode":    nhcl.NewAttr("network_mode", "string", false),
	"ip":              nhcl.NewAttr("ip", "string", false),
	"bridge":          nhcl.NewAttr("bridge", "string", false),
	"network_stack":   nhcl.NewAttr("network_stack", "string", false),
	"dns":             nhcl.NewAttr("dns", "string", false),
	"auto_advertise":  nhcl.NewAttr("auto_advertise", "bool", false),
	"mount":           nhcl.NewAttr("mount", "list(string)", false),
	"mount_read_only": nhcl.NewAttr("mount_read_only", "list(string)", false),
	"copy":            nhcl.NewAttr("copy", "list(string)", false),
	"extra_hosts":     nhcl.NewAttr("extra_hosts", "list(string)", false),
	"attributes":      nhcl.NewAttr("attributes", "list(string)", false),
	"consul":          taskConsulSpec,
	// Resource limits beyond Nomad's resources block (FreeBSD rctl).
	"cpu_hard_limit": nhcl.NewAttr("cpu_hard_limit", "bool", false),
	// rctl resource -> amount; list(map(string)) like port_map, so both
	// `rctl { maxproc = 100 }` and `rctl = { maxproc = "100" }` decode.
	"rctl": nhcl.NewAttr("rctl", "list(map(string))", false),
	// Not the bsdpot driver's: the public key pot verifies the image's
	// signature with (prepare -C), a host file under host_path_allow.
	"signature_pubkey": nhcl.NewAttr("signature_pubkey", "string", false),
})

// TaskConfig is a task's config block as decoded by
// drivers.TaskConfig.DecodeDriverConfig. Nothing in it is checked: use
// Validate.
type TaskConfig struct {
	// Image is the base URL of the image server (pot prepare -U).
	Image string `codec:"image"`
	// Pot is the image name (pot prepare -p).
	Pot string `codec:"pot"`
	// Tag is the image version (pot prepare -t).
	Tag string `codec:"tag"`
	// Command is what the jail runs: with args, joined by spaces into the
	// jail's command line (the bsdpot driver's meaning); with ExactArgs
	// one program. Empty: the image's own command.
	Command string `codec:"command"`
	// Args are appended to the command line, or with ExactArgs passed to
	// the program each as exactly one argument.
	Args []string `codec:"args"`
	// ExactArgs: command is one program and each of args reaches it
	// unchanged, as with Nomad's exec or docker drivers.
	ExactArgs bool `codec:"exact_args"`
	// PortMap maps a port label of the group's network block to the port
	// the program listens on inside the jail.
	PortMap MapStrStr `codec:"port_map"`
	// NetworkMode is pot's network type.
	NetworkMode string `codec:"network_mode"`
	// IP is the alias address, or a fixed bridge address ("auto" default).
	IP string `codec:"ip"`
	// Bridge is the private bridge's name.
	Bridge string `codec:"bridge"`
	// NetworkStack is ipv4, ipv6 or dual.
	NetworkStack string `codec:"network_stack"`
	// DNS is the jail's resolver in prepare -d's syntax (pot.ParseDNS).
	DNS string `codec:"dns"`
	// AutoAdvertise lets address_mode = "auto" services use the jail's address.
	AutoAdvertise bool `codec:"auto_advertise"`
	// Mount lists read-write nullfs mounts, "HOSTPATH:JAILPATH".
	Mount []string `codec:"mount"`
	// MountReadOnly lists read-only nullfs mounts, "HOSTPATH:JAILPATH".
	MountReadOnly []string `codec:"mount_read_only"`
	// Copy lists host files or folders to copy in, "HOSTSRC:JAILDEST".
	Copy []string `codec:"copy"`
	// ExtraHosts lists /etc/hosts entries, "HOSTNAME:IP".
	ExtraHosts []string `codec:"extra_hosts"`
	// Attributes lists pot attributes, "NAME:VALUE".
	Attributes []string `codec:"attributes"`
	// Consul, when set, has the driver register the running pot in Consul.
	Consul *ConsulTaskConfig `codec:"consul"`
	// CPUHardLimit caps the jail's CPU at the task's cpu share (rctl pcpu).
	CPUHardLimit bool `codec:"cpu_hard_limit"`
	// Rctl maps more rctl resources to the amount the jail may use
	// ("maxproc" -> "100", "vmemoryuse" -> "2g").
	Rctl MapStrStr `codec:"rctl"`
	// SignaturePubkey is the signify public key file the image's signature
	// is checked with; empty: the plugin's default_signature_pubkey.
	SignaturePubkey string `codec:"signature_pubkey"`
}

// MapStrStr is a map[string]string that msgpack-decodes from the list of
// maps an HCL attribute of type list(map(string)) yields (the maps are
// merged, a later key wins), and encodes back to that form. Same behaviour
// as Nomad's hclutils.MapStrStr, which this package does not import because
// hclutils pulls testing code into the binary.
type MapStrStr map[string]string

// CodecEncodeSelf implements codec.Selfer.
func (s *MapStrStr) CodecEncodeSelf(enc *codec.Encoder) {
	v := []map[string]string{}
	if s != nil && *s != nil {
		v = append(v, *s)
	}
	enc.MustEncode(v)
}

// CodecDecodeSelf implements codec.Selfer.
func (s *MapStrStr) CodecDecodeSelf(dec *codec.Decoder) {
	ms := []map[string]string{}
	dec.MustDecode(&ms)
	r := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			r[k] = v
		}
	}
	*s = r
}
