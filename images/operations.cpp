#include "images/operations.hpp"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <functional>

#include <spdlog/spdlog.h>

#include "common/copy_tree.hpp"
#include "common/lock_file.hpp"
#include "common/paths.hpp"
#include "images/btrfs_quota.hpp"
#include "images/tree_util.hpp"

namespace berth::images {

namespace {

using namespace detail;

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

Status set_subvolume_read_only(int fd, bool on, const std::string& what) {
    uint64_t flags = 0;
    if (::ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0)
        return errno_error(fmt::format("Failed to read the flags of subvolume {}", what));
    flags = on ? flags | BTRFS_SUBVOL_RDONLY : flags & ~static_cast<uint64_t>(BTRFS_SUBVOL_RDONLY);
    if (::ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags) < 0)
        return errno_error(fmt::format("Failed to make subvolume {} {}", what, on ? "read-only" : "writable"));
    return {};
}

// A mount point below `dir` (in this mount namespace), from /proc/self/mountinfo; "" when there is none.
std::string mount_below(const std::string& dir) {
    std::string text;
    if (FILE* f = std::fopen("/proc/self/mountinfo", "re")) {
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
        std::fclose(f);
    }
    std::string prefix = dir + "/";
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(at, end - at);
        at = end + 1;
        // "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the fifth field, octal escapes (\040) undone.
        size_t f = 0;
        for (int k = 0; k < 4 && f != std::string::npos; k++) f = line.find(' ', f + (k ? 1 : 0));
        if (f == std::string::npos) continue;
        size_t e = line.find(' ', f + 1);
        std::string raw = line.substr(f + 1, e == std::string::npos ? std::string::npos : e - f - 1), point;
        for (size_t i = 0; i < raw.size(); i++) {
            if (raw[i] == '\\' && i + 3 < raw.size()) {
                point += static_cast<char>((raw[i + 1] - '0') * 64 + (raw[i + 2] - '0') * 8 + (raw[i + 3] - '0'));
                i += 3;
            } else {
                point += raw[i];
            }
        }
        if (point.rfind(prefix, 0) == 0) return point;
    }
    return "";
}

std::string settings_file(const std::string& dir, const std::string& name) { return dir + "/" + name + ".toml"; }

// Every settings directory, and the one the image is in (whose NAME.toml nspawn reads as untrusted).
std::vector<std::string> settings_places(const SettingsDirs& settings, const std::string& image_dir) {
    std::vector<std::string> all = settings.dirs;
    all.push_back(image_dir);
    return all;
}

// A name for a copy being made: hidden, unique (remove_leftovers() takes what a killed clone left).
std::string temporary_name() { return hidden_name("clone"); }

// The settings files an image NAME has: (place, file) for each that exists; `beside` is the directory the
// image is in (its untrusted NAME.toml).
std::vector<std::pair<size_t, std::string>> settings_of(const std::vector<std::string>& places, const std::string& name) {
    std::vector<std::pair<size_t, std::string>> out;
    for (size_t k = 0; k < places.size(); k++)
        if (std::string f = settings_file(places[k], name); ::access(f.c_str(), F_OK) == 0) out.emplace_back(k, f);
    return out;
}

// EEXIST when NAME has settings files already in any of `places`: they would apply to an image they were
// not written for (checked before the image changes; 252 fails there too).
Status no_settings_for(const std::vector<std::string>& places, const std::string& name) {
    auto found = settings_of(places, name);
    if (found.empty()) return {};
    return plain_error(fmt::format("Image \"{}\" would get settings that are not its own: {} exists", name, found.front().second),
                       EEXIST);
}

