// What the Machine methods do to a machine: signals, freezing, reading inside it. Each returns an error
// value; the bus layer names the D-Bus error.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "machined/machine.hpp"

namespace berth::machined {

// who: "leader", "all" or "" (all). Without a cgroup of its own, "all" is the leader alone.
Status kill_machine(const Machine& m, const std::string& who, int32_t signal);
// SIGKILL to everything in the machine's cgroup (cgroup.kill), or to the leader.
Status kill_machine_hard(const Machine& m);

// cgroup v2 cgroup.freeze (waiting for "frozen 1" in cgroup.events), else the v1 freezer.
Status set_frozen(Machine& m, bool frozen);
bool is_frozen(const Machine& m);

// (AF_INET | AF_INET6, address bytes) inside the machine's network namespace; ENXIO when it has none.
Result<std::vector<std::pair<int32_t, std::vector<uint8_t>>>> machine_addresses(const Machine& m);
Result<std::map<std::string, std::string>> machine_os_release(const Machine& m);
Result<uint32_t> machine_uid_shift(const Machine& m);

// `inner` id of the machine as the host sees it; ENOENT when the machine does not map it.
Result<uint32_t> map_from_machine(const Machine& m, uint32_t inner, bool group);
// Whether `m` maps host id `outer` (only machines with a user namespace of their own do), and to what.
Result<uint32_t> map_to_machine(const Machine& m, uint32_t outer, bool group);

}  // namespace berth::machined
