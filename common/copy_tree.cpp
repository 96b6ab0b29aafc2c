#include "common/copy_tree.hpp"
#include "common/copy_data.hpp"

#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <linux/limits.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "common/fd.hpp"

namespace berth {

namespace {

constexpr int kMaxDepth = 512;

using Inode = std::pair<dev_t, ino_t>;

// Hard links: the copy of a source inode with more names than one, held until all its names were met.
// Held by an O_PATH descriptor while there are few, past that by a file handle (a few dozen bytes; reopening
// one needs CAP_DAC_READ_SEARCH, else those names become copies of their own).
constexpr size_t kMaxLinkFds = 64;
constexpr size_t kMaxLinks = 65536;

struct LinkedCopy {
    UniqueFd fd;         // O_PATH, or
    std::string handle;  // a struct file_handle
    Inode copy{};        // the copy's device and inode
    nlink_t left = 0;    // the source's names not met yet
};

// An object whose extended attributes are read or set: a descriptor open for reading or writing (f*xattr),
// or an O_PATH one (a symlink), reached through its /proc/self/fd link: the *xattr calls that follow a link
// stop at the object the magic link names, never at what a symlink there points to.
struct XattrTarget {
    int fd;
    bool o_path;
    std::string proc() const { return fmt::format("/proc/self/fd/{}", fd); }
    ssize_t list(char* buf, size_t size) const {
        return o_path ? ::listxattr(proc().c_str(), buf, size) : ::flistxattr(fd, buf, size);
    }
    ssize_t get(const char* name, void* buf, size_t size) const {
        return o_path ? ::getxattr(proc().c_str(), name, buf, size) : ::fgetxattr(fd, name, buf, size);
    }
    int set(const char* name, const void* value, size_t size) const {
        return o_path ? ::setxattr(proc().c_str(), name, value, size, 0) : ::fsetxattr(fd, name, value, size, 0);
    }
};

// POSIX ACLs as the kernel shows them in system.posix_acl_access/default (linux/posix_acl_xattr.h): a
// little-endian header {u32 version = 2}, then entries {u16 tag, u16 perm, u32 id}, sorted by tag (and by
// id within ACL_USER and ACL_GROUP); only those two tags carry an id.
constexpr uint32_t kAclVersion = 2;
constexpr uint16_t kAclUser = 0x02, kAclGroupObj = 0x04, kAclGroup = 0x08, kAclMask = 0x10;
constexpr const char* kAclAccess = "system.posix_acl_access";
constexpr const char* kAclDefault = "system.posix_acl_default";

struct AclEntry {
    uint16_t tag, perm;
    uint32_t id;
};

std::optional<std::vector<AclEntry>> parse_acl(std::string_view v) {
    if (v.size() < 4 || (v.size() - 4) % 8 != 0) return std::nullopt;
    uint32_t version;
    std::memcpy(&version, v.data(), 4);
    if (le32toh(version) != kAclVersion) return std::nullopt;
    std::vector<AclEntry> out;
    for (size_t at = 4; at < v.size(); at += 8) {
        uint16_t tag, perm;
        uint32_t id;
        std::memcpy(&tag, v.data() + at, 2);
        std::memcpy(&perm, v.data() + at + 2, 2);
        std::memcpy(&id, v.data() + at + 4, 4);
        out.push_back({le16toh(tag), le16toh(perm), le32toh(id)});
    }
    return out;
}

std::string unparse_acl(const std::vector<AclEntry>& entries) {
    std::string out(4 + 8 * entries.size(), '\0');
    uint32_t version = htole32(kAclVersion);
    std::memcpy(out.data(), &version, 4);
    size_t at = 4;
    for (auto& e : entries) {
        uint16_t tag = htole16(e.tag), perm = htole16(e.perm);
        uint32_t id = htole32(e.id);
        std::memcpy(out.data() + at, &tag, 2);
        std::memcpy(out.data() + at + 2, &perm, 2);
        std::memcpy(out.data() + at + 4, &id, 4);
        at += 8;
    }
    return out;
}

// The permissions an access ACL gives the owning group (its group entry, within the mask), or nullopt.
std::optional<mode_t> acl_group_perms(std::string_view v) {
    auto entries = parse_acl(v);
    if (!entries) return std::nullopt;
    std::optional<mode_t> group;
    mode_t mask = 07;
    for (auto& e : *entries) {
        if (e.tag == kAclGroupObj) group = e.perm & 07;
        if (e.tag == kAclMask) mask = e.perm & 07;
    }
    if (!group) return std::nullopt;
    return *group & mask;
}

// What a destination refuses to take (a namespace it lacks or forbids, no room, a value it rejects):
// skipped, as systemd copies extended attributes best effort.
bool refused(int err) {
    return err == EPERM || err == EACCES || err == ENOTSUP || err == EOPNOTSUPP || err == ENODATA ||
           err == EINVAL || err == ERANGE || err == E2BIG || err == ENOSPC || err == EDQUOT;
}

// The mount a file is on: its mount id, where statx gives one (Linux 5.8), else its device (which also
// tells a btrfs subvolume apart: old kernels then copy nested subvolumes empty, never another mount).
struct MountOf {
    uint64_t id = 0;
    bool by_device = false;
    bool operator==(const MountOf&) const = default;
};
MountOf mount_of(int fd, const struct stat& st) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID)) return {stx.stx_mnt_id, false};
    return {static_cast<uint64_t>(st.st_dev), true};
}

