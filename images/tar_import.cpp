// import_tar and import_raw: archives read with libarchive. A tar archive is extracted by a child
// contained in the new image (chroot, its own network and IPC namespaces, a handful of capabilities, no
// new privileges), so that whatever path an archive names stays inside the image. (Not a sandbox against
// code a decoder flaw ran: that would be root with those capabilities in a chroot; docs/dbus-api.md.)
#include <fcntl.h>
#include <sched.h>
#include <linux/openat2.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <clocale>
#include <csignal>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <archive.h>
#include <archive_entry.h>

#include "images/import_landing.hpp"
#include "images/transfer.hpp"

namespace berth::images {

namespace {

using namespace detail;

constexpr size_t kReadBlock = 1 << 20;        // what libarchive reads from the input at once
constexpr size_t kMaxDeferred = 16 << 20;     // bytes of attributes the parent sets (see needs_parent)
constexpr unsigned kMaxWarnings = 20;         // shown in the report; the rest counted
constexpr int kExitFailed = 1;

// What a tar extraction needs, nothing more: owners, set-id bits kept through them, device nodes, file
// capabilities, ACLs and modes on what it does not own, writing whatever the modes, the immutable and
// append-only attributes. Not CAP_SYS_ADMIN, CAP_SYS_CHROOT, CAP_SYS_PTRACE: each of them leaves a chroot.
constexpr cap_value_t kExtractorCaps[] = {CAP_CHOWN,   CAP_FOWNER,       CAP_FSETID,         CAP_MKNOD,
                                          CAP_SETFCAP, CAP_DAC_OVERRIDE, CAP_LINUX_IMMUTABLE};

// As fast as GNU tar extracts (the goal), so nothing per entry or per byte that is not needed:
// - not ARCHIVE_EXTRACT_SECURE_SYMLINKS, which opens and looks at every directory on the way to every
//   entry and doubles the time of an extraction; the Extractor refuses writes through symbolic links
//   itself, knowing every link there is (SymlinkGuard);
// - not ARCHIVE_EXTRACT_SPARSE, which scans every byte for zeros (15% of the time on /usr/share): the
//   holes an archive records (its sparse entries, as export_tar and `tar -S` write them) are holes
//   anyway; zeros it stores as data stay data, as GNU tar leaves them;
// - no UNLINK: the tree starts empty, and what an entry finds in its way (an earlier entry of the same
//   path) is removed anyway, a directory only when empty.
constexpr int kExtractFlags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                              ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_FFLAGS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                              ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;

// Extended attributes the kernel lets only CAP_SYS_ADMIN set (trusted.*, and security.* but for file
// capabilities, which CAP_SETFCAP sets): the extractor has not got it, so it hands them to its parent,
// which sets them once the extraction is over, beneath the image.
bool needs_parent(const char* name) {
    return std::strncmp(name, "trusted.", 8) == 0 ||
           (std::strncmp(name, "security.", 9) == 0 && std::strcmp(name, "security.capability") != 0);
}

// ---- the extractor's messages to its parent --------------------------------------------------------------
// Frames on a pipe: length (4 bytes, of what follows), type, payload. 'E': errno (4 bytes) and the error's
// text; 'X': path, NUL, attribute name, NUL, value.

bool write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

void send_frame(int fd, char type, const std::string& payload) {
    uint32_t len = static_cast<uint32_t>(payload.size() + 1);
    std::string frame(reinterpret_cast<const char*>(&len), sizeof len);
    frame += type;
    frame += payload;
    (void)write_all(fd, frame.data(), frame.size());
}

struct Deferred {
    std::string path, name, value;
};

struct Extraction {
    int in = -1, messages = -1;
    uint64_t input_size = 0;  // for progress: the bytes to read from a regular file, 0 when unknown
    uint64_t fs_size = 0;     // the pool's filesystem: no entry is larger
    TransferReport* report = nullptr;
};

std::string entry_path(struct archive_entry* e) {
    const char* p = archive_entry_pathname(e);
    return p ? p : "?";
}

Error archive_failure(struct archive* a, const std::string& what) {
    const char* text = archive_error_string(a);
    int code = archive_errno(a);
    return plain_error(fmt::format("{}: {}", what, text ? text : "unknown error"), code > 0 ? code : EBADMSG);
}

// The top of the tree ("." or "./"), which is the image's root directory itself.
bool is_top(const std::string& path) {
    std::string_view p = path;
    while (p.substr(0, 2) == "./") p.remove_prefix(2);
    return p.empty() || p == ".";
}

// Every symbolic link in the tree being extracted was made by an entry of the archive (the tree started
// empty, and the extractor alone writes it): so an entry goes through a link exactly when a directory of
// its path, or of its hard link's target, is where an earlier entry made one. Such an entry is refused,
// as libarchive's ARCHIVE_EXTRACT_SECURE_SYMLINKS refuses it; a link where the entry itself goes is
// removed first (libarchive would write through it). Paths as libarchive cleans them up ("." and empty
// components dropped); ".." and absolute paths are refused by libarchive itself.
class SymlinkGuard {
public:
    // Refuses `e` if it goes through a link; removes one in its own place.
    Status before(struct archive_entry* e, const std::string& shown) {
        path_ = clean(archive_entry_pathname(e));
        const char* target = archive_entry_hardlink(e);
        target_ = target ? clean(target) : std::string();
        for (const std::string* p : {&path_, &target_})
            for (size_t slash = p->find('/'); slash != std::string::npos; slash = p->find('/', slash + 1))
                if (std::string dir = p->substr(0, slash); links_.count(dir))
                    return plain_error(fmt::format("entry \"{}\": Cannot extract through symlink {}", shown, dir), ELOOP);
        if (!path_.empty() && links_.erase(path_) && ::unlink(path_.c_str()) < 0 && errno != ENOENT)
            return errno_error(fmt::format("entry \"{}\": Failed to remove the symbolic link in its place", shown));
        return {};
    }
    // `e` was written: a link now, if it made one (a hard link to a link is a link).
    void after(struct archive_entry* e) {
        if (path_.empty()) return;
        if (archive_entry_filetype(e) == AE_IFLNK || (!target_.empty() && links_.count(target_))) links_.insert(path_);
    }

private:
    static std::string clean(const char* path) {
        std::string out;
        for (std::string_view rest = path ? path : ""; !rest.empty();) {
            size_t slash = rest.find('/');
            std::string_view part = rest.substr(0, slash);
            rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
            if (part.empty() || part == ".") continue;
            if (!out.empty()) out += '/';
            out += part;
        }
        return out;
    }
    std::unordered_set<std::string> links_;
    std::string path_, target_;
};

class Extractor {
public:
    explicit Extractor(const Extraction& x) : x_(x) {}
    Status run();

private:
    Status entry(struct archive_entry* e);
    Status copy_data(const std::string& path);
    void warn(const std::string& text) {
        if (++warnings_ <= kMaxWarnings) x_.report->warning(text);
    }
    void defer_attributes(struct archive_entry* e, const std::string& path);
    void progress() {
        if (x_.input_size) x_.report->progress(percent_of(static_cast<uint64_t>(archive_filter_bytes(in_, -1)), x_.input_size));
    }

