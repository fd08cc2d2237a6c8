//go:build tools

// Package agents pins the Nomad agent built for the end-to-end tests.
// It is never compiled: build.sh in the parent folder runs
// `go build github.com/hashicorp/nomad` in this module.
package agents

import (
	_ "github.com/hashicorp/nomad"
)
