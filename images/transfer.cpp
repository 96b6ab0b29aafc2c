// What the transfers share: the report, the landing of an import in the pool, the removal of what an
// interrupted one left; and import_fs, which is a copy landing the same way.
#include "images/transfer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <utility>

#include <archive.h>
#include <spdlog/spdlog.h>

#include "common/copy_tree.hpp"
#include "common/lock_file.hpp"
#include "common/paths.hpp"
#include "images/btrfs_quota.hpp"
#include "images/discovery.hpp"
#include "images/import_landing.hpp"
#include "images/tree_util.hpp"

namespace berth::images {

// ---- TransferReport ----------------------------------------------------------------------------------

namespace {

// One line, one write(2): processes sharing the descriptor never mix their lines.
void write_line(int fd, const std::string& line) {
    for (;;) {
        ssize_t n = ::write(fd, line.data(), line.size());
        if (n >= 0 || errno != EINTR) return;  // a short write cannot happen on a pipe for lines this short
    }
}

}  // namespace

void TransferReport::progress(unsigned percent) {
    percent = std::min(percent, 100u);
    if (fd_ < 0 || static_cast<int>(percent) == last_percent_) return;
    last_percent_ = static_cast<int>(percent);
    write_line(fd_, fmt::format("P {}\n", percent));
}

void TransferReport::log(int priority, const std::string& text) {
    if (fd_ < 0) return;
    std::string line = text.substr(0, 1000);
    // Not cut inside a UTF-8 sequence: back to the start of the one that was cut.
    if (text.size() > 1000) {
        size_t end = line.size();
        while (end > 0 && (static_cast<unsigned char>(line[end - 1]) & 0xC0) == 0x80) end--;
        if (end > 0 && (static_cast<unsigned char>(line[end - 1]) & 0x80)) line.resize(end - 1);
    }
    std::replace_if(line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    write_line(fd_, fmt::format("L {} {}\n", std::clamp(priority, 0, 7), line));
}

bool export_format_valid(const std::string& format) {
    for (const char* f : {"", "uncompressed", "gzip", "xz", "bzip2", "zstd"})
        if (format == f) return true;
    return false;
}

namespace detail {

namespace {

constexpr std::string_view kImportPrefix = ".#import.";

// ".#import." and a suffix that makes a file name of it (with ".raw" added too).
bool temporary_name_valid(const std::string& name) {
    return name.size() > kImportPrefix.size() && name.size() <= 240 && name.rfind(kImportPrefix, 0) == 0 &&
           name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

// ---- the landing -------------------------------------------------------------------------------------

Result<Landing> Landing::begin(const std::string& pool, const std::string& name, const ImportOptions& options,
                               Kind kind, bool make_directory) {
    if (!image_name_valid(name)) return plain_error(fmt::format("Image name '{}' is invalid.", name), EINVAL);
    Landing l;
    l.pool_ = pool;
    l.name_ = name;
    l.kind_ = kind;
    l.entry_ = kind == Kind::Raw ? name + ".raw" : name;
    BERTH_ASSIGN(l.name_lock_, ImageLock::take_name(name));
    l.pool_fd_.reset(::open(pool.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!l.pool_fd_) return errno_error(fmt::format("Failed to open the image pool {}", pool));
    // Checked first, so that nothing is read for nothing; checked again by the rename.
    auto existing = find_image({pool}, name);
    if (existing.ok() && !options.force) return plain_error(fmt::format("Image \"{}\" already exists", name), EEXIST);
    if (!existing.ok() && existing.error().code != ENOENT) return existing.error();
    // An image to replace that a machine uses now: said now, not after the whole import (asked again then).
    if (existing.ok()) BERTH_TRY(ImageLock::take(*existing, true));

    if (!options.temporary.empty() && !temporary_name_valid(options.temporary))
        return plain_error(fmt::format("\"{}\" is no name for an import's temporary (.#import.SUFFIX)", options.temporary),
                           EINVAL);
    l.tmp_ = options.temporary.empty() ? hidden_name("import") : options.temporary;
    if (kind == Kind::Raw) l.tmp_ += ".raw";
    l.pending_ = true;  // from here on, whatever is at the temporary name goes with a failure
    if (kind == Kind::Raw) {
        l.fd_.reset(::openat(l.pool_fd_.get(), l.tmp_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!l.fd_ || ::fchmod(l.fd_.get(), 0644) < 0) return errno_error(fmt::format("Failed to create {}", l.shown()));
        return l;
    }
    if (on_btrfs(l.pool_fd_.get())) {
        // Else (no right to, an old kernel): a directory, as on any other filesystem.
        l.subvolume_ = make_pool_subvolume(l.pool_fd_.get(), l.tmp_);
    }
    if (!l.subvolume_ && !make_directory) return l;
    if (!l.subvolume_ && ::mkdirat(l.pool_fd_.get(), l.tmp_.c_str(), 0755) < 0)
        return errno_error(fmt::format("Failed to create {}", l.shown()));
    BERTH_TRY(l.open_temporary());
    if (::fchmod(l.fd_.get(), 0755) < 0) return errno_error(fmt::format("Failed to set the mode of {}", l.shown()));
    return l;
}

Status Landing::open_temporary() {
    fd_.reset(::openat(pool_fd_.get(), tmp_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd_) return errno_error(fmt::format("Failed to open {}", shown()));
    return {};
}

Landing::~Landing() {
    if (!pending_) return;
    fd_.reset();
    if (auto r = remove_hidden(pool_fd_.get(), tmp_, shown()); !r.ok()) spdlog::warn("{}", r.error().message);
}

Status Landing::finish(const ImportOptions& options, const SettingsDirs& settings) {
    if (options.before_finish) BERTH_TRY(options.before_finish());
    bool immutable = options.read_only && kind_ == Kind::Tree && !subvolume_;
    if (immutable) {
        // That it can be made read-only is tried before it is visible (it is made so once in place).
        if (!fd_) BERTH_TRY(open_temporary());
        BERTH_TRY(set_flag(fd_.get(), FS_IMMUTABLE_FL, true, shown()));
        (void)set_flag(fd_.get(), FS_IMMUTABLE_FL, false, shown());
    }
    fd_.reset();
    if (options.force) {
        // Just before the rename: the image it replaces served until the new one was complete.
        if (auto old = find_image({pool_}, name_); old.ok()) {
            BERTH_ASSIGN(ImageLock lock, ImageLock::take(*old, true));
            BERTH_TRY(remove_image(*old, settings));
        } else if (old.error().code != ENOENT) {
            return old.error();
        }
    }
    if (::renameat2(pool_fd_.get(), tmp_.c_str(), pool_fd_.get(), entry_.c_str(), RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST) return plain_error(fmt::format("Image \"{}\" already exists", name_), EEXIST);
        return errno_error(fmt::format("Failed to rename {} to {}/{}", shown(), pool_, entry_));
    }
    pending_ = false;
    if (!options.read_only) return {};
    auto image = find_image({pool_}, name_);
    Status made = image.ok() ? mark_read_only(*image, true) : Status(image.error());
    if (!made.ok()) {
        // An image asked read-only is not left writable: it goes (not its settings, which are not its own).
        if (auto r = remove_hidden(pool_fd_.get(), entry_, pool_ + "/" + entry_); !r.ok())
            spdlog::warn("{}", r.error().message);
        return made;
    }
    return {};
}

Status remove_hidden(int pool_fd, const std::string& entry, const std::string& shown) {
    struct stat st {};
    if (::fstatat(pool_fd, entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? Status{} : errno_error(fmt::format("Failed to look at {}", shown));
    if (S_ISDIR(st.st_mode) && st.st_ino == kBtrfsSubvolumeRoot && on_btrfs(pool_fd)) {
        UniqueFd fd(::openat(pool_fd, entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (fd) {
            uint64_t flags = 0;
            if (::ioctl(fd.get(), BTRFS_IOC_SUBVOL_GETFLAGS, &flags) == 0 && (flags & BTRFS_SUBVOL_RDONLY)) {
                flags &= ~static_cast<uint64_t>(BTRFS_SUBVOL_RDONLY);
                (void)::ioctl(fd.get(), BTRFS_IOC_SUBVOL_SETFLAGS, &flags);
            }
            clear_removal_flags(fd.get());
            auto id = subvolume_id_of(fd.get());
            fd.reset();
            btrfs_ioctl_vol_args args{};
            std::strncpy(args.name, entry.c_str(), sizeof args.name - 1);
            if (::ioctl(pool_fd, BTRFS_IOC_SNAP_DESTROY, &args) == 0) {
                if (id.ok()) forget_qgroup(pool_fd, *id);
                return {};
            }
            // Else (subvolumes nested in it, no right to): removed as a tree.
        }
    }
    BERTH_ASSIGN(uint64_t mnt, mount_id(pool_fd, shown));
    return remove_tree_at(pool_fd, entry, shown, mnt, true);
}

void support_compressions(struct archive* a) {
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_lzma(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_lz4(a);
}

void make_blocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK)) (void)::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

unsigned percent_of(uint64_t done, uint64_t total) {
    if (total == 0) return 0;
    auto p = static_cast<unsigned __int128>(done) * 100 / total;
    return static_cast<unsigned>(std::min<unsigned __int128>(p, 99));
}

}  // namespace detail

using namespace detail;

// ---- import_fs ---------------------------------------------------------------------------------------

Status import_fs(int dirfd, const std::string& pool, const std::string& name, const ImportOptions& options,
                 TransferReport& report, const SettingsDirs& settings) {
    // A directory the copy creates itself, with the source's owner, mode, xattrs and times; a subvolume
    // exists first, and is given the top's owner, mode and times after the copy merged into it.
    BERTH_ASSIGN(Landing landing, Landing::begin(pool, name, options, Landing::Kind::Tree, false));
    auto failed = [&](const Error& e) { return wrap_error(e, fmt::format("Failed to import image \"{}\"", name)); };
    char source[PATH_MAX] = "the directory to import";
    if (ssize_t n = ::readlink(fmt::format("/proc/self/fd/{}", dirfd).c_str(), source, sizeof source - 1); n > 0) source[n] = 0;
    report.info(fmt::format("Importing {} as image \"{}\"...", source, name));
    report.progress(0);
    CopyTreeOptions o;
    o.one_mount = true;  // the tree, not what may be mounted in it
    o.keep_holes = true;  // an image's sparse files stay sparse
    o.shown_source = source;
    o.shown_destination = landing.shown();
    if (auto r = copy_tree_at(dirfd, ".", landing.pool_fd(), landing.temporary(), o); !r.ok()) return failed(r.error());
    if (landing.fd() < 0) {
        if (auto r = landing.open_temporary(); !r.ok()) return failed(r.error());
    }
    if (landing.subvolume()) {
        struct stat st {};
        if (::fstatat(dirfd, ".", &st, 0) < 0) return failed(errno_error(fmt::format("Failed to look at {}", source)));
        const timespec times[2] = {st.st_atim, st.st_mtim};
        if (::fchown(landing.fd(), st.st_uid, st.st_gid) < 0 || ::fchmod(landing.fd(), st.st_mode & 07777) < 0 ||
            ::futimens(landing.fd(), times) < 0)
            return failed(errno_error(fmt::format("Failed to set the owner, mode and times of {}", landing.shown())));
    }
    if (::syncfs(landing.fd()) < 0) return failed(errno_error(fmt::format("Failed to write {} to disk", landing.shown())));
    if (auto r = landing.finish(options, settings); !r.ok()) return failed(r.error());
    report.progress(100);
    report.info(fmt::format("Imported image \"{}\".", name));
    return {};
}

// ---- leftovers ---------------------------------------------------------------------------------------

Status remove_temporary(const std::string& pool, const std::string& name) {
    if (!temporary_name_valid(name))
        return plain_error(fmt::format("Cannot remove \"{}\" from the image pool: not an import's temporary", name), EINVAL);
    UniqueFd pool_fd(::open(pool.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!pool_fd) return errno == ENOENT ? Status{} : errno_error(fmt::format("Failed to open the image pool {}", pool));
    for (const std::string& entry : {name, name + ".raw"})
        BERTH_TRY(remove_hidden(pool_fd.get(), entry, pool + "/" + entry));
    return {};
}

std::vector<std::string> find_leftovers(const std::string& pool) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(pool.c_str())) {
        while (dirent* e = ::readdir(d)) {
            std::string_view n = e->d_name;
            for (std::string_view prefix : {".#import.", ".#export.", ".#clone."})
                if (n.substr(0, prefix.size()) == prefix) names.emplace_back(n);
        }
        ::closedir(d);
    }
    return names;
}

void release_stale_name_locks() {
    // The name locks a killed worker held (imports, clones, renames), whose files stay when the holder
    // dies. One nobody holds is let go of as a holder would (release_lock: taken first, so one taken
    // meanwhile stays).
    std::vector<std::string> locks;
    if (DIR* d = ::opendir(paths::kLocks)) {
        while (dirent* e = ::readdir(d))
            if (std::string_view(e->d_name).substr(0, 11) == "image-name-") locks.push_back(std::string(paths::kLocks) + "/" + e->d_name);
        ::closedir(d);
    }
    for (auto& path : locks)
        if (auto fd = lock_file(path, true); fd.ok()) release_lock(path, std::move(*fd));
}

void remove_leftovers(const std::string& pool) {
    release_stale_name_locks();
    remove_leftovers(pool, find_leftovers(pool));
}

void remove_leftovers(const std::string& pool, const std::vector<std::string>& names) {
    UniqueFd pool_fd(::open(pool.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!pool_fd) {
        if (errno != ENOENT) spdlog::warn("Failed to open the image pool {}: {}", pool, std::strerror(errno));
        return;
    }
    for (auto& n : names) {
        std::string shown = pool + "/" + n;
        if (auto r = remove_hidden(pool_fd.get(), n, shown); r.ok())
            spdlog::info("Removed {}, left by an interrupted import, export or clone", shown);
        else
            spdlog::warn("Failed to remove what an interrupted import, export or clone left: {}", r.error().message);
    }
}

}  // namespace berth::images