// After the image itself changed, its settings follow as far as they can: what fails is logged, not an
// error of the operation (which has happened).
void warn_settings(const std::string& what, const std::string& file) {
    spdlog::warn("{} settings file {}: {}", what, file, std::strerror(errno));
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

Result<ImageLock> ImageLock::take_name(const std::string& name) {
    ImageLock lock;
    std::string key = name.size() <= 200 ? name : fmt::format("{:016x}", std::hash<std::string>{}(name));
    lock.path_ = fmt::format("{}/image-name-{}", paths::kLocks, key);
    auto fd = lock_in_lock_dir(lock.path_, true);
    if (!fd.ok()) {
        if (fd.error().code == EWOULDBLOCK)
            return plain_error(fmt::format("Another operation is making an image named \"{}\"", name), EBUSY);
        return wrap_error(fd.error(), fmt::format("Failed to lock the image name \"{}\"", name));
    }
    lock.fd_ = std::move(*fd);
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
        // Nothing is removed from an image something is mounted in (the mount would stop the removal
        // halfway, and what is mounted is not the image's), nor from one that is a mount point itself (the
        // pool's entry is its parent's filesystem): checked before anything changes, its flags included.
        if (char real[PATH_MAX]; ::realpath(image.path.c_str(), real)) {
            if (std::string point = mount_below(real); !point.empty())
                return plain_error(fmt::format("Cannot remove {}: {} is mounted in it", shown, point), EBUSY);
        }
        BERTH_ASSIGN(uint64_t mnt, mount_id(top.get(), shown));
        BERTH_ASSIGN(uint64_t parent, mount_id(p.dir.get(), p.dir_path));
        // (Without mount ids a subvolume has a device of its own: it is destroyed below, never walked.)
        bool own_device = (mnt >> 63) != 0 && image.type == ImageType::Subvolume;
        if (mnt != parent && !own_device)
            return plain_error(fmt::format("Cannot remove {}: it is a mount point", shown), EBUSY);
        // Read-only images go too, as in 252: their flag is cleared first.
        if (image.type == ImageType::Subvolume) (void)set_subvolume_read_only(top.get(), false, shown);
        (void)set_flag(top.get(), FS_IMMUTABLE_FL, false, shown);
        bool destroyed = false;
        if (image.type == ImageType::Subvolume) {
            auto id = subvolume_id_of(top.get());
            btrfs_ioctl_vol_args args{};
            std::strncpy(args.name, p.entry.c_str(), sizeof args.name - 1);
            destroyed = ::ioctl(p.dir.get(), BTRFS_IOC_SNAP_DESTROY, &args) == 0;  // else: nested ones, or no right
            if (destroyed && id.ok()) forget_qgroup(p.dir.get(), *id);
        }
        // Immutable or append-only files inside (an imported archive may restore them) would stop it halfway.
        if (!destroyed) BERTH_TRY(remove_tree_at(p.dir.get(), p.entry, shown, mnt, /*clear_flags=*/true));
    }
    for (auto& [place, file] : settings_of(settings_places(settings, p.dir_path), image.name))
        if (::unlink(file.c_str()) < 0 && errno != ENOENT) warn_settings("Failed to remove the", file);
    return {};
}

