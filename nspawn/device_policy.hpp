// Device access of the machine: only the standard pseudo-devices (null zero full random urandom tty
// ptmx, pts/*: its /dev/console is one of its ptys) may be opened or created; no host block or character
// device becomes reachable.
// A BPF_PROG_TYPE_CGROUP_DEVICE program attached to the machine's unified cgroup (with BPF_F_ALLOW_MULTI
// so the guest's systemd can add its own), on pure v2 and hybrid hosts; the v1 devices controller where
// the kernel cannot run cgroup BPF programs.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/cgroup.hpp"
#include "common/fd.hpp"

namespace berth::nspawn {

struct DeviceGuard {
    std::string v1_path;  // devices cgroup created on a v1/hybrid host, removed at exit
    UniqueFd bpf_link;    // v2: the attached program (closing the supervisor's fd keeps it attached)
};

// Supervisor, once the child is in the machine cgroup and waits: the program (or the v1 devices cgroup).
Result<DeviceGuard> configure_device_policy(const Cgroup& machine, const std::string& name);
// Supervisor, once the child exists (v1: move it into the devices cgroup).
Status configure_device_cgroup(const DeviceGuard& g, pid_t pid);
// Supervisor, at exit.
void cleanup_device_policy(DeviceGuard& g);

}  // namespace berth::nspawn
