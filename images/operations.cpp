#include "images/operations.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/copy_tree.hpp"
#include "common/lock_file.hpp"

namespace berth::images {

namespace {

constexpr const char* kSystemdLocks = "/run/systemd/nspawn/locks";
constexpr std::string_view kRawSuffix = ".raw";

bool vendor(const Image& i) { return i.path == "/usr" || i.path.rfind("/usr/", 0) == 0; }

// .host and /usr are nobody's to change (EROFS, as 252 answers).
Status refuse_unchangeable(const Image& i, const char* what) {
    if (i.is_host())
        return plain_error(fmt::format("Cannot {} image \"{}\": it is the host's root directory", what, i.name), EROFS);
    if (vendor(i))
        return plain_error(fmt::format("Cannot {} image \"{}\": images under /usr are read-only", what, i.name), EROFS);
    return {};
}

struct Place {
    UniqueFd dir;       // the directory the image is an entry of
    std::string entry;  // its name there (NAME, NAME.raw)
    std::string dir_path;
    bool link = false;  // the entry is a symbolic link to the image (as discovery follows one)
};

Result<Place> place_of(const Image& i) {
    BERTH_ASSIGN(SplitPath split, split_last_component(i.path));
    Place p{UniqueFd(::open(split.parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)), split.name, split.parent};
    if (!p.dir) return errno_error(fmt::format("Failed to open {}", split.parent));
    struct stat st {};
    if (::fstatat(p.dir.get(), p.entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno_error(fmt::format("Failed to look at image \"{}\" ({})", i.name, i.path));
    p.link = S_ISLNK(st.st_mode);
    return p;
}

std::string entry_for(const Image& i, const std::string& name) {
    return i.type == ImageType::Raw ? name + std::string(kRawSuffix) : name;
}

// The image's own inode: through the symbolic link when the entry is one, and checked to be the inode
// discovery found (a link changed meanwhile is no longer that image).
Result<UniqueFd> open_top(const Place& p, const Image& i) {
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (p.link ? 0 : O_NOFOLLOW);
    if (i.type == ImageType::Directory || i.type == ImageType::Subvolume) flags |= O_DIRECTORY;
    UniqueFd fd(::openat(p.dir.get(), p.entry.c_str(), flags));
    if (!fd) return errno_error(fmt::format("Failed to open image \"{}\" ({})", i.name, i.path));
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0 || (i.dev && (st.st_dev != i.dev || st.st_ino != i.ino)))
        return plain_error(fmt::format("Image \"{}\" ({}) changed meanwhile", i.name, i.path), ESTALE);
    return fd;
}

Result<bool> set_flag(int fd, int flag, bool on, const std::string& what) {
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

Status set_subvolume_read_only(int fd, bool on, const std::string& what) {
    uint64_t flags = 0;
    if (::ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0)
        return errno_error(fmt::format("Failed to read the flags of subvolume {}", what));
    flags = on ? flags | BTRFS_SUBVOL_RDONLY : flags & ~static_cast<uint64_t>(BTRFS_SUBVOL_RDONLY);
    if (::ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags) < 0)
        return errno_error(fmt::format("Failed to make subvolume {} {}", what, on ? "read-only" : "writable"));
    return {};
}

uint64_t mount_id(int dirfd, const char* name) {
    struct statx stx {};
    if (::statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0) return 0;
    return stx.stx_mnt_id;
}

// Removes `name` in `dirfd` and everything below it, never following a symbolic link and never into
// another mount (EBUSY, naming it). Empty btrfs subvolumes go as directories do.
Status remove_tree_at(int dirfd, const std::string& name, const std::string& shown, uint64_t mnt, int depth = 0) {
    if (depth > 4096) return plain_error(fmt::format("Failed to remove {}: too deep", shown), ELOOP);
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? Status{} : errno_error(fmt::format("Failed to look at {}", shown));
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT)
            return errno_error(fmt::format("Failed to remove {}", shown));
        return {};
    }
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return errno_error(fmt::format("Failed to open {}", shown));
    if (mount_id(fd.get(), "") != mnt)
        return plain_error(fmt::format("Failed to remove {}: something is mounted there", shown), EBUSY);
    DIR* d = ::fdopendir(::dup(fd.get()));
    if (!d) return errno_error(fmt::format("Failed to read {}", shown));
    Status s;
    while (s.ok()) {
        errno = 0;
        dirent* e = ::readdir(d);
        if (!e) {
            if (errno) s = errno_error(fmt::format("Failed to read {}", shown));
            break;
        }
        std::string entry = e->d_name;
        if (entry == "." || entry == "..") continue;
        s = remove_tree_at(fd.get(), entry, shown + "/" + entry, mnt, depth + 1);
    }
    ::closedir(d);
    if (!s.ok()) return s;
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
        return errno_error(fmt::format("Failed to remove {}", shown));
    return {};
}

std::string settings_file(const std::string& dir, const std::string& name) { return dir + "/" + name + ".toml"; }

// Every settings directory, and the one the image is in (whose NAME.toml nspawn reads as untrusted).
std::vector<std::string> settings_places(const SettingsDirs& settings, const std::string& image_dir) {
    std::vector<std::string> all = settings.dirs;
    all.push_back(image_dir);
    return all;
}

// A name for a copy being made: hidden (".#" is no image name), unique.
std::string temporary_name(const std::string& entry) {
    uint64_t r = 0;
    if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint64_t>(::getpid()) << 32 ^ static_cast<uint64_t>(::time(nullptr));
    return fmt::format(".#{}.{:016x}", entry, r);
}

bool same_btrfs(int a, int b) {
    struct statfs fa {}, fb {};
    return ::fstatfs(a, &fa) == 0 && ::fstatfs(b, &fb) == 0 && static_cast<unsigned long>(fa.f_type) == BTRFS_SUPER_MAGIC &&
           static_cast<unsigned long>(fb.f_type) == BTRFS_SUPER_MAGIC && std::memcmp(&fa.f_fsid, &fb.f_fsid, sizeof fa.f_fsid) == 0;
}

Status copy_settings(const std::vector<std::string>& dirs, const std::string& from, const std::string& to,
                     const std::string& to_dir_for_last) {
    for (size_t k = 0; k < dirs.size(); k++) {
        std::string src = settings_file(dirs[k], from);
        if (::access(src.c_str(), F_OK) < 0) continue;
        // The one beside the image goes beside the copy.
        std::string dst_dir = k + 1 == dirs.size() ? to_dir_for_last : dirs[k];
        UniqueFd s(::open(dirs[k].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)), d(::open(dst_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!s || !d) continue;
        auto r = copy_tree_at(s.get(), from + ".toml", d.get(), to + ".toml", CopyTreeOptions{});
        if (!r.ok() && r.error().code != EEXIST) return r;
    }
    return {};
}

}  // namespace

// ---- ImageLock ---------------------------------------------------------------------------------------

Result<ImageLock> ImageLock::take(const Image& image, bool exclusive) {
    ImageLock lock;
    auto busy = [&] {
        return plain_error(fmt::format("Image \"{}\" is in use by a running machine", image.name), EBUSY);
    };
    lock.path_ = image_lock_path(image.dev, image.ino);
    auto fd = lock_in_lock_dir(lock.path_, exclusive);
    if (!fd.ok()) {
        if (fd.error().code == EWOULDBLOCK) return busy();
        return wrap_error(fd.error(), fmt::format("Failed to lock image \"{}\"", image.name));
    }
    lock.fd_ = std::move(*fd);
    // systemd-nspawn's: only looked at. Held with ours, so that none starts on the image meanwhile.
    std::string theirs = fmt::format("{}/inode-{}:{}", kSystemdLocks, static_cast<unsigned long>(image.dev),
                                     static_cast<unsigned long>(image.ino));
    UniqueFd t(::open(theirs.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
    if (t && ::flock(t.get(), (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0 && errno == EWOULDBLOCK) return busy();
    lock.systemd_ = std::move(t);
    return lock;
}

ImageLock::~ImageLock() { release_lock(path_, std::move(fd_)); }

// ---- the operations --------------------------------------------------------------------------------------

Status remove_image(const Image& image, const SettingsDirs& settings) {
    BERTH_TRY(refuse_unchangeable(image, "remove"));
    if (image.type == ImageType::Block)
        return plain_error(fmt::format("Cannot remove image \"{}\": it is a block device", image.name), EOPNOTSUPP);
    BERTH_ASSIGN(Place p, place_of(image));
    std::string shown = fmt::format("image \"{}\" ({})", image.name, image.path);
    if (p.link) {  // the link is the image's place in the pool; what it points to is not the pool's
        if (::unlinkat(p.dir.get(), p.entry.c_str(), 0) < 0) return errno_error(fmt::format("Failed to remove {}", shown));
    } else if (image.type == ImageType::Raw) {
        BERTH_ASSIGN(UniqueFd top, open_top(p, image));
        (void)set_flag(top.get(), FS_IMMUTABLE_FL, false, shown);
        if (::unlinkat(p.dir.get(), p.entry.c_str(), 0) < 0) return errno_error(fmt::format("Failed to remove {}", shown));
    } else {
        BERTH_ASSIGN(UniqueFd top, open_top(p, image));
        // Read-only images go too, as in 252: their flag is cleared first.
        if (image.type == ImageType::Subvolume) (void)set_subvolume_read_only(top.get(), false, shown);
        (void)set_flag(top.get(), FS_IMMUTABLE_FL, false, shown);
        bool destroyed = false;
        if (image.type == ImageType::Subvolume) {
            btrfs_ioctl_vol_args args{};
            std::strncpy(args.name, p.entry.c_str(), sizeof args.name - 1);
            destroyed = ::ioctl(p.dir.get(), BTRFS_IOC_SNAP_DESTROY, &args) == 0;  // else: nested ones, or no right
        }
        if (!destroyed) BERTH_TRY(remove_tree_at(p.dir.get(), p.entry, shown, mount_id(top.get(), "")));
    }
    for (auto& dir : settings_places(settings, p.dir_path))
        if (::unlink(settings_file(dir, image.name).c_str()) < 0 && errno != ENOENT)
            return errno_error(fmt::format("Removed image \"{}\", but not its settings {}", image.name,
                                           settings_file(dir, image.name)));
    return {};
}

Status rename_image(const Image& image, const std::string& new_name, const SettingsDirs& settings) {
    if (!image_name_valid(new_name)) return plain_error(fmt::format("Image name '{}' is invalid.", new_name), EINVAL);
    BERTH_TRY(refuse_unchangeable(image, "rename"));
    BERTH_ASSIGN(Place p, place_of(image));
    std::string shown = fmt::format("image \"{}\" ({})", image.name, image.path), to = entry_for(image, new_name);
    BERTH_ASSIGN(UniqueFd top, open_top(p, image));
    // An immutable directory cannot be renamed: its flag is lifted for the rename and put back (252 too).
    bool immutable = false;
    if (image.type != ImageType::Block && !p.link) {
        auto was = set_flag(top.get(), FS_IMMUTABLE_FL, false, shown);
        immutable = was.ok() && *was;
    }
    int r = ::renameat2(p.dir.get(), p.entry.c_str(), p.dir.get(), to.c_str(), RENAME_NOREPLACE);
    int error = errno;
    if (immutable) (void)set_flag(top.get(), FS_IMMUTABLE_FL, true, shown);
    if (r < 0) {
        if (error == EEXIST) return plain_error(fmt::format("Image \"{}\" already exists", new_name), EEXIST);
        return sys_error(error, fmt::format("Failed to rename {} to \"{}\"", shown, new_name));
    }
    for (auto& dir : settings_places(settings, p.dir_path)) {
        std::string from = settings_file(dir, image.name);
        if (::rename(from.c_str(), settings_file(dir, new_name).c_str()) < 0 && errno != ENOENT)
            return errno_error(fmt::format("Renamed image \"{}\" to \"{}\", but not its settings {}", image.name,
                                           new_name, from));
    }
    return {};
}

Status mark_read_only(const Image& image, bool read_only) {
    BERTH_TRY(refuse_unchangeable(image, read_only ? "make read-only" : "make writable"));
    if (image.type == ImageType::Block)
        return plain_error(fmt::format("Cannot change image \"{}\": it is a block device", image.name), EOPNOTSUPP);
    BERTH_ASSIGN(Place p, place_of(image));
    std::string shown = fmt::format("image \"{}\" ({})", image.name, image.path);
    BERTH_ASSIGN(UniqueFd top, open_top(p, image));
    switch (image.type) {
        case ImageType::Subvolume:
            if (!read_only) (void)set_flag(top.get(), FS_IMMUTABLE_FL, false, shown);
            return set_subvolume_read_only(top.get(), read_only, shown);
        case ImageType::Directory: {
            auto r = set_flag(top.get(), FS_IMMUTABLE_FL, read_only, shown);
            if (!r.ok()) return r.error();
            return {};
        }
        case ImageType::Raw: {
            struct stat st {};
            if (::fstat(top.get(), &st) < 0) return errno_error(fmt::format("Failed to look at {}", shown));
            if (!read_only) (void)set_flag(top.get(), FS_IMMUTABLE_FL, false, shown);
            mode_t mode = read_only ? st.st_mode & 07555 : (st.st_mode & 07777) | 0200;
            if (::fchmod(top.get(), mode) < 0) return errno_error(fmt::format("Failed to change the mode of {}", shown));
            return {};
        }
        case ImageType::Block: break;
    }
    return {};
}

Status clone_image(const Image& image, const std::string& pool, const std::string& new_name, bool read_only,
                   const SettingsDirs& settings) {
    if (!image_name_valid(new_name)) return plain_error(fmt::format("Image name '{}' is invalid.", new_name), EINVAL);
    if (image.is_host())
        return plain_error("Cannot clone image \".host\": copying the host's root directory is not supported", EOPNOTSUPP);
    if (image.type == ImageType::Block)
        return plain_error(fmt::format("Cannot clone image \"{}\": it is a block device", image.name), EOPNOTSUPP);
    BERTH_ASSIGN(Place p, place_of(image));
    UniqueFd pool_fd(::open(pool.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!pool_fd) return errno_error(fmt::format("Failed to open the image pool {}", pool));
    std::string to = entry_for(image, new_name), tmp = temporary_name(to);
    std::string shown_tmp = fmt::format("{}/{}", pool, tmp);
    auto exists = [&] { return plain_error(fmt::format("Image \"{}\" already exists", new_name), EEXIST); };
    struct stat st {};
    if (::fstatat(pool_fd.get(), to.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return exists();

    BERTH_ASSIGN(UniqueFd top, open_top(p, image));
    bool snapshot = false;
    if (image.type == ImageType::Subvolume && same_btrfs(top.get(), pool_fd.get())) {
        btrfs_ioctl_vol_args_v2 args{};
        args.fd = top.get();
        if (read_only) args.flags = BTRFS_SUBVOL_RDONLY;
        std::strncpy(args.name, tmp.c_str(), sizeof args.name - 1);
        snapshot = ::ioctl(pool_fd.get(), BTRFS_IOC_SNAP_CREATE_V2, &args) == 0;  // else: copied below
    }
    auto discard = [&](Error e) {
        (void)remove_tree_at(pool_fd.get(), tmp, shown_tmp, mount_id(pool_fd.get(), ""));
        return e;
    };
    if (!snapshot) {
        CopyTreeOptions o;
        o.shown_source = image.path;
        o.shown_destination = shown_tmp;
        // From the image itself: a link in the pool is copied as what it points to.
        Result<void> copied;
        if (p.link) {
            char target[PATH_MAX];
            if (!::realpath(image.path.c_str(), target)) return errno_error(fmt::format("Failed to resolve {}", image.path));
            BERTH_ASSIGN(SplitPath real, split_last_component(target));
            UniqueFd real_dir(::open(real.parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!real_dir) return errno_error(fmt::format("Failed to open {}", real.parent));
            copied = copy_tree_at(real_dir.get(), real.name, pool_fd.get(), tmp, o);
        } else {
            copied = copy_tree_at(p.dir.get(), p.entry, pool_fd.get(), tmp, o);
        }
        if (!copied.ok()) return discard(wrap_error(copied.error(), fmt::format("Failed to clone image \"{}\"", image.name)));
        // The copy is a writable directory (or file) whatever the original's attributes were.
        UniqueFd made(::openat(pool_fd.get(), tmp.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
        if (made) (void)set_flag(made.get(), FS_IMMUTABLE_FL, false, shown_tmp);
    }
    if (::renameat2(pool_fd.get(), tmp.c_str(), pool_fd.get(), to.c_str(), RENAME_NOREPLACE) < 0) {
        int error = errno;
        return discard(error == EEXIST ? exists() : sys_error(error, fmt::format("Failed to rename {} to {}", shown_tmp, to)));
    }
    if (read_only && !snapshot) {
        auto made = inspect_entry(pool_fd.get(), pool, to);
        if (!made.ok()) return made.error();
        if (!*made) return plain_error(fmt::format("The clone {}/{} is gone", pool, to), ENOENT);
        BERTH_TRY(mark_read_only(**made, true));
    }
    return copy_settings(settings_places(settings, p.dir_path), image.name, new_name, pool);
}

}  // namespace berth::images