    Extraction x_;
    struct archive* in_ = nullptr;
    struct archive* out_ = nullptr;
    SymlinkGuard links_;
    std::optional<std::array<timespec, 2>> top_times_;  // of the "." entry: set once all is in it
    unsigned long entries_ = 0;
    unsigned warnings_ = 0;
    size_t deferred_bytes_ = 0;
};

Status Extractor::run() {
    in_ = archive_read_new();
    out_ = archive_write_disk_new();
    if (!in_ || !out_) return plain_error("Failed to set up libarchive", ENOMEM);
    archive_read_support_format_tar(in_);  // ustar, pax, GNU and v7: tar formats only
    support_compressions(in_);
    // Owners as numbers: archive_write_disk_set_standard_lookup() is never called, so no name is looked up.
    archive_write_disk_set_options(out_, kExtractFlags);
    if (archive_read_open_fd(in_, x_.in, kReadBlock) != ARCHIVE_OK)
        return archive_failure(in_, "Failed to read the archive");
    Status result;
    for (;;) {
        struct archive_entry* e = nullptr;
        int r = archive_read_next_header(in_, &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            result = archive_failure(in_, e ? fmt::format("entry \"{}\"", entry_path(e)) : "Failed to read the archive");
            break;
        }
        if (r == ARCHIVE_WARN) warn(archive_failure(in_, fmt::format("entry \"{}\"", entry_path(e))).message);
        if (result = entry(e); !result.ok()) break;
        progress();
    }
    // Directories' modes and times are set last, by close (their entries would change their times).
    int r = archive_write_close(out_);
    if (result.ok() && r < ARCHIVE_WARN)
        result = archive_failure(out_, "Failed to set the modes and times of directories");
    if (result.ok() && r == ARCHIVE_WARN) warn(archive_failure(out_, "Setting the modes and times of directories").message);
    if (result.ok() && top_times_ && ::utimensat(AT_FDCWD, ".", top_times_->data(), 0) < 0)
        result = errno_error("Failed to set the times of the image's root directory");
    archive_write_free(out_);
    archive_read_free(in_);
    if (warnings_ > kMaxWarnings) x_.report->warning(fmt::format("{} more warnings not shown", warnings_ - kMaxWarnings));
    return result;
}

Status Extractor::entry(struct archive_entry* e) {
    std::string path = entry_path(e);
    auto refused = [&](const std::string& why, int code) {
        return plain_error(fmt::format("entry \"{}\": {}", path, why), code);
    };
    if (++entries_ > kMaxEntries) return plain_error(fmt::format("the archive has more than {} entries", kMaxEntries), E2BIG);
    if (archive_entry_size_is_set(e) && static_cast<uint64_t>(archive_entry_size(e)) > x_.fs_size)
        return refused(fmt::format("its size ({} bytes) exceeds the size of the pool's filesystem ({} bytes)",
                                   archive_entry_size(e), x_.fs_size),
                       EFBIG);
    // The image's root: its attributes (immutable) are the import's to decide (ImportOptions::read_only).
    if (is_top(path)) {
        archive_entry_set_fflags(e, 0, 0);
        // Its times are its own once nothing more is made in it: libarchive sets those of a directory that
        // exists (this one does) at once, not with the directories it made, at the end.
        auto at = [&](bool set, time_t sec, long nsec) { return set ? timespec{sec, nsec} : timespec{0, UTIME_OMIT}; };
        top_times_ = {at(archive_entry_atime_is_set(e), archive_entry_atime(e), archive_entry_atime_nsec(e)),
                      at(archive_entry_mtime_is_set(e), archive_entry_mtime(e), archive_entry_mtime_nsec(e))};
    }
    defer_attributes(e, path);
    if (deferred_bytes_ > kMaxDeferred)
        return refused(fmt::format("more than {} bytes of trusted and security extended attributes", kMaxDeferred), E2BIG);
    BERTH_TRY(links_.before(e, path));
    int r = archive_write_header(out_, e);
    if (r < ARCHIVE_WARN) return archive_failure(out_, fmt::format("entry \"{}\"", path));
    if (r == ARCHIVE_WARN) warn(archive_failure(out_, fmt::format("entry \"{}\"", path)).message);
    links_.after(e);
    if (archive_entry_size(e) > 0) BERTH_TRY(copy_data(path));
    r = archive_write_finish_entry(out_);
    if (r < ARCHIVE_WARN) return archive_failure(out_, fmt::format("entry \"{}\"", path));
    if (r == ARCHIVE_WARN) warn(archive_failure(out_, fmt::format("entry \"{}\"", path)).message);
    return {};
}

Status Extractor::copy_data(const std::string& path) {
    for (;;) {
        const void* buf = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        int r = archive_read_data_block(in_, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) return {};
        if (r < ARCHIVE_WARN) return archive_failure(in_, fmt::format("entry \"{}\"", path));
        if (r == ARCHIVE_WARN) warn(archive_failure(in_, fmt::format("entry \"{}\"", path)).message);
        // At its offset: the holes of a sparse entry stay holes.
        if (archive_write_data_block(out_, buf, size, offset) < ARCHIVE_WARN)
            return archive_failure(out_, fmt::format("entry \"{}\"", path));
        progress();
    }
}

void Extractor::defer_attributes(struct archive_entry* e, const std::string& path) {
    if (archive_entry_xattr_reset(e) == 0) return;
    struct Attr {
        std::string name, value;
    };
    std::vector<Attr> kept;
    bool deferred = false;
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        std::string v(static_cast<const char*>(value), size);
        if (!needs_parent(name)) {
            kept.push_back({name, std::move(v)});
            continue;
        }
        deferred = true;
        deferred_bytes_ += path.size() + std::strlen(name) + size;
        if (deferred_bytes_ <= kMaxDeferred) send_frame(x_.messages, 'X', path + '\0' + name + '\0' + v);
    }
    if (!deferred) return;
    archive_entry_xattr_clear(e);
    for (auto& a : kept) archive_entry_xattr_add_entry(e, a.name.c_str(), a.value.data(), a.value.size());
}

// Everything but `keep` closed: no descriptor of the parent's (a directory outside the image) stays.
void close_all_but(std::vector<int> keep) {
    std::sort(keep.begin(), keep.end());
    unsigned next = 0;
    for (int k : keep) {
        if (k < 0 || static_cast<unsigned>(k) < next) continue;
        if (static_cast<unsigned>(k) > next) ::close_range(next, static_cast<unsigned>(k) - 1, 0);
        next = static_cast<unsigned>(k) + 1;
    }
    ::close_range(next, ~0U, 0);
}

Status contain(int root, const Extraction& x, int report_fd) {
    // Nothing to reach but the image: no network (abstract sockets included) and no System V IPC. Each
    // where it can be had (a host without those namespaces, or that refuses them, still imports, as
    // systemd-import does), said when it cannot.
    for (auto [flag, what] : {std::pair{CLONE_NEWNET, "network"}, std::pair{CLONE_NEWIPC, "IPC"}})
        if (::unshare(flag) < 0)
            TransferReport(report_fd).warning(fmt::format("The extractor keeps the host's {} namespace: {}", what, std::strerror(errno)));
    if (::fchdir(root) < 0 || ::chroot(".") < 0) return errno_error("Failed to enter the new image");
    ::umask(0);  // modes exactly as archived
    close_all_but({0, 1, 2, x.in, x.messages, report_fd});
    for (cap_value_t c = 0; c < static_cast<cap_value_t>(cap_max_bits()); c++) {
        if (std::find(std::begin(kExtractorCaps), std::end(kExtractorCaps), c) != std::end(kExtractorCaps)) continue;
        if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return errno_error(fmt::format("Failed to drop capability {} from the bounding set", c));
    }
    cap_t caps = cap_init();
    if (!caps) return errno_error("Failed to set up capabilities");
    constexpr int n = sizeof kExtractorCaps / sizeof kExtractorCaps[0];
    int r = cap_set_flag(caps, CAP_EFFECTIVE, n, kExtractorCaps, CAP_SET) |
            cap_set_flag(caps, CAP_PERMITTED, n, kExtractorCaps, CAP_SET);
    if (r == 0) r = cap_set_proc(caps);
    cap_free(caps);
    if (r < 0) return errno_error("Failed to drop capabilities");
    (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return errno_error("Failed to forbid new privileges");
    return {};
}

// The extractor: runs in the child, ends it.
[[noreturn]] void extractor(pid_t parent, int root, const Extraction& x) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || ::getppid() != parent) ::_exit(kExitFailed);
    Utf8Names utf8;  // before the chroot, which has no locales
    Status s = contain(root, x, x.report->fd());
    if (s.ok()) s = Extractor(x).run();
    if (!s.ok()) {
        int32_t code = s.error().code;
        send_frame(x.messages, 'E', std::string(reinterpret_cast<const char*>(&code), sizeof code) + s.error().message);
    }
    ::_exit(s.ok() ? 0 : kExitFailed);
}

