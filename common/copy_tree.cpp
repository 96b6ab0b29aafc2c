#include "common/copy_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "common/fd.hpp"

namespace berth {

namespace {

constexpr int kMaxDepth = 512;

using Inode = std::pair<dev_t, ino_t>;

struct Copier {
    const CopyTreeOptions& o;
    std::vector<Inode> ancestors;  // source directories being copied, top first
    std::set<Inode> made;          // destination directories this copy created

    uint32_t uid(uint32_t id) const { return o.map_uid ? o.map_uid(id) : id; }
    uint32_t gid(uint32_t id) const { return o.map_gid ? o.map_gid(id) : id; }
    mode_t mode_of(const struct stat& st) const {
        mode_t m = st.st_mode & 07777;
        if (o.drop_setid && !S_ISDIR(st.st_mode)) m &= ~static_cast<mode_t>(S_ISUID | S_ISGID);
        return m;
    }

    Status entry(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                 const std::string& src, const std::string& dst, int depth);
    Status leaf(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                const std::string& src, const std::string& dst);
    Status regular(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                   const std::string& src, const std::string& dst);
    Status symlink(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                   const std::string& src, const std::string& dst);
    Status special(const struct stat& st, int ddir, const std::string& dname, const std::string& dst);
    Status directory(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                     const std::string& src, const std::string& dst, int depth);
};

bool same_inode(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

Error changed(const std::string& src) {
    return plain_error(fmt::format("Failed to copy {}: it changed while being copied", src), ESTALE);
}

// The object `name` in `dir` opened without following it, and checked to be the one `st` describes.
Result<UniqueFd> open_same(int dir, const std::string& name, int flags, const struct stat& st, const std::string& src) {
    UniqueFd fd(::openat(dir, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        if (errno == ELOOP || errno == ENOTDIR) return changed(src);
        return errno_error(fmt::format("Failed to open {}", src));
    }
    struct stat now {};
    if (::fstat(fd.get(), &now) < 0) return errno_error(fmt::format("Failed to look at {}", src));
    if (!same_inode(now, st) || (now.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) return changed(src);
    return fd;
}

Status copy_bytes(int in, int out, const std::string& src, const std::string& dst) {
    bool range = true;
    char buf[65536];
    for (;;) {
        if (range) {
            ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
            if (n > 0) continue;
            if (n == 0) return {};
            if (errno == EINTR) continue;
            if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != EBADF)
                return errno_error(fmt::format("Failed to copy {} to {}", src, dst));
            range = false;
        }
        ssize_t n = ::read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error(fmt::format("Failed to read {}", src));
        if (n == 0) return {};
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::write(out, buf + done, static_cast<size_t>(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return errno_error(fmt::format("Failed to write {}", dst));
            done += w;
        }
    }
}

Status Copier::regular(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                       const std::string& src, const std::string& dst) {
    // O_PATH first: a FIFO or device node swapped in is never opened for reading (it could block or act).
    BERTH_ASSIGN(UniqueFd at, open_same(sdir, sname, O_PATH, st, src));
    UniqueFd in(::open(fmt::format("/proc/self/fd/{}", at.get()).c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!in) return errno_error(fmt::format("Failed to open {}", src));
    UniqueFd out(::openat(ddir, dname.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
    if (!out) return errno_error(fmt::format("Failed to create {}", dst));
    // Owner before mode: chown drops setuid bits.
    Status s = copy_bytes(in.get(), out.get(), src, dst);
    if (s.ok() && ::fchown(out.get(), uid(st.st_uid), gid(st.st_gid)) < 0)
        s = errno_error(fmt::format("Failed to set the owner of {}", dst));
    if (s.ok() && ::fchmod(out.get(), mode_of(st)) < 0)
        s = errno_error(fmt::format("Failed to set the mode of {}", dst));
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (s.ok() && ::futimens(out.get(), times) < 0) s = errno_error(fmt::format("Failed to set the times of {}", dst));
    if (!s.ok()) (void)::unlinkat(ddir, dname.c_str(), 0);
    return s;
}

Status Copier::symlink(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                       const std::string& src, const std::string& dst) {
    char target[PATH_MAX];
    ssize_t n = ::readlinkat(sdir, sname.c_str(), target, sizeof target);
    if (n < 0) return errno == EINVAL ? changed(src) : errno_error(fmt::format("Failed to read link {}", src));
    if (static_cast<size_t>(n) >= sizeof target)
        return plain_error(fmt::format("Failed to copy {}: link too long", src), ENAMETOOLONG);
    if (::symlinkat(std::string(target, static_cast<size_t>(n)).c_str(), ddir, dname.c_str()) < 0)
        return errno_error(fmt::format("Failed to create {}", dst));
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (::fchownat(ddir, dname.c_str(), uid(st.st_uid), gid(st.st_gid), AT_SYMLINK_NOFOLLOW) < 0 ||
        ::utimensat(ddir, dname.c_str(), times, AT_SYMLINK_NOFOLLOW) < 0) {
        Error e = errno_error(fmt::format("Failed to set the owner and times of {}", dst));
        (void)::unlinkat(ddir, dname.c_str(), 0);
        return e;
    }
    return {};
}

// FIFOs, sockets (the inode only: nothing listens on it) and device nodes.
Status Copier::special(const struct stat& st, int ddir, const std::string& dname, const std::string& dst) {
    if (::mknodat(ddir, dname.c_str(), (st.st_mode & S_IFMT) | mode_of(st), st.st_rdev) < 0)
        return errno_error(fmt::format("Failed to create {}", dst));
    // By an O_PATH descriptor of what was just made, so a name swapped meanwhile changes nothing else.
    UniqueFd fd(::openat(ddir, dname.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat now {};
    const timespec times[2] = {st.st_atim, st.st_mtim};
    Status s;
    if (!fd || ::fstat(fd.get(), &now) < 0 || (now.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
        s = errno_error(fmt::format("Failed to open {}", dst));
    else if (::fchownat(fd.get(), "", uid(st.st_uid), gid(st.st_gid), AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ||
             ::utimensat(fd.get(), "", times, AT_EMPTY_PATH) < 0)
        s = errno_error(fmt::format("Failed to set the owner and times of {}", dst));
    if (!s.ok()) (void)::unlinkat(ddir, dname.c_str(), 0);
    return s;
}

Status Copier::leaf(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                    const std::string& src, const std::string& dst) {
    switch (st.st_mode & S_IFMT) {
        case S_IFREG: return regular(sdir, sname, st, ddir, dname, src, dst);
        case S_IFLNK: return symlink(sdir, sname, st, ddir, dname, src, dst);
        case S_IFIFO:
        case S_IFSOCK:
        case S_IFCHR:
        case S_IFBLK: return special(st, ddir, dname, dst);
        default: return plain_error(fmt::format("Failed to copy {}: unknown file type", src), EOPNOTSUPP);
    }
}

Status Copier::directory(int sdir, const std::string& sname, const struct stat& st, int ddir,
                         const std::string& dname, const std::string& src, const std::string& dst, int depth) {
    if (depth > kMaxDepth)
        return plain_error(fmt::format("Failed to copy {}: deeper than {} levels", src, kMaxDepth), ELOOP);
    Inode self{st.st_dev, st.st_ino};
    for (auto& a : ancestors)
        if (a == self)
            return plain_error(
                fmt::format("Failed to copy {}: it contains itself (a bind mount of a directory above it)", src),
                ELOOP);
    if (made.contains(self))
        return plain_error(fmt::format("Failed to copy {}: it is a directory this copy created (the destination is "
                                       "inside the source)", src), ELOOP);
    BERTH_ASSIGN(UniqueFd in, open_same(sdir, sname, O_RDONLY | O_DIRECTORY, st, src));

    bool created = ::mkdirat(ddir, dname.c_str(), 0700) == 0;
    if (!created && errno != EEXIST) return errno_error(fmt::format("Failed to create directory {}", dst));
    UniqueFd out(::openat(ddir, dname.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!out) return errno_error(fmt::format("Failed to open directory {}", dst));
    struct stat dst_st {};
    if (::fstat(out.get(), &dst_st) < 0) return errno_error(fmt::format("Failed to look at {}", dst));
    if (created) made.insert({dst_st.st_dev, dst_st.st_ino});

    // Two descriptors per level (source and destination), none more.
    DIR* d = ::fdopendir(in.get());
    if (!d) return errno_error(fmt::format("Failed to read directory {}", src));
    (void)in.release();  // the DIR owns it now
    std::unique_ptr<DIR, int (*)(DIR*)> dir(d, ::closedir);
    ancestors.push_back(self);
    Status result;
    for (;;) {
        errno = 0;
        dirent* e = ::readdir(d);
        if (!e) {
            if (errno != 0) result = errno_error(fmt::format("Failed to read directory {}", src));
            break;
        }
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        struct stat child {};
        if (::fstatat(::dirfd(d), name.c_str(), &child, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) continue;  // gone since listed
            result = errno_error(fmt::format("Failed to look at {}/{}", src, name));
            break;
        }
        Status s = entry(::dirfd(d), name, child, out.get(), name, src + "/" + name, dst + "/" + name, depth + 1);
        // Merging: what exists already at the destination stays (replaced if asked, in entry()).
        if (!s.ok() && s.error().code != EEXIST) {
            result = s;
            break;
        }
    }
    ancestors.pop_back();
    if (!result.ok() || !created) return result;
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (::fchown(out.get(), uid(st.st_uid), gid(st.st_gid)) < 0 || ::fchmod(out.get(), mode_of(st)) < 0 ||
        ::futimens(out.get(), times) < 0)
        return errno_error(fmt::format("Failed to set the owner, mode and times of {}", dst));
    return {};
}

Status Copier::entry(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                     const std::string& src, const std::string& dst, int depth) {
    if (S_ISDIR(st.st_mode)) return directory(sdir, sname, st, ddir, dname, src, dst, depth);
    Status s = leaf(sdir, sname, st, ddir, dname, src, dst);
    if (s.ok() || s.error().code != EEXIST || !o.replace) return s;
    // Replacing: what is there goes (not a directory: unlinkat refuses one, and the first error stands).
    if (::unlinkat(ddir, dname.c_str(), 0) < 0) return s;
    return leaf(sdir, sname, st, ddir, dname, src, dst);
}

}  // namespace

Status copy_tree_at(int src_dir, const std::string& from, int dst_dir, const std::string& to,
                    const CopyTreeOptions& options) {
    const std::string& src = options.shown_source.empty() ? from : options.shown_source;
    const std::string& dst = options.shown_destination.empty() ? to : options.shown_destination;
    struct stat st {};
    if (::fstatat(src_dir, from.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno_error(fmt::format("Failed to look at {}", src));
    mode_t old_umask = ::umask(0);
    Copier c{options, {}, {}};
    Status s = c.entry(src_dir, from, st, dst_dir, to, src, dst, 0);
    ::umask(old_umask);
    return s;
}

Result<SplitPath> split_last_component(const std::string& path) {
    std::string p = path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    size_t slash = p.rfind('/');
    if (slash == std::string::npos) return plain_error(fmt::format("\"{}\" is not an absolute path", path));
    SplitPath out{slash == 0 ? std::string("/") : p.substr(0, slash), p.substr(slash + 1)};
    if (out.name.empty() || out.name == "." || out.name == "..")
        return plain_error(fmt::format("\"{}\" does not end in a file name", path));
    return out;
}

}  // namespace berth
