//go:build tools

// Package agents pins the Consul agent run beside Nomad in the end-to-end
// tests. It is never compiled: build.sh in the parent folder runs
// `go build github.com/hashicorp/consul` in this module.
package agents

import (
	_ "github.com/hashicorp/consul"
)
