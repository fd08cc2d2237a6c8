// Command nomad-pot-driver is the Nomad task driver plugin "pot": Nomad
// tasks in FreeBSD jails managed by pot. Nomad starts it from its
// plugin_dir; it is not meant to be run by hand. Linked into the client's
// host_volume_plugin_dir as pot-fscomp, the same binary is the dynamic host
// volume plugin that makes volumes pot fscomps (package hostvolume).
package main

import (
	"os"
	"path/filepath"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad/plugins"

	"github.com/bsdpot/nomad-pot-driver/driver"
	"github.com/bsdpot/nomad-pot-driver/hostvolume"
)

func main() {
	if filepath.Base(os.Args[0]) == hostvolume.PluginName || os.Getenv(hostvolume.EnvOperation) != "" {
		os.Exit(hostvolume.Main(os.Args[1:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "volume" {
		// An operator's command: nomad-pot-driver volume snapshots|rollback|restore.
		os.Exit(hostvolume.CommandMain(os.Args[2:]))
	}
	plugins.Serve(func(logger hclog.Logger) interface{} {
		return driver.New(logger)
	})
}
