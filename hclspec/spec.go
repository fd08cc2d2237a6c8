package hclspec

import "github.com/bsdpot/nomad-pot-driver/pot"

// PotSpec maps the task's settings onto the pot they describe: the image,
// the command, the network and resolver, the hosts and the attributes.
// What only the driver knows it adds: the pot's name and alloc part,
// Nomad's task folders, ports, volumes and environment, and the job's host
// paths once host_path_allow has passed them (Mounts, Copies, a custom
// dns file resolved).
func (s *TaskSettings) PotSpec() pot.Spec {
	spec := pot.Spec{PrepareOptions: pot.PrepareOptions{
		URL:         s.ImageURL,
		Image:       s.Image,
		Tag:         s.Tag,
		Argv:        s.Argv,
		CommandLine: s.CommandLine,
		Network:     string(s.NetworkMode),
		IP:          s.Network.IP,
		Bridge:      s.Network.Bridge,
		Stack:       s.Network.Stack,
		DNS:         s.Network.DNS,
	}}
	for _, h := range s.ExtraHosts {
		spec.Hosts = append(spec.Hosts, pot.Host{Name: h.Name, IP: h.IP.String()})
	}
	spec.Attributes = append(spec.Attributes, s.Attributes...)
	return spec
}
