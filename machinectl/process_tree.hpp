// The processes of a machine, from its cgroup in the unified hierarchy, printed as systemd prints a
// unit's cgroup: own processes first, then the child cgroups by name, with tree glyphs.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace berth::machinectl {

struct CgroupNode {
    std::string path;                                      // relative to the hierarchy's root: "/berth/web"
    std::vector<std::pair<pid_t, std::string>> processes;  // sorted by pid; cmdline, or "[comm]"
    std::vector<CgroupNode> children;                      // sorted by name; only populated ones
};

// A process's cgroup and where the hierarchy is mounted: common/cgroup.hpp (own_unified_cgroup,
// detect_cgroup_layout).

// Reads root + path recursively: cgroup.procs of every directory, each process's command line.
Result<CgroupNode> read_cgroup_tree(const std::string& root, const std::string& path,
                                    const std::string& proc_root = "/proc");

// Lines "PREFIX├─PID CMDLINE" and "PREFIX└─CHILD", each ending in '\n'.
std::string render_cgroup_tree(const CgroupNode& node, const std::string& prefix);
nlohmann::ordered_json cgroup_tree_json(const CgroupNode& node);

// systemd's get_process_cmdline(): arguments joined by spaces, or "[comm]" when there are none.
std::string process_cmdline(pid_t pid, const std::string& proc_root = "/proc");
std::string process_comm(pid_t pid, const std::string& proc_root = "/proc");

}  // namespace berth::machinectl
