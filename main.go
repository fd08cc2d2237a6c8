// Command nomad-pot-driver is the Nomad task driver plugin "pot": Nomad
// tasks in FreeBSD jails managed by pot. Nomad starts it from its
// plugin_dir; it is not meant to be run by hand.
package main

import (
	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad/plugins"

	"github.com/bsdpot/nomad-pot-driver/driver"
)

func main() {
	plugins.Serve(func(logger hclog.Logger) interface{} {
		return driver.New(logger)
	})
}
