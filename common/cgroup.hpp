// Access to the cgroup v2 (unified) hierarchy, on pure v2 and on hybrid hosts, and where the v1 controller
// hierarchies of hybrid hosts are mounted.
#pragma once

#include <map>
#include <string>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth {

// Unified: cgroup2 at /sys/fs/cgroup. Hybrid: v1 controllers, cgroup2 at /sys/fs/cgroup/unified. Legacy (no
// cgroup2 at all) is only the value of a layout not yet detected: berth refuses such hosts.
enum class CgroupMode { Unified, Hybrid, Legacy };

struct CgroupLayout {
    CgroupMode mode = CgroupMode::Legacy;
    std::string unified_root;  // where cgroup2 is mounted: /sys/fs/cgroup or /sys/fs/cgroup/unified
};

// Detect, don't assume: statfs on /sys/fs/cgroup and /sys/fs/cgroup/unified; an error (EOPNOTSUPP) when
// neither is cgroup2.
Result<CgroupLayout> detect_cgroup_layout();

// Hybrid and legacy hosts: where each v1 controller hierarchy is mounted, by controller ("cpu" and
// "cpuacct" map to the same place when co-mounted); named hierarchies (name=systemd) are left out. Empty
// on a pure v2 host.
std::map<std::string, std::string> cgroup_v1_mounts();

// Where machines live: every machine NAME that berth creates a cgroup for gets /berth/NAME in the unified
// hierarchy and, on hybrid hosts, <controller mount>/berth/NAME in each v1 hierarchy it needs (limits,
// freezer). The one place these paths are spelled.
inline constexpr const char* kMachinesCgroup = "/berth";
// "/berth/NAME", relative to the unified hierarchy's root.
std::string machine_cgroup(const std::string& name);
// "<v1 mount>/berth" and "<v1 mount>/berth/NAME", absolute.
std::string machines_v1_cgroup(const std::string& v1_mount);
std::string machine_v1_cgroup(const std::string& v1_mount, const std::string& name);

// The cgroup of process `pid` (0: the calling process) in the unified hierarchy ("0::/x/y" -> "/x/y").
// `proc_root` other than /proc: tests.
Result<std::string> own_unified_cgroup(pid_t pid = 0, const std::string& proc_root = "/proc");

// One cgroup directory in the unified hierarchy.
class Cgroup {
public:
    Cgroup() = default;
    Cgroup(std::string root, std::string rel) : root_(std::move(root)), rel_(std::move(rel)) {}

    // mkdir -p; an existing empty cgroup is reused, a populated one is an error.
    static Result<Cgroup> create(const CgroupLayout& layout, const std::string& rel);

    const std::string& rel() const { return rel_; }
    std::string path() const { return root_ + rel_; }
    bool empty() const { return rel_.empty(); }

    Result<UniqueFd> open_dir() const;
    Result<bool> populated() const;
    Status write(const std::string& file, const std::string& value) const;
    Result<std::string> read(const std::string& file) const;

    // SIGKILL every process in the subtree (cgroup.kill; before Linux 5.14, once each process that this
    // cgroup's cgroup.procs lists) and wait up to `timeout_ms` until it is empty (else EBUSY). A cgroup
    // that does not exist is no error.
    Status kill_all(int timeout_ms = 5000) const;
    // Remove the subtree bottom-up; processes left inside are killed first (kill_all). Nothing to do for
    // the empty or the root cgroup.
    Status remove() const;

private:
    std::string root_;
    std::string rel_;
};

}  // namespace berth