struct Copier {
    const CopyTreeOptions& o;
    std::optional<MountOf> top_mount;  // one_mount: the top directory's
    std::vector<Inode> ancestors;  // source directories being copied, top first
    std::set<Inode> made;          // destination directories this copy created
    std::map<Inode, LinkedCopy> links;  // source inode -> its copy, for hard links
    size_t link_fds = 0;
    std::vector<char> names = std::vector<char>(XATTR_LIST_MAX), value = std::vector<char>(XATTR_SIZE_MAX);

    uint32_t uid(uint32_t id) const { return o.map_uid ? o.map_uid(id) : id; }
    uint32_t gid(uint32_t id) const { return o.map_gid ? o.map_gid(id) : id; }
    mode_t mode_of(const struct stat& st) const {
        mode_t m = st.st_mode & 07777;
        if (o.drop_setid && !S_ISDIR(st.st_mode)) m &= ~static_cast<mode_t>(S_ISUID | S_ISGID);
        return m;
    }

    // File capabilities carry a root uid and act for whoever runs the file: none out of a machine (as set-id
    // bits), none through a uid map (a map given is taken as not the identity).
    bool drop_capabilities() const { return o.drop_setid || static_cast<bool>(o.map_uid); }
    std::optional<std::string> map_acl(std::string_view v) const;
    Status xattrs(XattrTarget from, XattrTarget to, const std::string& src, const std::string& dst);
    void remember(const struct stat& st, int copy_fd);
    Result<bool> link_copy(const struct stat& st, int ddir, const std::string& dname, const std::string& dst);

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

// The ids of an ACL through the maps, entries sorted again; nullopt if malformed or two named entries of a
// tag end up on one id (the ACL is not copied then).
std::optional<std::string> Copier::map_acl(std::string_view v) const {
    auto entries = parse_acl(v);
    if (!entries) return std::nullopt;
    for (auto& e : *entries) {
        if (e.tag == kAclUser) e.id = uid(e.id);
        if (e.tag == kAclGroup) e.id = gid(e.id);
    }
    auto named = [](const AclEntry& e) { return e.tag == kAclUser || e.tag == kAclGroup; };
    std::stable_sort(entries->begin(), entries->end(), [&](const AclEntry& a, const AclEntry& b) {
        if (a.tag != b.tag) return a.tag < b.tag;
        return named(a) && a.id < b.id;
    });
    for (size_t i = 1; i < entries->size(); i++)
        if (named((*entries)[i]) && (*entries)[i].tag == (*entries)[i - 1].tag &&
            (*entries)[i].id == (*entries)[i - 1].id)
            return std::nullopt;
    return unparse_acl(*entries);
}

// Copies the extended attributes the process can read and the destination takes; what the destination
// refuses is skipped. Owner and mode are set already (a chown drops security.capability; an access ACL sets
// the group bits of the mode from its mask). An access ACL not copied leaves the owning group what the ACL
// gave it, never the mask's wider permissions.
Status Copier::xattrs(XattrTarget from, XattrTarget to, const std::string& src, const std::string& dst) {
    ssize_t n = from.list(names.data(), names.size());
    if (n < 0) {
        if (refused(errno)) return {};  // none, or none the process may see
        return errno_error(fmt::format("Failed to list the extended attributes of {}", src));
    }
    for (size_t at = 0; at < static_cast<size_t>(n);) {
        std::string name(names.data() + at, ::strnlen(names.data() + at, static_cast<size_t>(n) - at));
        at += name.size() + 1;
        if (name.empty() || (name == "security.capability" && drop_capabilities())) continue;
        ssize_t size = from.get(name.c_str(), value.data(), value.size());
        if (size < 0) {
            if (errno == ENODATA || refused(errno)) continue;  // gone since listed, or not ours to read
            return errno_error(fmt::format("Failed to read extended attribute {} of {}", name, src));
        }
        std::string_view v(value.data(), static_cast<size_t>(size));
        bool set;
        if ((name == kAclAccess || name == kAclDefault) && (o.map_uid || o.map_gid)) {
            auto mapped = map_acl(v);
            set = mapped && to.set(name.c_str(), mapped->data(), mapped->size()) == 0;
            if (!set && mapped && !refused(errno))
                return errno_error(fmt::format("Failed to set extended attribute {} of {}", name, dst));
        } else {
            set = to.set(name.c_str(), v.data(), v.size()) == 0;
            if (!set && !refused(errno))
                return errno_error(fmt::format("Failed to set extended attribute {} of {}", name, dst));
        }
        if (!set && name == kAclAccess && !to.o_path) {
            struct stat now {};
            mode_t group = acl_group_perms(v).value_or(0);
            if (::fstat(to.fd, &now) < 0 || ::fchmod(to.fd, (now.st_mode & 07707) | (group << 3)) < 0)
                return errno_error(fmt::format("Failed to set the mode of {}", dst));
        }
    }
    return {};
}

// Remembers the copy (copy_fd, any descriptor of it) of a source with more names than one.
void Copier::remember(const struct stat& st, int copy_fd) {
    if (S_ISDIR(st.st_mode) || st.st_nlink < 2 || links.size() >= kMaxLinks) return;
    if (links.contains({st.st_dev, st.st_ino})) return;
    LinkedCopy c;
    struct stat now {};
    if (::fstat(copy_fd, &now) < 0) return;
    c.copy = {now.st_dev, now.st_ino};
    c.left = st.st_nlink - 1;
    // Not a duplicate of copy_fd: a file held open for writing could not be run meanwhile (ETXTBSY).
    if (link_fds < kMaxLinkFds)
        c.fd.reset(::open(fmt::format("/proc/self/fd/{}", copy_fd).c_str(), O_PATH | O_CLOEXEC));
    if (c.fd) {
        link_fds++;
    } else {
        alignas(file_handle) char buf[sizeof(file_handle) + MAX_HANDLE_SZ];
        auto* h = reinterpret_cast<file_handle*>(buf);
        h->handle_bytes = MAX_HANDLE_SZ;
        int mount_id = 0;
        if (::name_to_handle_at(copy_fd, "", h, &mount_id, AT_EMPTY_PATH) < 0) return;
        c.handle.assign(buf, sizeof(file_handle) + h->handle_bytes);
    }
    links[{st.st_dev, st.st_ino}] = std::move(c);
}

// Makes `dname` in `ddir` a hard link to the copy of another name of `st`'s inode, if one was copied: true
// then. false: copy it (nothing remembered, or the copy cannot be linked to: gone, too many links, another
// file system); EEXIST as creating it would be.
Result<bool> Copier::link_copy(const struct stat& st, int ddir, const std::string& dname, const std::string& dst) {
    auto it = links.find({st.st_dev, st.st_ino});
    if (it == links.end()) return false;
    LinkedCopy& c = it->second;
    UniqueFd reopened;
    int fd = c.fd.get();
    if (!c.fd) {
        alignas(file_handle) char buf[sizeof(file_handle) + MAX_HANDLE_SZ];
        std::memcpy(buf, c.handle.data(), std::min(c.handle.size(), sizeof buf));
        reopened.reset(::open_by_handle_at(ddir, reinterpret_cast<file_handle*>(buf), O_PATH | O_CLOEXEC));
        struct stat now {};
        if (!reopened || ::fstat(reopened.get(), &now) < 0 || Inode{now.st_dev, now.st_ino} != c.copy) {
            links.erase(it);
            return false;
        }
        fd = reopened.get();
    }
    // The magic link names exactly the copy; following it goes no further (a symlink copied stays one).
    if (::linkat(AT_FDCWD, fmt::format("/proc/self/fd/{}", fd).c_str(), ddir, dname.c_str(), AT_SYMLINK_FOLLOW) < 0) {
        if (errno == EEXIST) return errno_error(fmt::format("Failed to create {}", dst));
        if (c.fd) link_fds--;
        links.erase(it);
        return false;
    }
    if (--c.left == 0) {
        if (c.fd) link_fds--;
        links.erase(it);
    }
    return true;
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
    Status s = copy_bytes(in.get(), out.get(), o.keep_holes, src, dst);
    if (s.ok() && ::fchown(out.get(), uid(st.st_uid), gid(st.st_gid)) < 0)
        s = errno_error(fmt::format("Failed to set the owner of {}", dst));
    if (s.ok() && ::fchmod(out.get(), mode_of(st)) < 0)
        s = errno_error(fmt::format("Failed to set the mode of {}", dst));
    if (s.ok()) s = xattrs({in.get(), false}, {out.get(), false}, src, dst);
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (s.ok() && ::futimens(out.get(), times) < 0) s = errno_error(fmt::format("Failed to set the times of {}", dst));
    if (!s.ok()) (void)::unlinkat(ddir, dname.c_str(), 0);
    if (s.ok()) remember(st, out.get());
    return s;
}

Status Copier::symlink(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                       const std::string& src, const std::string& dst) {
    BERTH_ASSIGN(UniqueFd at, open_same(sdir, sname, O_PATH, st, src));
    char target[PATH_MAX];
    ssize_t n = ::readlinkat(at.get(), "", target, sizeof target);
    if (n < 0) return errno == EINVAL ? changed(src) : errno_error(fmt::format("Failed to read link {}", src));
    if (static_cast<size_t>(n) >= sizeof target)
        return plain_error(fmt::format("Failed to copy {}: link too long", src), ENAMETOOLONG);
    if (::symlinkat(std::string(target, static_cast<size_t>(n)).c_str(), ddir, dname.c_str()) < 0)
        return errno_error(fmt::format("Failed to create {}", dst));
    const timespec times[2] = {st.st_atim, st.st_mtim};
    Status s;
    if (::fchownat(ddir, dname.c_str(), uid(st.st_uid), gid(st.st_gid), AT_SYMLINK_NOFOLLOW) < 0)
        s = errno_error(fmt::format("Failed to set the owner of {}", dst));
    // Extended attributes through an O_PATH descriptor of what was just made (user.* is refused on
    // symlinks; trusted.* and security.* may be taken).
    UniqueFd made_fd;
    struct stat now {};
    if (s.ok()) {
        made_fd.reset(::openat(ddir, dname.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!made_fd || ::fstat(made_fd.get(), &now) < 0 || !S_ISLNK(now.st_mode))
            s = errno_error(fmt::format("Failed to open {}", dst));
    }
    if (s.ok()) s = xattrs({at.get(), true}, {made_fd.get(), true}, src, dst);
    if (s.ok() && ::utimensat(ddir, dname.c_str(), times, AT_SYMLINK_NOFOLLOW) < 0)
        s = errno_error(fmt::format("Failed to set the times of {}", dst));
    if (!s.ok()) {
        (void)::unlinkat(ddir, dname.c_str(), 0);
        return s;
    }
    remember(st, made_fd.get());
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
    if (s.ok()) remember(st, fd.get());
    return s;
}

Status Copier::leaf(int sdir, const std::string& sname, const struct stat& st, int ddir, const std::string& dname,
                    const std::string& src, const std::string& dst) {
    if (st.st_nlink > 1) {
        BERTH_ASSIGN(bool linked, link_copy(st, ddir, dname, dst));
        if (linked) return {};
    }
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
    bool enter = true;
    if (o.one_mount) {
        MountOf here = mount_of(in.get(), st);
        if (!top_mount) top_mount = here;
        enter = here == *top_mount;
    }

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
    while (enter) {
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
    if (::fchown(out.get(), uid(st.st_uid), gid(st.st_gid)) < 0 || ::fchmod(out.get(), mode_of(st)) < 0)
        return errno_error(fmt::format("Failed to set the owner and mode of {}", dst));
    // Last, after the entries: a default ACL applies to nothing this copy creates.
    BERTH_TRY(xattrs({::dirfd(d), false}, {out.get(), false}, src, dst));
    const timespec times[2] = {st.st_atim, st.st_mtim};
    if (::futimens(out.get(), times) < 0) return errno_error(fmt::format("Failed to set the times of {}", dst));
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
    Copier c{options};
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
