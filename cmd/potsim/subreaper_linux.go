package main

import "golang.org/x/sys/unix"

// setSubreaper makes the orphaned descendants of this process its children.
func setSubreaper() error { return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }
