// The new mount API (fsopen/fsmount/open_tree/move_mount/mount_setattr): mounts are built detached and
// attached by file descriptor, so a target is always resolved inside the machine's root.
#pragma once

#include <linux/mount.h>

#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth {

// A detached filesystem mount. `options`: "key=value,flag,..." as for mount(8); `attrs`: MOUNT_ATTR_*.
Result<UniqueFd> make_fs_mount(const std::string& fstype, const std::string& options, unsigned attrs,
                               const std::string& source = "");

// A detached overlayfs mount. Each layer is handed to the kernel on its own ("lowerdir+", topmost lower
// first), never joined into an option string, so no character of a path (':', ',', '\\') is read as a
// separator or an option: a path chosen inside an image cannot add layers or options. upper and work may
// be empty (a read-only overlay). Kernels before 6.8 (no "lowerdir+") get one "lowerdir" with every
// path escaped.
Result<UniqueFd> make_overlay_mount(const std::vector<std::string>& lowers_top_first, const std::string& upper,
                                    const std::string& work, unsigned attrs);

// An overlayfs layer path escaped as overlayfs unescapes it ('\\', ':' and ',' behind a backslash).
std::string overlay_escape(const std::string& path);

// A detached copy of the tree at `path` (host path, or "" with `dirfd` to use dirfd itself).
Result<UniqueFd> make_bind_mount(int dirfd, const std::string& path, bool recursive);

// Set/clear MOUNT_ATTR_* on the mount `fd` refers to (recursively if asked).
Status set_mount_attrs(int fd, unsigned set, unsigned clear, bool recursive);

// Idmap the detached mount `fd` with the user namespace `userns_fd` (EINVAL: the filesystem cannot).
Status set_idmap(int fd, int userns_fd, bool recursive);

// Attach detached mount `mfd` on `target` (an fd on the mount point).
Status attach_mount(int mfd, int target_fd);

// Attach `mfd` at `dest` inside `rootfd`, creating the mount point (a directory, or a file if `file`).
Status attach_in_root(int mfd, int rootfd, const std::string& dest, bool file = false);

}  // namespace berth