// The parent's part of a deferred attribute: set on the entry beneath the image, never through a link;
// only one that needs the parent (what else the extractor asks for, it could have set itself: it asks
// for more only when it is no longer the extractor, and is not heard).
void set_deferred(int root, const Deferred& d, TransferReport& report) {
    if (!needs_parent(d.name.c_str())) return;
    open_how how{};
    how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, root, d.path.c_str(), &how, sizeof how)));
    // (An O_PATH descriptor takes no fsetxattr: its /proc/self/fd link names the inode itself.)
    bool set = fd && ::setxattr(fmt::format("/proc/self/fd/{}", fd.get()).c_str(), d.name.c_str(), d.value.data(),
                                d.value.size(), 0) == 0;
    if (!set)
        report.warning(
            fmt::format("entry \"{}\": Failed to set extended attribute {}: {}", d.path, d.name, std::strerror(errno)));
}

// Runs the extractor and waits for it: its error, or the attributes it left to set.
Result<std::vector<Deferred>> run_extractor(int root, const Extraction& base, TransferReport& report) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return errno_error("Failed to create a pipe");
    UniqueFd rd(pipe_fds[0]), wr(pipe_fds[1]);
    Extraction x = base;
    x.messages = wr.get();
    x.report = &report;
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) return errno_error("Failed to start the extractor");
    if (pid == 0) extractor(parent, root, x);
    wr.reset();
    std::string data;
    char buf[65536];
    bool flooded = false;
    for (;;) {
        ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        data.append(buf, static_cast<size_t>(n));
        if ((flooded = data.size() > kMaxDeferred + (1 << 20))) {  // more than it may say: not our extractor any more
            ::kill(pid, SIGKILL);
            break;
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    std::vector<Deferred> deferred;
    std::optional<Error> error;
    for (size_t at = 0; at + 5 <= data.size();) {
        uint32_t len = 0;
        std::memcpy(&len, data.data() + at, sizeof len);
        if (len == 0 || at + 4 + len > data.size()) break;
        char type = data[at + 4];
        std::string payload = data.substr(at + 5, len - 1);
        at += 4 + len;
        if (type == 'E' && payload.size() >= 4) {
            int32_t code = 0;
            std::memcpy(&code, payload.data(), sizeof code);
            error = plain_error(payload.substr(4), code);
        } else if (type == 'X') {
            size_t a = payload.find('\0'), b = a == std::string::npos ? a : payload.find('\0', a + 1);
            if (b != std::string::npos)
                deferred.push_back({payload.substr(0, a), payload.substr(a + 1, b - a - 1), payload.substr(b + 1)});
        }
    }
    if (flooded) return plain_error("the extractor sent more than it may: stopped", EIO);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return deferred;
    if (error) return *error;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        return plain_error(fmt::format("the extractor was killed by signal {} ({})", sig, strsignal(sig)), EIO);
    }
    return plain_error(fmt::format("the extractor failed with exit status {}", WEXITSTATUS(status)), EIO);
}

