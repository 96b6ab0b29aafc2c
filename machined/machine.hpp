// One registered machine: what the Machine interface shows, plus what machined needs to follow it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/id128.hpp"

namespace berth::machined {

struct Machine {
    std::string name;
    Id128 id{};
    std::string service;
    std::string klass;  // "container" | "vm" | "host"
    std::string root_directory;
    std::string unit;
    pid_t leader = 0;
    uint64_t leader_start_time = 0;  // /proc/PID/stat field 22, to recognise the leader after a restart
    std::vector<int32_t> ifindices;
    uint64_t timestamp_realtime = 0, timestamp_monotonic = 0;  // usec
    // The machine's cgroup in the unified hierarchy ("/berth/web"), or "" when it has none of its own:
    // then only the leader is signalled, frozen or matched, never a cgroup shared with others.
    std::string cgroup;
    bool cgroup_created = false;  // CreateMachine made it, so removing the machine removes it
    std::vector<std::string> v1_cgroups;  // made by SetMachineLimits on hybrid hosts; removed when empty
    std::string state = "running";  // "opening" | "running" | "closing"
    bool frozen = false;
    UniqueFd pidfd;  // on the leader; none for .host
    // The leader's parent when it registered the machine (itself or through a child of its own, as our
    // nspawn does): a supervisor such as nspawn, which TerminateMachine asks to stop the machine. 0: none.
    pid_t supervisor = 0;
    uint64_t supervisor_start_time = 0;  // as leader_start_time
    UniqueFd supervisor_pidfd;

    bool is_host() const { return klass == "host"; }
};

}  // namespace berth::machined
