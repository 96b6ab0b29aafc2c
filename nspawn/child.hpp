// The child: future PID 1 of the machine. It executes the plan as a fixed list of steps and never
// parses anything; every failure goes back to the supervisor as a Failed message.
#pragma once

#include "nspawn/mount.hpp"
#include "nspawn/plan.hpp"
#include "nspawn/seccomp.hpp"
#include "nspawn/sync.hpp"

namespace berth::nspawn {

struct ChildContext {
    const Plan& plan;
    const PreparedRoot& root;
    const Channel& channel;
    const SeccompProgram& seccomp;
    bool unshare_cgroupns;  // the kernel could not clone into the cgroup: enter a new cgroup ns ourselves
    int supervisor_pidfd;   // to notice a supervisor that died while the death signal was not armed
};

[[noreturn]] void run_child(const ChildContext& ctx);

}  // namespace berth::nspawn