// How many bytes are to be read from `in`, when it is a regular file (for progress); else 0.
uint64_t input_size(int in) {
    struct stat st {};
    if (::fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) return 0;
    off_t at = ::lseek(in, 0, SEEK_CUR);
    return at >= 0 && at < st.st_size ? static_cast<uint64_t>(st.st_size - at) : 0;
}

// ---- raw images ----------------------------------------------------------------------------------------

// Writes a raw image's bytes at their offsets, leaving blocks of zeros unwritten: holes, once the file
// is given its size.
class SparseWriter {
public:
    explicit SparseWriter(int fd) : fd_(fd) {}
    Status write(const char* p, size_t n, uint64_t offset) {
        end_ = std::max(end_, offset + n);
        while (n > 0) {
            // Chunks end at 4 KiB boundaries of the file, so that a hole is whole blocks.
            size_t chunk = std::min<size_t>(n, kChunk - offset % kChunk);
            size_t run = 0;  // data chunks written together
            while (run < n && !zero(p + run, chunk)) {
                run += chunk;
                chunk = std::min<size_t>(n - run, kChunk);
            }
            if (run > 0) {
                BERTH_TRY(pwrite_all(p, run, offset));
            } else {
                run = chunk;  // a zero chunk: skipped
            }
            p += run;
            n -= run;
            offset += run;
        }
        return {};
    }
    uint64_t end() const { return end_; }

private:
    static constexpr size_t kChunk = 4096;
    static bool zero(const char* p, size_t n) { return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0); }
    Status pwrite_all(const char* p, size_t n, uint64_t offset) {
        while (n > 0) {
            ssize_t w = ::pwrite(fd_, p, n, static_cast<off_t>(offset));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return errno_error("Failed to write the image");
            p += w;
            n -= static_cast<size_t>(w);
            offset += static_cast<uint64_t>(w);
        }
        return {};
    }
    int fd_;
    uint64_t end_ = 0;
};

