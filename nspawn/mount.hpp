// Mounts. The supervisor works in a private mount namespace of its own (the host's table is never
// touched): there it prepares the machine's root once, so an ephemeral snapshot survives guest reboots.
// The child, in a copy of that namespace, mounts the API filesystems and the user's mounts, then pivots.
#pragma once

#include <string>
#include <vector>

#include "fd.hpp"
#include "plan.hpp"
#include "result.hpp"

namespace berth::nspawn {

struct OverlayDirs {
    std::string upper, work;  // for one writable --overlay
    std::string remove;       // what we created on the host for it, removed at exit
};

struct PreparedRoot {
    std::string path;                      // where the machine's root is mounted in the supervisor's namespace
    std::vector<OverlayDirs> overlay_dirs;  // one per writable overlay, in plan order
};

// Supervisor, before the first clone: private mount namespace, root bind/overlay/ephemeral snapshot.
Result<PreparedRoot> prepare_root(const Plan& plan);
// Supervisor, at exit: remove what prepare_root created on the host's filesystems.
void cleanup_root(const PreparedRoot& root);

// Child: /proc, /sys, /sys/fs/cgroup, /run, /run/host, /tmp (the /dev tree is dev.hpp's).
Status mount_api_filesystems(const Plan& plan, int rootfd);
// Child: hide kernel-internal /proc files and make /proc/sys read-only (needs /run/host/inaccessible).
Status protect_proc(const Plan& plan, int rootfd);
// Child: --bind, --tmpfs, --overlay in the order given.
Status mount_custom(const Plan& plan, const PreparedRoot& root, int rootfd);
// Child: --read-only, /run/host read-only.
Status finish_mounts(const Plan& plan, int rootfd);
// Child: make `root` the root directory and drop the old one.
Status enter_root(const std::string& root);

}  // namespace berth::nspawn
