// export_tar and export_raw: an image written out with libarchive, as GNU tar would write it (pax,
// "./PATH" entries, numeric owners), compressed as asked.
#include <dirent.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include <archive.h>
#include <archive_entry.h>

#include "common/copy_tree.hpp"
#include "images/btrfs_quota.hpp"
#include "images/import_landing.hpp"
#include "images/transfer.hpp"
#include "images/tree_util.hpp"

namespace berth::images {

namespace {

using namespace detail;

constexpr size_t kBuffer = 1 << 20;
constexpr int kTarBlock = 10240;  // GNU tar's record size

template <typename T, int (*Free)(T*)>
struct Freer {
    void operator()(T* p) const { Free(p); }
};
using ArchivePtr = std::unique_ptr<struct archive, Freer<struct archive, archive_write_free>>;
using DiskPtr = std::unique_ptr<struct archive, Freer<struct archive, archive_read_free>>;

Error archive_failure(struct archive* a, const std::string& what) {
    const char* text = archive_error_string(a);
    int code = archive_errno(a);
    return plain_error(fmt::format("{}: {}", what, text ? text : "unknown error"), code > 0 ? code : EIO);
}

bool utf8(const char* text) {
    if (!text) return true;
    for (auto* p = reinterpret_cast<const unsigned char*>(text); *p;) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0) return false;
        for (p++; n > 0; n--, p++)
            if ((*p & 0xC0) != 0x80) return false;
    }
    return true;
}
bool utf8(const std::string& text) { return utf8(text.c_str()); }

bool compressed(const std::string& format) { return !format.empty() && format != "uncompressed"; }

// A writer of `format` ("" ... "zstd", export_format_valid()) to `out`; `raw` for a raw image's one file.
Result<ArchivePtr> open_writer(int out, const std::string& format, bool raw) {
    ArchivePtr w(archive_write_new());
    if (!w) return plain_error("Failed to set up libarchive", ENOMEM);
    if (raw) {
        archive_write_set_format_raw(w.get());
    } else {
        archive_write_set_format_pax_restricted(w.get());
        // Attributes as GNU tar writes and reads them (SCHILY.xattr), not a second copy it does not know.
        (void)archive_write_set_format_option(w.get(), "pax", "xattrheader", "SCHILY");
    }
    int r = ARCHIVE_OK;
    if (format == "gzip") r = archive_write_add_filter_gzip(w.get());
    else if (format == "xz") r = archive_write_add_filter_xz(w.get());
    else if (format == "bzip2") r = archive_write_add_filter_bzip2(w.get());
    else if (format == "zstd") r = archive_write_add_filter_zstd(w.get());
    if (r != ARCHIVE_OK) return archive_failure(w.get(), fmt::format("Failed to set up {} compression", format));
    archive_write_set_bytes_per_block(w.get(), kTarBlock);
    // Compressed data is not padded to a whole record: the decompressors take zeros after it for garbage.
    if (compressed(format)) archive_write_set_bytes_in_last_block(w.get(), 1);
    if (archive_write_open_fd(w.get(), out) != ARCHIVE_OK)
        return archive_failure(w.get(), "Failed to start the archive");
    return w;
}

Status write_all(struct archive* w, const char* p, size_t n, const std::string& what) {
    while (n > 0) {
        la_ssize_t done = archive_write_data(w, p, n);
        if (done < 0) return archive_failure(w, what);
        if (done == 0) return {};  // the entry is complete (a file that grew is cut at its archived size)
        p += done;
        n -= static_cast<size_t>(done);
    }
    return {};
}

// The directory the process works in, put back when this goes: the export changes it (see TreeWriter),
// and no caller should see that. (The process's, not the thread's: exports run in processes of their own.)
class WorkingDirectory {
public:
    static Result<WorkingDirectory> save() {
        WorkingDirectory w;
        w.saved_.reset(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!w.saved_) return errno_error("Failed to open the working directory");
        return w;
    }
    WorkingDirectory(WorkingDirectory&&) = default;
    ~WorkingDirectory() {
        if (saved_) (void)::fchdir(saved_.get());
    }

private:
    WorkingDirectory() = default;
    UniqueFd saved_;
};

