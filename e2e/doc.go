// Package e2e holds the end-to-end tests (build tag e2e): real Nomad and
// Consul agents, the pot driver calling potsim, haproxy, and the jobs of
// example-jobs/, checked the way an operator checks them — with the nomad
// CLI, dig, curl and pot. Run them with `make e2e` (part of `make test`):
//
//	go test -tags e2e -count=1 -timeout 30m ./e2e/...
//
// The cluster itself is package e2e/cluster, which `make demo` (e2e/demo)
// uses as well.
package e2e