Status rename_image(const Image& image, const std::string& new_name, const SettingsDirs& settings) {
    if (!image_name_valid(new_name)) return plain_error(fmt::format("Image name '{}' is invalid.", new_name), EINVAL);
    BERTH_TRY(refuse_unchangeable(image, "rename"));
    BERTH_ASSIGN(Place p, place_of(image));
    std::string shown = fmt::format("image \"{}\" ({})", image.name, image.path), to = entry_for(image, new_name);
    auto places = settings_places(settings, p.dir_path);
    BERTH_TRY(no_settings_for(places, new_name));
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
    for (auto& [place, file] : settings_of(places, image.name))
        if (::renameat2(AT_FDCWD, file.c_str(), AT_FDCWD, settings_file(places[place], new_name).c_str(), RENAME_NOREPLACE) < 0)
            warn_settings("Failed to rename the", file);
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
    std::string to = entry_for(image, new_name), tmp = temporary_name();
    std::string shown_tmp = fmt::format("{}/{}", pool, tmp);
    auto exists = [&] { return plain_error(fmt::format("Image \"{}\" already exists", new_name), EEXIST); };
    struct stat st {};
    if (::fstatat(pool_fd.get(), to.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return exists();
    auto places = settings_places(settings, p.dir_path);
    std::vector<std::string> new_places = settings.dirs;
    new_places.push_back(pool);
    BERTH_TRY(no_settings_for(new_places, new_name));

    BERTH_ASSIGN(UniqueFd top, open_top(p, image));
    bool snapshot = false;
    if (image.type == ImageType::Subvolume && both_btrfs(top.get(), pool_fd.get()))
        snapshot = make_pool_subvolume(pool_fd.get(), tmp, top.get(), read_only);  // else: copied below
    // What is left of a clone that did not come to be: nothing.
    auto discard = [&](const std::string& name, Error e) {
        btrfs_ioctl_vol_args args{};
        std::strncpy(args.name, name.c_str(), sizeof args.name - 1);
        if (!(snapshot && ::ioctl(pool_fd.get(), BTRFS_IOC_SNAP_DESTROY, &args) == 0)) {
            UniqueFd made(::openat(pool_fd.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
            if (made) (void)set_flag(made.get(), FS_IMMUTABLE_FL, false, shown_tmp);
            auto mnt = mount_id(pool_fd.get(), pool);
            if (mnt.ok()) (void)remove_tree_at(pool_fd.get(), name, shown_tmp, *mnt);
        }
        return e;
    };
    if (!snapshot) {
        CopyTreeOptions o;
        o.one_mount = true;  // the image, not what may be mounted in it
        o.keep_holes = true;  // an image's sparse files stay sparse
        o.shown_source = image.path;
        o.shown_destination = shown_tmp;
        // From the image itself, checked to be the inode found: a link in the pool is copied as what it
        // points to.
        int from_dir = p.dir.get();
        std::string from = p.entry;
        UniqueFd real_dir;
        if (p.link) {
            char target[PATH_MAX];
            if (!::realpath(image.path.c_str(), target)) return errno_error(fmt::format("Failed to resolve {}", image.path));
            BERTH_ASSIGN(SplitPath real, split_last_component(target));
            real_dir.reset(::open(real.parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            struct stat rs {};
            if (!real_dir || ::fstatat(real_dir.get(), real.name.c_str(), &rs, AT_SYMLINK_NOFOLLOW) < 0 ||
                rs.st_dev != image.dev || rs.st_ino != image.ino)
                return plain_error(fmt::format("Image \"{}\" ({}) changed meanwhile", image.name, image.path), ESTALE);
            from_dir = real_dir.get();
            from = real.name;
        }
        auto copied = copy_tree_at(from_dir, from, pool_fd.get(), tmp, o);
        if (!copied.ok()) return discard(tmp, wrap_error(copied.error(), fmt::format("Failed to clone image \"{}\"", image.name)));
        UniqueFd made(::openat(pool_fd.get(), tmp.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
        if (!made) return discard(tmp, errno_error(fmt::format("Failed to open the clone {}", shown_tmp)));
        if (image.type == ImageType::Raw) {
            // As 252's copy: a plain writable file, or a read-only one when asked, whatever the original's mode.
            if (::fchmod(made.get(), read_only ? 0444 : 0644) < 0)
                return discard(tmp, errno_error(fmt::format("Failed to set the mode of {}", shown_tmp)));
        } else if (read_only) {
            // Made read-only once in place (an immutable directory cannot be renamed): that it can be is
            // tried here, before anything is visible.
            auto can = set_flag(made.get(), FS_IMMUTABLE_FL, true, shown_tmp);
            if (!can.ok()) return discard(tmp, can.error());
            (void)set_flag(made.get(), FS_IMMUTABLE_FL, false, shown_tmp);
        }
    }
    if (::renameat2(pool_fd.get(), tmp.c_str(), pool_fd.get(), to.c_str(), RENAME_NOREPLACE) < 0) {
        int error = errno;
        return discard(tmp, error == EEXIST ? exists() : sys_error(error, fmt::format("Failed to rename {} to {}", shown_tmp, to)));
    }
    if (read_only && !snapshot && image.type != ImageType::Raw) {
        UniqueFd made(::openat(pool_fd.get(), to.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_DIRECTORY));
        auto set = made ? set_flag(made.get(), FS_IMMUTABLE_FL, true, pool + "/" + to)
                        : Result<bool>(errno_error(fmt::format("Failed to open the clone {}/{}", pool, to)));
        if (!set.ok()) return discard(to, set.error());
    }
    for (auto& [place, file] : settings_of(places, image.name)) {
        bool beside = place + 1 == places.size();  // beside the image: beside the clone
        std::string dir = beside ? pool : places[place];
        UniqueFd src(::open(places[place].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)),
            dst(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        auto r = src && dst ? copy_tree_at(src.get(), image.name + ".toml", dst.get(), new_name + ".toml", CopyTreeOptions{})
                            : Status(errno_error("open"));
        if (!r.ok()) warn_settings("Failed to copy the", file);
    }
    return {};
}

}  // namespace berth::images
