// Helpers the image operations (operations.cpp) and the transfers (transfer.cpp, tar_import.cpp,
// tar_export.cpp) share: inode flags, which mount a directory is on, removing a tree without leaving its
// mount or following a link, and the hidden names of what is being made in a pool. Internal to images/.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth::images::detail {

inline constexpr ino_t kBtrfsSubvolumeRoot = 256;  // BTRFS_FIRST_FREE_OBJECTID: every subvolume's root
inline constexpr int kMaxDepth = 512;               // as common/copy_tree.hpp: one descriptor per level stays open

// Sets or clears `flag` (FS_IMMUTABLE_FL, ...) of the inode `fd`; whether it was set before.
inline Result<bool> set_flag(int fd, int flag, bool on, const std::string& what) {
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
        return errno_error(fmt::format("Failed to read the attributes of {}", what));
    bool was = flags & flag;
    if (was == on) return was;
    flags = on ? flags | flag : flags & ~flag;
    if (::ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
        return errno_error(fmt::format("Failed to {} the immutable attribute of {}", on ? "set" : "clear", what));
    return was;
}

// Which mount a directory is on: its mount id (Linux 5.8), else its device, which refuses more (a nested
// btrfs subvolume) but never lets a removal into another mount.
inline Result<uint64_t> mount_id(int fd, const std::string& shown) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID)) return stx.stx_mnt_id;
    struct stat st {};
    if (::fstat(fd, &st) < 0) return errno_error(fmt::format("Failed to look at {}", shown));
    return static_cast<uint64_t>(st.st_dev) | (uint64_t{1} << 63);
}

// Lifts the immutable and append-only attributes of `fd`, which keep an inode (and a directory's entries)
// from being removed. Failures are left be: the removal that follows names what is still in the way.
inline void clear_removal_flags(int fd) {
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL))) {
        flags &= ~(FS_IMMUTABLE_FL | FS_APPEND_FL);
        (void)::ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }
}

// Removes `name` in `dirfd` and everything below it, never following a symbolic link and never into
// another mount than `mnt` (EBUSY, naming it). Nested btrfs subvolumes go as directories do, made
// writable first when read-only. The names of a directory are read before descending, so one descriptor
// per level stays open. With `clear_flags`, immutable and append-only attributes inside the tree are
// lifted where they are in the way (a tree an archive made, whose entries may carry them); only
// directories and regular files are opened for it (never a device node: opening one may act).
inline Status remove_tree_at(int dirfd, const std::string& name, const std::string& shown, uint64_t mnt,
                             bool clear_flags = false, int depth = 0) {
    if (depth > kMaxDepth) return plain_error(fmt::format("Failed to remove {}: deeper than {} levels", shown, kMaxDepth), ELOOP);
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? Status{} : errno_error(fmt::format("Failed to look at {}", shown));
    if (!S_ISDIR(st.st_mode)) {
        int r = ::unlinkat(dirfd, name.c_str(), 0);
        // Never a file with another name (a hard link from outside the tree would lose its protection for
        // good), and only the file looked at (one swapped in meanwhile is left alone).
        if (r < 0 && errno == EPERM && clear_flags && S_ISREG(st.st_mode) && st.st_nlink == 1) {
            UniqueFd f(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
            struct stat fs {};
            if (f && ::fstat(f.get(), &fs) == 0 && S_ISREG(fs.st_mode) && fs.st_dev == st.st_dev &&
                fs.st_ino == st.st_ino && fs.st_nlink == 1)
                clear_removal_flags(f.get());
            r = ::unlinkat(dirfd, name.c_str(), 0);
        }
        if (r < 0 && errno != ENOENT) return errno_error(fmt::format("Failed to remove {}", shown));
        return {};
    }
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return errno_error(fmt::format("Failed to open {}", shown));
    BERTH_ASSIGN(uint64_t here, mount_id(fd.get(), shown));
    if (here != mnt) return plain_error(fmt::format("Failed to remove {}: another filesystem is mounted there", shown), EBUSY);
    if (st.st_ino == kBtrfsSubvolumeRoot) {
        uint64_t flags = 0;  // a read-only nested subvolume: its entries cannot go otherwise
        if (::ioctl(fd.get(), BTRFS_IOC_SUBVOL_GETFLAGS, &flags) == 0 && (flags & BTRFS_SUBVOL_RDONLY)) {
            flags &= ~static_cast<uint64_t>(BTRFS_SUBVOL_RDONLY);
            (void)::ioctl(fd.get(), BTRFS_IOC_SUBVOL_SETFLAGS, &flags);
        }
    }
    if (clear_flags) clear_removal_flags(fd.get());
    std::vector<std::string> names;
    {
        DIR* d = ::fdopendir(::dup(fd.get()));
        if (!d) return errno_error(fmt::format("Failed to read {}", shown));
        for (;;) {
            errno = 0;
            dirent* e = ::readdir(d);
            if (!e) {
                int error = errno;
                ::closedir(d);
                if (error) return sys_error(error, fmt::format("Failed to read {}", shown));
                break;
            }
            std::string entry = e->d_name;
            if (entry != "." && entry != "..") names.push_back(std::move(entry));
        }
    }
    for (auto& entry : names)
        BERTH_TRY(remove_tree_at(fd.get(), entry, shown + "/" + entry, mnt, clear_flags, depth + 1));
    fd.reset();
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
        return errno_error(fmt::format("Failed to remove {}", shown));
    return {};
}

// A hidden name for something being made in a pool: ".#KIND.HEX" (".#" is no image name, so it is never
// listed), unique, short enough for any image name.
inline std::string hidden_name(const char* kind) {
    uint64_t r = 0;
    if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint64_t>(::getpid()) << 32 ^ static_cast<uint64_t>(::time(nullptr));
    return fmt::format(".#{}.{:016x}", kind, r);
}

inline bool on_btrfs(int fd) {
    struct statfs sf {};
    return ::fstatfs(fd, &sf) == 0 && static_cast<unsigned long>(sf.f_type) == BTRFS_SUPER_MAGIC;
}

// Both on btrfs (statfs's f_fsid differs between the subvolumes of one btrfs, so it cannot tell one
// filesystem from two: the snapshot ioctl does, with EXDEV, and the copy follows).
inline bool both_btrfs(int a, int b) { return on_btrfs(a) && on_btrfs(b); }

}  // namespace berth::images::detail
