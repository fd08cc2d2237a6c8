// Package freebsd is everything the driver asks of a FreeBSD host outside
// pot: rctl(8) rules and resource usage, cpuset(1), a few sysctls, the
// kernel message buffer, ZFS (through go-zfs) and pf. Nomad knows nothing of
// it and it knows nothing of Nomad; pot's CLI stays in package pot.
//
// The package is split by what can be tested where:
//
//   - Pure decisions and parsers, unit-tested on every OS: rctl rule
//     building (JailLimits.Rules), amounts (ParseAmount), rctl's usage output
//     (ParseUsage, both the `rctl -u` and the rctl_get_racct(2) form), cpu
//     lists (ParseCPUList), the kernel log lines that attribute an OOM kill
//     (CountOOMKills, MemoryLimitLogged, OOMKilled), pfctl's status
//     (ParsePfctlInfo) and ZFS health (ZFSHealthy).
//   - Tools: rctl and cpuset run as argv with a deadline (exec.CommandContext,
//     never a shell), at paths the caller gives, so tests and the simulator
//     point them at a recording stand-in (internal/recorder).
//   - Host: the kernel state, read through FreeBSD's tools (sysctl(8),
//     pfctl(8), zfs(8) and zpool(8) by go-zfs) wherever sysctl says the
//     kernel is FreeBSD: on FreeBSD and on the FreeBSD emulation of the
//     tests alike (Detect). Only rctl_get_racct(2) is a syscall, on FreeBSD
//     builds. A machine without a FreeBSD kernel gets a Host that says
//     ErrUnsupported.
//
// # Why the rules are what they are
//
// rctl's memoryuse resource is not deniable in the racct sense: a deny rule
// on it makes the kernel's VM daemon deactivate and page out the jail's
// pages once a second while it is over the amount (kern/racct.c, vm_swapout.c),
// it never kills. So:
//
//   - the hard limit (Nomad's memory_max, or memory without memory_max) is
//     memoryuse:deny, plus memoryuse:log at the same amount so the kernel
//     writes "rctl: rule ... matched by pid P (comm), uid U, jail NAME" to
//     its message buffer when the jail reaches it;
//   - the reservation below it (memory, when memory_max is larger) is
//     memoryuse:devctl: a devd(8) notification, nothing is paged out or
//     killed.
//
// The kernel only kills for memory when the host cannot page out any more
// (swap exhausted): vm_pageout_oom logs "pid P (comm), jid J, uid U, was
// killed: REASON". OOMKilled combines both kernel records; see OOMKilled.
package freebsd