Status read_raw(int in, int fd, TransferReport& report) {
    std::unique_ptr<struct archive, int (*)(struct archive*)> a(archive_read_new(), archive_read_free);
    if (!a) return plain_error("Failed to set up libarchive", ENOMEM);
    // The raw "format" takes any data: the input, decompressed if it is compressed, is the image.
    archive_read_support_format_raw(a.get());
    support_compressions(a.get());
    uint64_t size = input_size(in);
    if (archive_read_open_fd(a.get(), in, kReadBlock) != ARCHIVE_OK) return archive_failure(a.get(), "Failed to read the image");
    struct archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) return {};  // an empty image
    if (r < ARCHIVE_WARN) return archive_failure(a.get(), "Failed to read the image");
    SparseWriter w(fd);
    for (;;) {
        const void* buf = nullptr;
        size_t n = 0;
        la_int64_t offset = 0;
        r = archive_read_data_block(a.get(), &buf, &n, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return archive_failure(a.get(), "Failed to read the image");
        if (r == ARCHIVE_WARN) report.warning(archive_failure(a.get(), "Reading the image").message);
        // qcow2 (systemd-import converts it): said, rather than kept as a raw image nothing can boot.
        if (offset == 0 && n >= 4 && std::memcmp(buf, "QFI\xfb", 4) == 0)
            return plain_error("The image is in qcow2 format: only raw disk images are imported (qemu-img convert -O raw "
                               "makes one)", ENOTSUP);
        BERTH_TRY(w.write(static_cast<const char*>(buf), n, static_cast<uint64_t>(offset)));
        if (size) report.progress(percent_of(static_cast<uint64_t>(archive_filter_bytes(a.get(), -1)), size));
    }
    if (::ftruncate(fd, static_cast<off_t>(w.end())) < 0) return errno_error("Failed to set the size of the image");
    return {};
}

}  // namespace

