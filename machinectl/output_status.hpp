// `machinectl status`: systemd's layout (name(id), Since, Leader, Service, Root, Iface, Address, OS,
// UID Shift, Unit), plus our State and CGroup lines and the process tree.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "machinectl/process_tree.hpp"
#include "machinectl/properties.hpp"

namespace berth::machinectl {

struct MachineStatus {
    std::string name, id, cls, service, unit, root, state;  // id: 32 hex digits, "" or zeros when unknown
    uint64_t timestamp = 0;                                 // realtime usec
    uint64_t timestamp_monotonic = 0;                       // the start on CLOCK_MONOTONIC, usec
    pid_t leader = 0;
    std::string leader_comm;
    std::vector<int> ifindices;
    std::vector<std::string> ifnames;      // host-side names, same order ("" when gone)
    std::vector<std::pair<int, std::string>> addresses;  // family, text
    std::string os_pretty_name;
    uint32_t uid_shift = 0;
    std::optional<bool> frozen;            // io.berth.Machine1, when machined has it
    std::string cgroup;                    // the machine's own (io.berth.Machine1's ControlGroup), else the leader's; "" when unknown
    std::optional<CgroupNode> processes;
};

// Fills the fields that come from the machine object's properties.
void apply_properties(MachineStatus& s, const std::vector<Property>& props);

std::string format_status(const MachineStatus& s, uint64_t now_usec);
nlohmann::ordered_json status_json(const MachineStatus& s, const std::vector<Property>& props);

}  // namespace berth::machinectl
