// Command recorder is the recording stand-in of rctl and cpuset (see
// package internal/recorder). Link it under the tool's name:
//
//	go build -o /tmp/rec/recorder ./internal/recorder/cmd/recorder
//	ln -s recorder /tmp/rec/rctl; ln -s recorder /tmp/rec/cpuset
//
// then point the plugin's rctl_bin and cpuset_bin at the links and set
// NOMAD_POT_RECORDER_LOG in the Nomad agent's environment.
package main

import "github.com/bsdpot/nomad-pot-driver/internal/recorder"

func main() { recorder.Main() }
