#include "images/btrfs_quota.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <endian.h>

#include <spdlog/spdlog.h>

#include "common/fd.hpp"

namespace berth::images {

namespace {

constexpr uint64_t kPoolLevel = 255;  // the level of the pool's qgroup, as systemd's subtree qgroups
constexpr uint64_t kClear = ~0ULL;    // a limit of (u64)-1 clears it (btrfs)

uint64_t qgroup_id(uint64_t level, uint64_t id) { return level << 48 | id; }

// The id of the subvolume holding `fd`.
Result<uint64_t> subvolume_id(int fd) {
    btrfs_ioctl_ino_lookup_args args{};
    args.treeid = 0;
    args.objectid = BTRFS_FIRST_FREE_OBJECTID;
    if (::ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args) < 0) return errno_error("Failed to find the btrfs subvolume");
    return static_cast<uint64_t>(args.treeid);
}

bool same_filesystem(int a, int b) {
    btrfs_ioctl_fs_info_args fa{}, fb{};
    return ::ioctl(a, BTRFS_IOC_FS_INFO, &fa) == 0 && ::ioctl(b, BTRFS_IOC_FS_INFO, &fb) == 0 &&
           std::memcmp(fa.fsid, fb.fsid, sizeof fa.fsid) == 0;
}

// The one item (0, TYPE, QGROUP) of the quota tree, copied to `out` (`size` bytes at most). False when
// there is none, or no quota tree (quota off: ENOENT).
bool read_item(int fd, uint8_t type, uint64_t qgroup, void* out, size_t size) {
    btrfs_ioctl_search_args args{};
    auto& key = args.key;
    key.tree_id = BTRFS_QUOTA_TREE_OBJECTID;
    key.min_objectid = key.max_objectid = 0;
    key.min_type = key.max_type = type;
    key.min_offset = key.max_offset = qgroup;
    key.max_transid = ~0ULL;
    key.nr_items = 1;
    if (::ioctl(fd, BTRFS_IOC_TREE_SEARCH, &args) < 0 || key.nr_items == 0) return false;
    btrfs_ioctl_search_header h;
    std::memcpy(&h, args.buf, sizeof h);
    if (h.objectid != 0 || h.type != type || h.offset != qgroup || h.len < size ||
        sizeof h + h.len > sizeof args.buf)
        return false;
    std::memcpy(out, args.buf + sizeof h, size);
    return true;
}

// Qgroup `qgroup`'s figures and limits; nullopt when quota is off or there is no such qgroup.
std::optional<Quota> read_qgroup(int fd, uint64_t qgroup) {
    btrfs_qgroup_info_item info{};
    if (!read_item(fd, BTRFS_QGROUP_INFO_KEY, qgroup, &info, sizeof info)) return std::nullopt;
    Quota q;
    q.referenced = le64toh(info.rfer);
    q.exclusive = le64toh(info.excl);
    btrfs_qgroup_limit_item limit{};
    if (read_item(fd, BTRFS_QGROUP_LIMIT_KEY, qgroup, &limit, sizeof limit)) {
        uint64_t flags = le64toh(limit.flags);
        if (flags & BTRFS_QGROUP_LIMIT_MAX_RFER) q.referenced_max = le64toh(limit.max_rfer);
        if (flags & BTRFS_QGROUP_LIMIT_MAX_EXCL) q.exclusive_max = le64toh(limit.max_excl);
    }
    return q;
}

// Whether the filesystem of `fd` keeps quota (it has a quota tree).
bool quota_on(int fd) {
    btrfs_ioctl_search_args probe{};
    probe.key.tree_id = BTRFS_QUOTA_TREE_OBJECTID;
    probe.key.max_objectid = probe.key.max_offset = probe.key.max_transid = ~0ULL;
    probe.key.max_type = 255;
    probe.key.nr_items = 1;
    return ::ioctl(fd, BTRFS_IOC_TREE_SEARCH, &probe) == 0;
}

// Quota on for the filesystem of `fd`, with its first count done: nothing when it is on already.
Status enable_quota(int fd) {
    if (quota_on(fd)) return {};
    btrfs_ioctl_quota_ctl_args ctl{};
    ctl.cmd = BTRFS_QUOTA_CTL_ENABLE;
    if (::ioctl(fd, BTRFS_IOC_QUOTA_CTL, &ctl) < 0) return errno_error("Failed to turn btrfs quota on");
    spdlog::info("Turned btrfs quota on, for a disk space limit");
    if (::ioctl(fd, BTRFS_IOC_QUOTA_RESCAN_WAIT) < 0 && errno != ENOTCONN)
        return errno_error("Failed to wait for btrfs quota's first count");
    return {};
}

// Limits qgroup `qgroup` (0: the subvolume of `fd`) to `bytes` referenced; makes the qgroup when there
// is none (`make_id` is then the qgroup to make).
Status limit_qgroup(int fd, uint64_t qgroup, uint64_t make_id, uint64_t bytes) {
    btrfs_ioctl_qgroup_limit_args args{};
    args.qgroupid = qgroup;
    args.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
    args.lim.max_rfer = bytes == kUnknown ? kClear : bytes;
    if (::ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args) == 0) return {};
    if (errno != ENOENT) return errno_error("Failed to set the btrfs quota limit");
    btrfs_ioctl_qgroup_create_args create{};
    create.create = 1;
    create.qgroupid = make_id;
    if (::ioctl(fd, BTRFS_IOC_QGROUP_CREATE, &create) < 0 && errno != EEXIST)
        return errno_error("Failed to make a btrfs quota group");
    if (::ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &args) < 0) return errno_error("Failed to set the btrfs quota limit");
    return {};
}

