#include "machinectl/output_status.hpp"

#include <sys/socket.h>

#include <fmt/format.h>

#include "common/escape.hpp"

namespace berth::machinectl {

void apply_properties(MachineStatus& s, const std::vector<Property>& props) {
    for (auto& p : props) {
        const auto& j = p.json;
        if (p.name == "Name" && j.is_string()) s.name = j.get<std::string>();
        else if (p.name == "Id" && j.is_string()) s.id = j.get<std::string>();
        else if (p.name == "Class" && j.is_string()) s.cls = j.get<std::string>();
        else if (p.name == "Service" && j.is_string()) s.service = j.get<std::string>();
        else if (p.name == "Unit" && j.is_string()) s.unit = j.get<std::string>();
        else if (p.name == "RootDirectory" && j.is_string()) s.root = j.get<std::string>();
        else if (p.name == "State" && j.is_string()) s.state = j.get<std::string>();
        else if (p.name == "Timestamp" && j.is_number_unsigned()) s.timestamp = j.get<uint64_t>();
        else if (p.name == "TimestampMonotonic" && j.is_number_unsigned()) s.timestamp_monotonic = j.get<uint64_t>();
        else if (p.name == "Leader" && j.is_number_unsigned()) s.leader = static_cast<pid_t>(j.get<uint32_t>());
        else if (p.name == "NetworkInterfaces" && j.is_array()) s.ifindices = j.get<std::vector<int>>();
        else if (p.name == "Frozen" && j.is_boolean()) s.frozen = j.get<bool>();
        else if (p.name == "ControlGroup" && j.is_string()) s.cgroup = j.get<std::string>();
    }
}

std::string format_status(const MachineStatus& s, uint64_t now) {
    std::string out = s.name.empty() ? "n/a" : s.name;
    if (!s.id.empty() && s.id.find_first_not_of('0') != std::string::npos) out += "(" + s.id + ")";
    out += "\n";

    std::string since = format_timestamp(s.timestamp), ago = format_timestamp_relative(s.timestamp, now);
    if (!ago.empty()) out += fmt::format("\t   Since: {}; {}\n", since.empty() ? "n/a" : since, ago);
    else if (!since.empty()) out += fmt::format("\t   Since: {}\n", since);

    if (s.leader > 0) {
        out += fmt::format("\t  Leader: {}", s.leader);
        if (!s.leader_comm.empty()) out += fmt::format(" ({})", escape_untrusted(s.leader_comm));
        out += "\n";
    }
    if (!s.service.empty()) {
        out += "\t Service: " + escape_untrusted(s.service);
        if (!s.cls.empty()) out += "; class " + escape_untrusted(s.cls);
        out += "\n";
    } else if (!s.cls.empty()) {
        out += "\t   Class: " + escape_untrusted(s.cls) + "\n";
    }
    if (!s.root.empty()) out += "\t    Root: " + escape_untrusted(s.root) + "\n";
    if (!s.state.empty() || s.frozen.value_or(false)) {
        out += "\t   State: " + (s.state.empty() ? std::string("n/a") : s.state);
        if (s.frozen.value_or(false)) out += "; frozen";
        out += "\n";
    }

    // As systemd: a single interface scopes the IPv6 addresses (fe80::1%3).
    int ifi = -1;
    if (!s.ifindices.empty()) {
        out += "\t   Iface:";
        for (size_t i = 0; i < s.ifindices.size(); i++) {
            std::string name = i < s.ifnames.size() ? s.ifnames[i] : "";
            if (!name.empty()) {
                out += " " + name;
                ifi = ifi < 0 ? s.ifindices[i] : 0;
            } else {
                out += fmt::format(" {}", s.ifindices[i]);
            }
        }
        out += "\n";
    }
    for (size_t i = 0; i < s.addresses.size(); i++) {
        out += i == 0 ? "\t Address: " : "\t          ";
        out += s.addresses[i].second;
        if (s.addresses[i].first == AF_INET6 && ifi > 0) out += fmt::format("%{}", ifi);
        out += "\n";
    }
    if (!s.os_pretty_name.empty()) out += "\t      OS: " + escape_untrusted(s.os_pretty_name) + "\n";
    if (s.uid_shift != 0) out += fmt::format("  UID Shift: {}\n", s.uid_shift);  // sic, as Debian's systemd 252
    if (!s.unit.empty()) out += "\t    Unit: " + escape_untrusted(s.unit) + "\n";
    if (!s.cgroup.empty()) out += "\t  CGroup: " + escape_untrusted(s.cgroup) + "\n";
    if (s.processes) out += render_cgroup_tree(*s.processes, "\t\t  ");
    return out;
}

nlohmann::ordered_json status_json(const MachineStatus& s, const std::vector<Property>& props) {
    auto j = nlohmann::ordered_json::object();
    for (auto& p : props) j[p.name] = p.json;
    j["LeaderComm"] = s.leader_comm.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.leader_comm);
    j["NetworkInterfaceNames"] = s.ifnames;
    j["Addresses"] = nlohmann::ordered_json::array();
    for (auto& [family, text] : s.addresses) j["Addresses"].push_back(text);
    j["OSPrettyName"] = s.os_pretty_name.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.os_pretty_name);
    j["UIDShift"] = s.uid_shift;
    j["ControlGroup"] = s.cgroup.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.cgroup);
    j["Processes"] = s.processes ? cgroup_tree_json(*s.processes) : nlohmann::ordered_json(nullptr);
    return j;
}

}  // namespace berth::machinectl