// A read-only snapshot of a subvolume next to it (".#export.HEX", hidden), destroyed when this goes.
class Snapshot {
public:
    static std::optional<Snapshot> take(int subvolume, const std::string& path) {
        auto split = split_last_component(path);
        if (!split.ok()) return std::nullopt;
        Snapshot s;
        s.dir_.reset(::open(split->parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!s.dir_) return std::nullopt;
        s.name_ = hidden_name("export");
        btrfs_ioctl_vol_args_v2 args{};
        args.fd = subvolume;
        args.flags = BTRFS_SUBVOL_RDONLY;
        std::strncpy(args.name, s.name_.c_str(), sizeof args.name - 1);
        if (::ioctl(s.dir_.get(), BTRFS_IOC_SNAP_CREATE_V2, &args) < 0) {
            s.dir_.reset();  // nothing to destroy
            return std::nullopt;
        }
        s.fd_.reset(::openat(s.dir_.get(), s.name_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        return s;  // (not opened: destroyed at once, and the export goes on without)
    }
    Snapshot(Snapshot&& o) noexcept : dir_(std::move(o.dir_)), fd_(std::move(o.fd_)), name_(std::move(o.name_)) {}
    ~Snapshot() {
        if (!dir_) return;
        auto id = fd_ ? subvolume_id_of(fd_.get()) : Result<uint64_t>(plain_error("none"));
        fd_.reset();
        btrfs_ioctl_vol_args args{};
        std::strncpy(args.name, name_.c_str(), sizeof args.name - 1);
        if (::ioctl(dir_.get(), BTRFS_IOC_SNAP_DESTROY, &args) == 0 && id.ok()) forget_qgroup(dir_.get(), *id);
    }
    int fd() const { return fd_.get(); }

private:
    Snapshot() = default;
    UniqueFd dir_, fd_;
    std::string name_;
};

// The image's own inode, checked to be the one found (an image replaced meanwhile is not that image).
Result<UniqueFd> open_image(const Image& image, int flags) {
    UniqueFd fd(::open(image.path.c_str(), flags | O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return errno_error(fmt::format("Failed to open image \"{}\" ({})", image.name, image.path));
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0 || (image.dev && (st.st_dev != image.dev || st.st_ino != image.ino)))
        return plain_error(fmt::format("Image \"{}\" ({}) changed meanwhile", image.name, image.path), ESTALE);
    return fd;
}

// The image's shared lock where it can be had: without it a running machine may write the image while
// it is read, which is said, not refused (as systemd's export goes on).
Result<std::optional<ImageLock>> lock_for_reading(const Image& image, TransferReport& report) {
    auto lock = ImageLock::take(image, false);
    if (lock.ok()) return std::optional<ImageLock>(std::move(*lock));
    if (lock.error().code != EBUSY) return lock.error();
    report.warning(fmt::format("Image \"{}\" is in use by a running machine that may write it: the export may not be consistent",
                               image.name));
    return std::optional<ImageLock>();
}

// The tree of the working directory into the archive, depth-first, each directory's entries by name (as
// GNU tar writes a tree, whose extraction sets a directory's times once it has passed all its entries;
// libarchive's own walk puts a directory's subdirectories after its other entries, and names in the
// order of readdir). One filesystem: a directory another filesystem is mounted on is archived empty.
// Each entry is described by libarchive from its open file (mode, owners as numbers, times, xattrs,
// ACLs, attributes, sparse map); what only a path reaches (a symlink's target and xattrs, a device's
// xattrs) is looked up relative to the working directory, which is the directory being written.
class TreeWriter {
public:
    TreeWriter(struct archive* w, uint64_t expected, TransferReport& report) : w_(w), expected_(expected), report_(report) {}
    Status write(int root);

private:
    Status directory(int fd, const std::string& path, int depth);
    Status entry(int fd, const struct stat& st, const std::string& name, const std::string& path);
    Status header(struct archive_entry* e, int fd);
    Status data(int fd, struct archive_entry* e, const std::string& path);

    struct archive* w_;
    uint64_t expected_, written_ = 0;
    TransferReport& report_;
    dev_t dev_ = 0;
    DiskPtr disk_{archive_read_disk_new()};
    std::unique_ptr<archive_entry_linkresolver, void (*)(archive_entry_linkresolver*)> links_{
        archive_entry_linkresolver_new(), archive_entry_linkresolver_free};
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry_{archive_entry_new(), archive_entry_free};
    std::vector<char> buf_, zeros_;
};

Status TreeWriter::write(int root) {
    if (!disk_ || !links_ || !entry_) return plain_error("Failed to set up libarchive", ENOMEM);
    archive_read_disk_set_symlink_physical(disk_.get());  // a symlink's own xattrs, not its target's
    archive_entry_linkresolver_set_strategy(links_.get(), archive_format(w_));
    struct stat st {};
    if (::fstat(root, &st) < 0 || ::fchdir(root) < 0) return errno_error("Failed to enter the image");
    dev_ = st.st_dev;
    BERTH_TRY(entry(root, st, ".", "."));
    BERTH_TRY(directory(root, ".", 0));
    for (;;) {  // what the link resolver held back (nothing for tar formats, which store the first name's data)
        struct archive_entry *e = nullptr, *spare = nullptr;
        archive_entry_linkify(links_.get(), &e, &spare);
        if (!e) return {};
        BERTH_TRY(header(e, -1));
    }
}

Status TreeWriter::directory(int fd, const std::string& path, int depth) {
    if (depth > kMaxDepth)
        return plain_error(fmt::format("Failed to archive \"{}\": deeper than {} levels", path, kMaxDepth), ELOOP);
    // (Its entries' paths, for what libarchive reaches by path, are relative to it.)
    if (::fchdir(fd) < 0) return errno_error(fmt::format("Failed to enter \"{}\"", path));
    std::vector<std::string> names;
    DIR* d = ::fdopendir(::dup(fd));
    if (!d) return errno_error(fmt::format("Failed to read \"{}\"", path));
    errno = 0;
    while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
    int error = errno;
    ::closedir(d);
    if (error) return sys_error(error, fmt::format("Failed to read \"{}\"", path));
    std::sort(names.begin(), names.end());
    for (auto& name : names) {
        std::string child = path + "/" + name;
        struct stat st {};
        UniqueFd cfd;
        int r = ::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
        if (r == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
            cfd.reset(::openat(fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
                                                     (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0)));
            r = cfd && ::fstat(cfd.get(), &st) == 0 ? 0 : -1;  // what was opened is what is described
        }
        if (r < 0 && errno == ENOENT) {  // gone since the directory was read: a running machine removed it
            report_.warning(fmt::format("\"{}\": removed while the image was being exported", child));
            continue;
        }
        if (r < 0) return errno_error(fmt::format("Failed to open \"{}\"", child));
        if (S_ISSOCK(st.st_mode)) {
            report_.warning(fmt::format("\"{}\": a socket, not archived", child));  // as GNU tar
            continue;
        }
        BERTH_TRY(entry(cfd.get(), st, name, child));
        if (S_ISDIR(st.st_mode) && st.st_dev == dev_) {
            BERTH_TRY(directory(cfd.get(), child, depth + 1));
            if (::fchdir(fd) < 0) return errno_error(fmt::format("Failed to enter \"{}\"", path));
        }
    }
    return {};
}

Status TreeWriter::entry(int fd, const struct stat& st, const std::string& name, const std::string& path) {
    struct archive_entry* e = entry_.get();
    archive_entry_clear(e);
    archive_entry_copy_pathname(e, path.c_str());
    archive_entry_copy_sourcepath(e, name.c_str());
    // Holes are looked for (a few lseek(2)s) only where there can be some: in a file that takes fewer
    // blocks than its size says (GNU tar's test for --sparse).
    bool holes = S_ISREG(st.st_mode) && st.st_blocks * 512 < st.st_size;
    archive_read_disk_set_behavior(disk_.get(), holes ? 0 : ARCHIVE_READDISK_NO_SPARSE);
    int r = archive_read_disk_entry_from_file(disk_.get(), e, fd, &st);
    if (r < ARCHIVE_WARN) return archive_failure(disk_.get(), fmt::format("Failed to read \"{}\"", path));
    if (r == ARCHIVE_WARN) report_.warning(archive_failure(disk_.get(), fmt::format("\"{}\"", path)).message);
    archive_entry_copy_sourcepath(e, nullptr);
    // The image's root: its read-only attribute belongs to the image here, not to an import of it.
    if (path == ".") archive_entry_set_fflags(e, 0, 0);
    struct archive_entry* spare = nullptr;
    archive_entry_linkify(links_.get(), &e, &spare);  // a later name of a file: a hard link to the first
    if (e) BERTH_TRY(header(e, e == entry_.get() ? fd : -1));
    if (spare) BERTH_TRY(header(spare, -1));
    return {};
}

Status TreeWriter::header(struct archive_entry* e, int fd) {
    std::string path = archive_entry_pathname(e) ? archive_entry_pathname(e) : "?";
    int r = archive_write_header(w_, e);
    if (r < ARCHIVE_WARN) return archive_failure(w_, fmt::format("Failed to archive \"{}\"", path));
    // A name that is not UTF-8 is archived as its bytes (hdrcharset=BINARY), as GNU tar archives it, and
    // read back as it is: nothing to warn of.
    bool bytes = !utf8(path) || !utf8(archive_entry_symlink(e)) || !utf8(archive_entry_hardlink(e));
    if (r == ARCHIVE_WARN && !bytes) report_.warning(archive_failure(w_, fmt::format("\"{}\"", path)).message);
    if (fd >= 0 && archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0) BERTH_TRY(data(fd, e, path));
    if (expected_ != kUnknown) report_.progress(percent_of(written_, expected_));
    return {};
}

// The file's data where its sparse map has data (all of it when it has none), its holes as zeros, which
// the pax writer leaves out where the map has them.
Status TreeWriter::data(int fd, struct archive_entry* e, const std::string& path) {
    std::string what = fmt::format("Failed to archive \"{}\"", path);
    la_int64_t size = archive_entry_size(e), at = 0;
    std::vector<std::pair<la_int64_t, la_int64_t>> regions;
    if (archive_entry_sparse_reset(e) > 0) {
        la_int64_t offset = 0, length = 0;
        while (archive_entry_sparse_next(e, &offset, &length) == ARCHIVE_OK) regions.emplace_back(offset, length);
    } else {
        regions.emplace_back(0, size);
    }
    if (buf_.empty()) buf_.resize(kBuffer);
    for (auto [offset, length] : regions) {
        length = std::min(length, size - offset);
        if (offset > at && zeros_.empty()) zeros_.resize(kBuffer);
        for (; at < offset;) {
            size_t n = static_cast<size_t>(std::min<la_int64_t>(offset - at, kBuffer));
            BERTH_TRY(write_all(w_, zeros_.data(), n, what));
            at += static_cast<la_int64_t>(n);
        }
        for (la_int64_t end = offset + length; at < end;) {
            ssize_t n = ::pread(fd, buf_.data(), static_cast<size_t>(std::min<la_int64_t>(end - at, kBuffer)), at);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return errno_error(what);
            if (n == 0) return {};  // cut meanwhile: the rest is zeros (the writer pads the entry)
            BERTH_TRY(write_all(w_, buf_.data(), static_cast<size_t>(n), what));
            at += n;
            written_ += static_cast<uint64_t>(n);
            if (expected_ != kUnknown) report_.progress(percent_of(written_, expected_));
        }
    }
    return {};
}

// ---- raw images ----------------------------------------------------------------------------------------

Status write_fd(int out, const char* p, size_t n, off_t* at) {
    while (n > 0) {
        ssize_t w = at ? ::pwrite(out, p, n, *at) : ::write(out, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno_error("Failed to write the export");
        p += w;
        n -= static_cast<size_t>(w);
        if (at) *at += w;
    }
    return {};
}

// The data of `in` to a regular file `out` at its position, holes left holes: only the data SEEK_DATA
// finds is copied (copy_file_range: shared extents where the filesystem can), and the size set last.
Status copy_sparse(int in, int out, off_t size, off_t base, TransferReport& report) {
    off_t pos = 0;
    std::vector<char> buf;
    while (pos < size) {
        off_t data = ::lseek(in, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO) break;  // only a hole is left
        off_t hole = data < 0 ? size : ::lseek(in, data, SEEK_HOLE);
        if (data < 0) data = pos;  // no SEEK_DATA here: all of it is data
        if (hole < 0) hole = size;
        off_t in_at = data, out_at = base + data;
        while (in_at < hole) {
            ssize_t n = ::copy_file_range(in, &in_at, out, &out_at, static_cast<size_t>(hole - in_at), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n > 0) continue;
            if (n == 0) break;  // the file was cut meanwhile
            if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                return errno_error("Failed to copy the image");
            if (buf.empty()) buf.resize(kBuffer);
            ssize_t r = ::pread(in, buf.data(), std::min<size_t>(kBuffer, static_cast<size_t>(hole - in_at)), in_at);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return errno_error("Failed to read the image");
            if (r == 0) break;
            BERTH_TRY(write_fd(out, buf.data(), static_cast<size_t>(r), &out_at));
            in_at += r;
        }
        pos = hole;
        report.progress(percent_of(static_cast<uint64_t>(pos), static_cast<uint64_t>(size)));
    }
    if (::ftruncate(out, base + size) < 0) return errno_error("Failed to set the size of the export");
    if (::lseek(out, base + size, SEEK_SET) < 0) return errno_error("Failed to seek in the export");
    return {};
}

// Reads `in` to its end and hands each block to `sink`.
template <typename Sink>
Status stream(int in, uint64_t size, TransferReport& report, Sink sink) {
    std::vector<char> buf(kBuffer);
    uint64_t done = 0;
    for (;;) {
        ssize_t n = ::read(in, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error("Failed to read the image");
        if (n == 0) return {};
        BERTH_TRY(sink(buf.data(), static_cast<size_t>(n)));
        done += static_cast<uint64_t>(n);
        report.progress(percent_of(done, size));
    }
}

Status refuse_format(const std::string& format) {
    if (export_format_valid(format)) return {};
    return plain_error(fmt::format("Export format \"{}\" is not supported (uncompressed, gzip, xz, bzip2, zstd)", format),
                       EINVAL);
}

}  // namespace

Status export_tar(const Image& image, int out, const std::string& format, TransferReport& report) {
    BERTH_TRY(refuse_format(format));
    auto failed = [&](const Error& e) { return wrap_error(e, fmt::format("Failed to export image \"{}\"", image.name)); };
    if (image.type != ImageType::Directory && image.type != ImageType::Subvolume)
        return plain_error(
            fmt::format("Cannot export image \"{}\" as a tar archive: it is a {} image", image.name, type_name(image.type)),
            EOPNOTSUPP);
    BERTH_ASSIGN_CTX(UniqueFd top, open_image(image, O_DIRECTORY), "Failed to export image \"{}\"", image.name);
    // A subvolume from a read-only snapshot of it: what is archived is one moment of it, whoever writes it.
    std::optional<Snapshot> snapshot =
        image.type == ImageType::Subvolume && on_btrfs(top.get()) ? Snapshot::take(top.get(), image.path) : std::nullopt;
    if (snapshot && snapshot->fd() < 0) snapshot.reset();
    std::optional<ImageLock> lock;
    if (!snapshot) {
        BERTH_ASSIGN_CTX(lock, lock_for_reading(image, report), "Failed to export image \"{}\"", image.name);
    }
    int root = snapshot ? snapshot->fd() : top.get();
    report.info(fmt::format("Exporting image \"{}\"...", image.name));
    report.progress(0);
    make_blocking(out);
    auto w = open_writer(out, format, false);
    if (!w.ok()) return failed(w.error());
    {
        Utf8Names utf8;
        BERTH_ASSIGN_CTX(WorkingDirectory cwd, WorkingDirectory::save(), "Failed to export image \"{}\"", image.name);
        if (auto r = TreeWriter(w->get(), image.usage, report).write(root); !r.ok()) return failed(r.error());
    }
    // The end of the archive and what the compressor holds: an error here (a full disk) is the export's.
    if (archive_write_close(w->get()) != ARCHIVE_OK) return failed(archive_failure(w->get(), "Failed to finish the archive"));
    report.progress(100);
    report.info(fmt::format("Exported image \"{}\".", image.name));
    return {};
}

Status export_raw(const Image& image, int out, const std::string& format, TransferReport& report) {
    BERTH_TRY(refuse_format(format));
    auto failed = [&](const Error& e) { return wrap_error(e, fmt::format("Failed to export image \"{}\"", image.name)); };
    if (image.type != ImageType::Raw)
        return plain_error(
            fmt::format("Cannot export image \"{}\" as a raw file: it is a {} image", image.name, type_name(image.type)),
            EOPNOTSUPP);
    BERTH_ASSIGN_CTX(UniqueFd in, open_image(image, 0), "Failed to export image \"{}\"", image.name);
    struct stat st {};
    if (::fstat(in.get(), &st) < 0) return failed(errno_error("Failed to look at the image"));
    BERTH_ASSIGN_CTX(auto lock, lock_for_reading(image, report), "Failed to export image \"{}\"", image.name);
    report.info(fmt::format("Exporting image \"{}\"...", image.name));
    report.progress(0);
    auto size = static_cast<uint64_t>(st.st_size);
    make_blocking(out);
    Status r;
    if (!compressed(format)) {
        struct stat os {};
        off_t base = ::lseek(out, 0, SEEK_CUR);
        // Holes only into a file that has nothing at and after its position (they would keep what is there).
        if (::fstat(out, &os) == 0 && S_ISREG(os.st_mode) && base >= 0 && os.st_size <= base)
            r = copy_sparse(in.get(), out, st.st_size, base, report);
        else
            r = stream(in.get(), size, report, [&](const char* p, size_t n) { return write_fd(out, p, n, nullptr); });
    } else {
        auto w = open_writer(out, format, true);
        if (!w.ok()) return failed(w.error());
        std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
        archive_entry_set_pathname(e.get(), (image.name + ".raw").c_str());
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_perm(e.get(), 0644);
        archive_entry_set_size(e.get(), st.st_size);
        if (archive_write_header(w->get(), e.get()) < ARCHIVE_WARN)
            return failed(archive_failure(w->get(), "Failed to start the export"));
        r = stream(in.get(), size, report,
                   [&](const char* p, size_t n) { return write_all(w->get(), p, n, "Failed to write the export"); });
        if (r.ok() && archive_write_close(w->get()) != ARCHIVE_OK) r = archive_failure(w->get(), "Failed to finish the export");
    }
    if (!r.ok()) return failed(r.error());
    report.progress(100);
    report.info(fmt::format("Exported image \"{}\".", image.name));
    return {};
}

}  // namespace berth::images