// Makes qgroup `child` a member of `parent`. True when btrfs asks for a new count (the member's figures
// could not simply be added).
Result<bool> assign(int fd, uint64_t child, uint64_t parent, bool add = true) {
    btrfs_ioctl_qgroup_assign_args args{};
    args.assign = add ? 1 : 0;
    args.src = child;
    args.dst = parent;
    int r = ::ioctl(fd, BTRFS_IOC_QGROUP_ASSIGN, &args);
    if (r < 0 && errno == (add ? EEXIST : ENOENT)) return false;
    if (r < 0) return errno_error("Failed to change the members of the pool's btrfs quota group");
    return r > 0;
}

// A new count of the whole filesystem (btrfs asked for one), waited for when `wait`.
void recount(int fd, bool wait) {
    btrfs_ioctl_quota_rescan_args args{};
    if (::ioctl(fd, BTRFS_IOC_QUOTA_RESCAN, &args) < 0 && errno != EINPROGRESS)
        spdlog::warn("btrfs quota figures may be wrong until counted again: {}", std::strerror(errno));
    if (wait) (void)::ioctl(fd, BTRFS_IOC_QUOTA_RESCAN_WAIT);
}

}  // namespace

bool is_btrfs_subvolume(int fd) {
    struct stat st {};
    struct statfs sf {};
    return ::fstat(fd, &st) == 0 && st.st_ino == BTRFS_FIRST_FREE_OBJECTID && ::fstatfs(fd, &sf) == 0 &&
           static_cast<unsigned long>(sf.f_type) == BTRFS_SUPER_MAGIC;
}

std::optional<Quota> subvolume_quota(int fd) {
    if (!is_btrfs_subvolume(fd)) return std::nullopt;
    auto id = subvolume_id(fd);
    if (!id.ok()) return std::nullopt;
    return read_qgroup(fd, qgroup_id(0, *id));
}

std::optional<Quota> pool_quota(int fd) {
    if (!is_btrfs_subvolume(fd)) return std::nullopt;
    auto id = subvolume_id(fd);
    if (!id.ok()) return std::nullopt;
    return read_qgroup(fd, qgroup_id(kPoolLevel, *id));
}

Status set_subvolume_limit(int fd, uint64_t bytes) {
    if (!is_btrfs_subvolume(fd))
        return plain_error("a disk space limit needs a btrfs subvolume (btrfs quota)", EOPNOTSUPP);
    BERTH_ASSIGN(uint64_t id, subvolume_id(fd));
    if (bytes == kUnknown && !quota_on(fd)) return {};  // no limit to lift: quota stays off
    BERTH_TRY(enable_quota(fd));
    return limit_qgroup(fd, 0, qgroup_id(0, id), bytes);
}

