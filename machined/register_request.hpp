// Checking a RegisterMachine/CreateMachine request and turning it into a Machine: every refusal is an
// error value whose errno picks the D-Bus error (EINVAL InvalidArgs, EEXIST MachineExists).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "machined/machine.hpp"
#include "machined/registry.hpp"

namespace berth::machined {

struct RegistrationRequest {
    std::string name;
    std::vector<uint8_t> id;
    std::string service, klass;
    uint32_t leader = 0;  // 0: the caller
    std::string root_directory;
    std::vector<int32_t> ifindices;
};

// Who sent a call, from the bus's credentials.
struct Caller {
    pid_t pid = 0;
    uid_t uid = 0;
    std::vector<gid_t> groups;  // primary and supplementary
};

// At most this many network interfaces a machine (systemd's registrations carry one or two).
inline constexpr size_t kMaxInterfaces = 256;

// Processes that must never be a machine's leader (Terminate and Kill would then stop them): machined,
// the bus daemon (`bus_daemon`, 0 when unknown), and their ancestors up to PID 1.
std::set<pid_t> protected_pids(pid_t bus_daemon);

// Validates against the registry, opens a pidfd on the leader and records its start time and cgroup.
// With `create_cgroup` (CreateMachine without systemd) the leader is moved into a new cgroup /berth/NAME.
Result<std::unique_ptr<Machine>> prepare_machine(const RegistrationRequest& req, const Caller& caller,
                                                 const MachineRegistry& registry, bool create_cgroup,
                                                 const std::set<pid_t>& protected_leaders = {});

// The unified cgroup a machine may call its own: the leader's, unless it is the root, or holds the
// registering process or machined (a leader left in its manager's cgroup), or another machine's.
std::string exclusive_cgroup_of(pid_t leader, pid_t caller, const MachineRegistry& registry);

}  // namespace berth::machined
