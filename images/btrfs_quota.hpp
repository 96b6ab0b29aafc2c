// Disk space limits of images and of the pool on btrfs, through quota groups (qgroups): what
// SetImageLimit, the Image's SetLimit and SetPoolLimit set, and where an image's Usage and Limit come
// from when its filesystem keeps quota. An image's limit is on its subvolume's own qgroup (0/ID); the
// pool's on a qgroup of a higher level, 255/ID of the pool's subvolume (the level systemd gives its
// "subtree" qgroups), holding the pool's own 0/ID and those of the subvolume images in it, so that the
// pool's limit counts every image.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "images/image.hpp"

namespace berth::images {

struct Quota {
    uint64_t referenced = kUnknown, exclusive = kUnknown;          // bytes, as btrfs counts them
    uint64_t referenced_max = kUnknown, exclusive_max = kUnknown;  // kUnknown: no limit
};

// Whether `fd` is the root directory of a btrfs subvolume.
bool is_btrfs_subvolume(int fd);

// The quota of the subvolume whose root directory `fd` is (its 0/ID qgroup); nullopt when its
// filesystem keeps no quota, or no qgroup of it.
std::optional<Quota> subvolume_quota(int fd);

// The pool's quota (the 255/ID qgroup of the subvolume whose root `fd` is), as above.
std::optional<Quota> pool_quota(int fd);

// Limits what the subvolume at `fd` may reference to `bytes` (kUnknown: no limit), turning quota on
// for its filesystem first when it is off (and waiting for the first count); lifting a limit never
// turns it on. EOPNOTSUPP, saying so, when `fd` is not a btrfs subvolume's root.
Status set_subvolume_limit(int fd, uint64_t bytes);

// Limits the pool (the subvolume whose root is `pool_fd`, with every subvolume directly in it) to
// `bytes`, as above. EOPNOTSUPP when the pool is not a btrfs subvolume's root.
Status set_pool_limit(int pool_fd, uint64_t bytes);

// The pool's qgroup (255/ID), where the pool has a limit: a snapshot made in the pool names it at its
// creation (BTRFS_SUBVOL_QGROUP_INHERIT), so that btrfs counts it in the pool's limit from the start.
std::optional<uint64_t> pool_qgroup(int pool_fd);

// Makes `name` in the pool `pool_fd` a new subvolume (`source_fd` -1) or a snapshot of the subvolume
// whose root is `source_fd` (read-only when asked; of that subvolume alone: subvolumes nested in it come
// out as empty directories), counted in the pool's limit from its creation where the pool has one
// (pool_qgroup). False when btrfs refuses (not btrfs, no right to, an old kernel): the caller makes a
// directory or copies instead.
bool make_pool_subvolume(int pool_fd, const std::string& name, int source_fd = -1, bool read_only = false);

// The id of the subvolume holding `fd`.
Result<uint64_t> subvolume_id_of(int fd);

// After subvolume `id` in the directory `parent_fd` was destroyed: its qgroup leaves the pool's, and
// is removed where btrfs lets it (while its cleaner has not dropped the subvolume yet, btrfs refuses:
// the qgroup stays, shown "<stale>", until the kernel or `btrfs qgroup clear-stale` removes it).
// Nothing when quota is off; failures are left be.
void forget_qgroup(int parent_fd, uint64_t id);

}  // namespace berth::images