Status set_pool_limit(int pool_fd, uint64_t bytes) {
    if (!is_btrfs_subvolume(pool_fd))
        return plain_error("a disk space limit needs a pool that is a btrfs subvolume (btrfs quota)", EOPNOTSUPP);
    BERTH_ASSIGN(uint64_t id, subvolume_id(pool_fd));
    uint64_t pool_group = qgroup_id(kPoolLevel, id);
    if (bytes == kUnknown && !read_qgroup(pool_fd, pool_group)) return {};  // no limit to lift
    BERTH_TRY(enable_quota(pool_fd));
    BERTH_TRY(limit_qgroup(pool_fd, pool_group, pool_group, bytes));
    BERTH_ASSIGN(bool again, assign(pool_fd, qgroup_id(0, id), pool_group));
    // Every subvolume directly in the pool (of the same filesystem): the images that are subvolumes.
    UniqueFd list(::openat(pool_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* d = list ? ::fdopendir(list.get()) : nullptr;
    if (!d) return errno_error("Failed to list the pool");
    (void)list.release();
    while (auto* e = ::readdir(d)) {
        if (e->d_type != DT_DIR || !std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
        UniqueFd sub(::openat(pool_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
        if (!sub || !is_btrfs_subvolume(sub.get()) || !same_filesystem(pool_fd, sub.get())) continue;
        auto sid = subvolume_id(sub.get());
        if (!sid.ok()) continue;
        auto r = assign(pool_fd, qgroup_id(0, *sid), pool_group);
        if (!r.ok()) {
            ::closedir(d);
            return r.error();
        }
        again = again || *r;
    }
    ::closedir(d);
    if (again) recount(pool_fd, true);
    return {};
}

std::optional<uint64_t> pool_qgroup(int pool_fd) {
    if (!is_btrfs_subvolume(pool_fd)) return std::nullopt;
    auto id = subvolume_id(pool_fd);
    if (!id.ok() || !read_qgroup(pool_fd, qgroup_id(kPoolLevel, *id))) return std::nullopt;
    return qgroup_id(kPoolLevel, *id);
}

Result<uint64_t> subvolume_id_of(int fd) { return subvolume_id(fd); }

bool make_pool_subvolume(int pool_fd, const std::string& name, int source_fd, bool read_only) {
    btrfs_ioctl_vol_args_v2 args{};
    args.fd = source_fd < 0 ? 0 : source_fd;
    if (read_only) args.flags = BTRFS_SUBVOL_RDONLY;
    std::strncpy(args.name, name.c_str(), sizeof args.name - 1);
    // Counted in the pool's limit from its creation, where the pool has one.
    alignas(btrfs_qgroup_inherit) unsigned char inherit[sizeof(btrfs_qgroup_inherit) + sizeof(uint64_t)] = {};
    if (auto group = pool_qgroup(pool_fd)) {
        auto* head = reinterpret_cast<btrfs_qgroup_inherit*>(inherit);
        head->num_qgroups = 1;
        std::memcpy(inherit + sizeof(btrfs_qgroup_inherit), &*group, sizeof(uint64_t));
        args.flags |= BTRFS_SUBVOL_QGROUP_INHERIT;
        args.size = sizeof inherit;
        args.qgroup_inherit = head;
    }
    return ::ioctl(pool_fd, source_fd < 0 ? BTRFS_IOC_SUBVOL_CREATE_V2 : BTRFS_IOC_SNAP_CREATE_V2, &args) == 0;
}

void forget_qgroup(int parent_fd, uint64_t id) {
    if (!quota_on(parent_fd)) return;
    uint64_t group = qgroup_id(0, id);
    auto parent = subvolume_id(parent_fd);
    if (parent.ok()) {
        auto r = assign(parent_fd, group, qgroup_id(kPoolLevel, *parent), false);
        if (r.ok() && *r) recount(parent_fd, false);
    }
    btrfs_ioctl_qgroup_create_args args{};
    args.create = 0;
    args.qgroupid = group;
    (void)::ioctl(parent_fd, BTRFS_IOC_QGROUP_CREATE, &args);  // else the kernel removes it, or it stays
}

}  // namespace berth::images
