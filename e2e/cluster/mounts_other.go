//go:build !linux

package cluster

// mountsUnder: only Linux is inspected (potsim's bind mounts, Nomad's
// tmpfs); on FreeBSD pot unmounts its nullfs mounts itself.
func mountsUnder(dir string) []string { return nil }

func unmountUnder(dir string) []string { return nil }

func processesOf(dir string) []int { return nil }