Status import_tar(int in, const std::string& pool, const std::string& name, const ImportOptions& options,
                  TransferReport& report, const SettingsDirs& settings) {
    BERTH_ASSIGN(Landing landing, Landing::begin(pool, name, options, Landing::Kind::Tree));
    auto failed = [&](const Error& e) { return wrap_error(e, fmt::format("Failed to import image \"{}\"", name)); };
    report.info(fmt::format("Importing image \"{}\"...", name));
    report.progress(0);
    struct statfs sf {};
    if (::fstatfs(landing.fd(), &sf) < 0) return failed(errno_error(fmt::format("Failed to look at {}", landing.shown())));
    make_blocking(in);
    Extraction x;
    x.in = in;
    x.input_size = input_size(in);
    x.fs_size = static_cast<uint64_t>(sf.f_blocks) * static_cast<uint64_t>(sf.f_frsize);
    auto deferred = run_extractor(landing.fd(), x, report);
    if (!deferred.ok()) return failed(deferred.error());
    for (auto& d : *deferred) set_deferred(landing.fd(), d, report);
    // Once, for the whole image (as systemd's import does), rather than a sync per file.
    if (::syncfs(landing.fd()) < 0) return failed(errno_error(fmt::format("Failed to write {} to disk", landing.shown())));
    if (auto r = landing.finish(options, settings); !r.ok()) return failed(r.error());
    report.progress(100);
    report.info(fmt::format("Imported image \"{}\".", name));
    return {};
}

Status import_raw(int in, const std::string& pool, const std::string& name, const ImportOptions& options,
                  TransferReport& report, const SettingsDirs& settings) {
    BERTH_ASSIGN(Landing landing, Landing::begin(pool, name, options, Landing::Kind::Raw));
    auto failed = [&](const Error& e) { return wrap_error(e, fmt::format("Failed to import image \"{}\"", name)); };
    report.info(fmt::format("Importing image \"{}\"...", name));
    report.progress(0);
    make_blocking(in);
    if (auto r = read_raw(in, landing.fd(), report); !r.ok()) return failed(r.error());
    if (::fsync(landing.fd()) < 0) return failed(errno_error(fmt::format("Failed to write {} to disk", landing.shown())));
    if (auto r = landing.finish(options, settings); !r.ok()) return failed(r.error());
    report.progress(100);
    report.info(fmt::format("Imported image \"{}\".", name));
    return {};
}

}  // namespace berth::images
