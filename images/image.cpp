#include "images/image.hpp"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/escape.hpp"
#include "common/fd.hpp"
#include "images/btrfs_quota.hpp"

namespace berth::images {

namespace {

constexpr std::string_view kRawSuffix = ".raw";
constexpr ino_t kBtrfsSubvolumeRoot = 256;  // BTRFS_FIRST_FREE_OBJECTID: the root directory of every subvolume

uint64_t usec(const struct statx_timestamp& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1000000 + t.tv_nsec / 1000;
}

// The birth time, where the filesystem records one (0 otherwise).
uint64_t crtime_of(int fd) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &stx) < 0 || !(stx.stx_mask & STATX_BTIME)) return 0;
    return usec(stx.stx_btime);
}

bool immutable(int fd) {
    int flags = 0;
    return ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL);
}

bool read_only_fs(int fd) {
    struct statvfs sv {};
    return ::fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

bool btrfs_subvolume(int fd, const struct stat& st) {
    struct statfs sf {};
    return st.st_ino == kBtrfsSubvolumeRoot && ::fstatfs(fd, &sf) == 0 &&
           static_cast<unsigned long>(sf.f_type) == BTRFS_SUPER_MAGIC;
}

bool read_only_subvolume(int fd) {
    uint64_t flags = 0;
    return ::ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) == 0 && (flags & BTRFS_SUBVOL_RDONLY);
}

Result<Image> inspect_directory(Image img, const std::string& what) {
    UniqueFd fd(::open(img.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return errno_error(fmt::format("Failed to open image {}", what));
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return errno_error(fmt::format("Failed to look at image {}", what));
    img.crtime_usec = crtime_of(fd.get());
    if (btrfs_subvolume(fd.get(), st)) {
        img.type = ImageType::Subvolume;
        img.read_only = read_only_subvolume(fd.get());
        // Where its filesystem keeps quota: btrfs's own figures, and the limit set.
        if (auto q = subvolume_quota(fd.get())) {
            img.usage = q->referenced;
            img.usage_exclusive = q->exclusive;
            img.limit = q->referenced_max;
            img.limit_exclusive = q->exclusive_max;
        }
    }
    img.read_only = img.read_only || immutable(fd.get()) || read_only_fs(fd.get());
    return img;
}

Result<Image> inspect_raw(Image img, const struct stat& st, const std::string& what) {
    img.type = ImageType::Raw;
    img.mtime_usec = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000;
    img.usage = img.usage_exclusive = static_cast<uint64_t>(st.st_blocks) * 512;
    img.limit = img.limit_exclusive = static_cast<uint64_t>(st.st_size);
    // Not for reading its data: for its flags and times. O_NONBLOCK: no open of anything waits.
    UniqueFd fd(::open(img.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) return errno_error(fmt::format("Failed to open image {}", what));
    img.crtime_usec = crtime_of(fd.get());
    img.read_only = (st.st_mode & 0222) == 0 || immutable(fd.get()) || read_only_fs(fd.get());
    return img;
}

Result<Image> inspect_block(Image img, const std::string& what) {
    img.type = ImageType::Block;
    UniqueFd fd(::open(img.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) return errno_error(fmt::format("Failed to open image {}", what));
    int ro = 0;
    uint64_t size = 0;
    img.read_only = ::ioctl(fd.get(), BLKROGET, &ro) == 0 && ro != 0;
    if (::ioctl(fd.get(), BLKGETSIZE64, &size) == 0) img.limit = img.limit_exclusive = size;
    return img;
}

}  // namespace

const char* type_name(ImageType type) {
    switch (type) {
        case ImageType::Directory: return "directory";
        case ImageType::Subvolume: return "subvolume";
        case ImageType::Raw: return "raw";
        case ImageType::Block: return "block";
    }
    return "directory";
}

bool image_name_valid(std::string_view name) {
    if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
    if (name.find('/') != std::string_view::npos) return false;
    if (name.starts_with(".#")) return false;
    for (unsigned char c : name)
        if (c < 0x20 || c == 0x7f) return false;
    return to_valid_utf8(name) == name;
}

Result<std::optional<Image>> inspect_entry(int dirfd, const std::string& dir, const std::string& entry) {
    std::string what = fmt::format("{}/{}", dir, entry);
    struct stat st {};
    if (::fstatat(dirfd, entry.c_str(), &st, 0) < 0) {
        // Gone meanwhile, or a symbolic link to nothing: no image.
        if (errno == ENOENT) return std::optional<Image>();
        return errno_error(fmt::format("Failed to look at image {}", what));
    }
    Image img;
    img.name = entry;
    img.path = what;
    img.dev = st.st_dev;
    img.ino = st.st_ino;
    Result<Image> r = plain_error("unreachable");
    if (S_ISDIR(st.st_mode)) {
        r = inspect_directory(std::move(img), what);
    } else if (S_ISREG(st.st_mode) && entry.size() > kRawSuffix.size() && entry.ends_with(kRawSuffix)) {
        img.name = entry.substr(0, entry.size() - kRawSuffix.size());
        r = inspect_raw(std::move(img), st, what);
    } else if (S_ISBLK(st.st_mode)) {
        r = inspect_block(std::move(img), what);
    } else {
        return std::optional<Image>();
    }
    if (!r.ok()) return r.error();
    if (!image_name_valid(r->name)) return std::optional<Image>();
    // As systemd 252: what lies under /usr (/usr/lib/machines, /usr/local/lib/machines) is the vendor's.
    if (r->path == "/usr" || r->path.rfind("/usr/", 0) == 0) r->read_only = true;
    return std::optional<Image>(std::move(*r));
}

Image host_image() {
    Image img;
    img.name = kHostImage;
    img.path = "/";
    UniqueFd fd(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat st {};
    if (fd && ::fstat(fd.get(), &st) == 0) img.dev = st.st_dev, img.ino = st.st_ino;
    img.read_only = fd && (immutable(fd.get()) || read_only_fs(fd.get()));
    return img;
}

}  // namespace berth::images
