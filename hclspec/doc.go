// Package hclspec holds the configuration schemas of the pot task driver and
// turns what a job or an agent configuration says into checked, typed
// settings.
//
// Two schemas are defined here, in the form Nomad's plugin API wants them
// (github.com/hashicorp/nomad/plugins/shared/hclspec):
//
//   - PluginConfigSpec / PluginConfig: the agent's `plugin "pot" { config { … } }`
//     block, decoded once by SetConfig.
//   - TaskConfigSpec / TaskConfig: a task's `config { … }` block, decoded by
//     drivers.TaskConfig.DecodeDriverConfig (msgpack, fields matched by their
//     `codec` tags). The keys and their meaning are those of the bsdpot
//     nomad-pot-driver, with one change: every element of `args` reaches the
//     process as exactly one argument (no pre-quoting).
//
// Decoding only checks HCL types. TaskConfig.Validate then checks every value
// and returns TaskSettings, in which every string is safe to hand to pot as
// one argv element: no newline, carriage return or NUL (pot.CheckValue), host
// paths absolute and clean, names restricted to what pot and ZFS accept. An
// error names the key, the list index and the offending value, for example
//
//	mount[1] "a:b:c": want HOSTPATH:JAILPATH with exactly one ':'
//
// What a task may do on this client is the plugin config's to say, checked
// after Validate: PluginConfig.CheckTask (rctl resources in rctl_allow,
// risky attributes in attributes_allow, see pot.RiskyAttributes) and
// PluginConfig.CheckHostPath (host paths, symbolic links resolved, under
// host_path_allow; the default allows none).
//
// This package decides nothing about the Nomad boundary (environment, kill
// timeouts, alloc directories): the driver does that. Quoting for the jail's
// shell lives in package pot only; the start command is built here with
// pot.CommandLine.
package hclspec
