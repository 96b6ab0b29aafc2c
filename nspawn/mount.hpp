// Mounts. The supervisor works in a private mount namespace of its own (the host's table is never
// touched): there it prepares the machine's root once, so an ephemeral snapshot survives guest reboots.
// The child, in a copy of that namespace, mounts the API filesystems and the user's mounts, then pivots.
#pragma once

#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/paths.hpp"
#include "common/result.hpp"
#include "nspawn/plan.hpp"

namespace berth::nspawn {

struct OverlayDirs {
    std::string upper, work;  // for one writable --overlay
    std::string remove;       // what we created on the host for it, removed at exit
};

struct PreparedRoot {
    std::string path;                      // where the machine's root is mounted in the supervisor's namespace
    UniqueFd image;                        // the image directory itself
    // A tmpfs of ours on paths::kStaging/NAME (only in our namespace) holding `path`, and with --ephemeral
    // `upper` and `work`: the machine's root may walk there, which it may not do into the image's pool
    // (root's alone); named after the machine, so what a killed supervisor left is found again.
    std::string staging;
    bool per_boot = false;                 // user namespace: make_root_mount() each boot, the child attaches it
    std::string upper, work;               // --ephemeral: the snapshot's layers, on the staging tmpfs
    std::vector<OverlayDirs> overlay_dirs;  // one per writable overlay, in plan order
    std::string overlay_record;             // paths::kOverlayRecords/NAME when overlay_dirs were made
};

// Supervisor, before the first clone: private mount namespace, the staging tmpfs, and without a user
// namespace also the root (bind or ephemeral snapshot). `machine_root` is the host UID of the machine's
// root (0 without a user namespace).
Result<PreparedRoot> prepare_root(const Plan& plan, uid_t machine_root);
// Supervisor: a detached mount of the machine's root, idmapped with `userns_fd` unless it is -1.
Result<UniqueFd> make_root_mount(const Plan& plan, const PreparedRoot& root, int userns_fd);
// Child: put the mount from make_root_mount() in place; `mfd` then refers to the machine's root.
Status attach_root_mount_in_child(int mfd, const PreparedRoot& root);
// Supervisor, at exit: remove what prepare_root created on the host's filesystems.
void cleanup_root(const PreparedRoot& root);
// The staging directory of a machine (and paths::kStaging when it was the last), also one a killed
// supervisor left: the machine's lock must be held.
void remove_staging_dir(const std::string& dir);
// The overlay directories a record lists (only names of the kinds we make) and the record: the machine's
// lock must be held.
void remove_recorded_overlay_dirs(const std::string& record);

// Supervisor (user namespace without a network of its own, where sysfs may not be mounted): the host's
// /sys, read-only, without the mounts below it (debugfs, tracefs, bpffs, securityfs, cgroup v1
// hierarchies): the machine has no business there, and each would be one more mount unit for its
// systemd. Made outside, since inside the user namespace those mounts are locked to /sys.
Result<UniqueFd> make_sys_mount();
// Child: /proc, /sys (sysfs, or `sys_mount` when not -1), /sys/fs/cgroup, /run, /run/host, /tmp (the /dev
// tree is dev_tree.hpp's).
Status mount_api_filesystems_in_child(const Plan& plan, int rootfd, int sys_mount);
// Child: hide kernel-internal /proc files and make /proc/sys read-only (needs /run/host/inaccessible).
Status protect_proc_in_child(const Plan& plan, int rootfd);
// Supervisor, after clone: the detached mount for one --bind (idmapped with `userns_fd` if asked).
Result<UniqueFd> make_bind(const BindMount& b, int userns_fd);
// Supervisor, after clone, with a user namespace: the detached mount of each --overlay/--overlay-ro, in
// plan order. Its layers are idmapped as the image is (host IDs 0..65535 are the machine's), and the
// overlay is created with the machine root's host uid (`base`) as filesystem uid: overlayfs works on its
// layers with its creator's credentials, so it makes its work directory and copies files up as the
// machine's root would. The guest writes to an overlay as to its own root directory, and a new file owned
// by its root is owned by host ID 0 in the upper directory, as in the image. Made here: inside the user
// namespace neither idmapping nor a layer only host root may enter (the temporary upper) is possible.
Result<std::vector<UniqueFd>> make_machine_overlays(const Plan& plan, const PreparedRoot& root, int userns_fd,
                                                   uid_t base);
// Child: --read-only, then --bind (the supervisor's mounts, in plan order), --tmpfs, --overlay in the
// order given (the supervisor's mounts when `overlays` has them, else made here).
Status mount_custom_in_child(const Plan& plan, const PreparedRoot& root, int rootfd, std::vector<UniqueFd>& binds,
                             std::vector<UniqueFd>& overlays);
// Child: /run/host read-only.
Status finish_mounts_in_child(const Plan& plan, int rootfd);
// Child: make the directory `rootfd` the root directory and drop the old one.
Status enter_root_in_child(int rootfd);

}  // namespace berth::nspawn
