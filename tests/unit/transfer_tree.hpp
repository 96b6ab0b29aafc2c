// For the transfer tests: a scratch directory that goes with everything in it (immutable attributes
// lifted first), a tree holding every kind of file a root filesystem has, a comparison of two trees by
// everything an import or export must keep, and small helpers (files, a shell command's output as a pipe, a
// report whose lines are kept).
#pragma once

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/fd.hpp"
#include "images/transfer.hpp"

namespace berth::transfer_test {

inline void clear_flags(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return;
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL))) {
        flags &= ~(FS_IMMUTABLE_FL | FS_APPEND_FL);
        ::ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }
    ::close(fd);
}

// Immutable and append-only attributes lifted from `root` and everything below it (regular files and
// directories: device nodes are never opened), so that it can go.
inline void clear_flags_tree(const std::string& root) {
    struct stat st {};
    if (::lstat(root.c_str(), &st) < 0) return;
    if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) clear_flags(root);
    if (!S_ISDIR(st.st_mode)) return;
    std::error_code ec;
    using It = std::filesystem::recursive_directory_iterator;
    for (auto it = It(root, ec); !ec && it != It(); it.increment(ec)) {
        auto s = it->symlink_status(ec);
        if (s.type() == std::filesystem::file_type::directory || s.type() == std::filesystem::file_type::regular)
            clear_flags(it->path());
    }
}

// A scratch directory under /var/tmp (a disk filesystem more often than /tmp, with xattrs, ACLs and
// the immutable attribute), removed with all in it.
class Scratch {
public:
    Scratch() {
        char tmpl[] = "/var/tmp/berth-transfer-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    Scratch(const Scratch&) = delete;
    ~Scratch() {
        clear_flags_tree(path_);
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }
    std::string mkdir(const std::string& rel) const {
        std::filesystem::create_directories(*this / rel);
        return *this / rel;
    }

private:
    std::string path_;
};

inline void check(bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}

inline void write_file(const std::string& path, const std::string& content, mode_t mode) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    check(fd >= 0, "create " + path);
    check(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()), "write " + path);
    ::close(fd);
}

inline void set_xattr(const std::string& path, const std::string& name, const std::string& value) {
    check(::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) == 0, "setxattr " + name + " on " + path);
}

// A POSIX ACL as the kernel keeps it in system.posix_acl_*: version 2, then (tag, permissions, id) each.
inline std::string acl_xattr(const std::vector<std::tuple<uint16_t, uint16_t, uint32_t>>& entries) {
    std::string out;
    auto put = [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
    uint32_t version = 2;
    put(&version, 4);
    for (auto& [tag, perm, id] : entries) {
        put(&tag, 2);
        put(&perm, 2);
        put(&id, 4);
    }
    return out;
}
inline constexpr uint32_t kNoId = 0xffffffff;
enum : uint16_t { kUserObj = 1, kUser = 2, kGroupObj = 4, kGroup = 8, kMask = 0x10, kOther = 0x20 };

// security.capability for cap_net_raw+ep (VFS_CAP_REVISION_2, effective).
inline std::string net_raw_capability() {
    uint32_t v[5] = {0x02000001, 1u << 13, 0, 0, 0};
    return std::string(reinterpret_cast<const char*>(v), sizeof v);
}

inline constexpr off_t kSparseSize = off_t{1} << 30;

// Every kind of file, owners other than root, set-id and sticky modes, hard links, all kinds of links,
// special files, xattrs of several namespaces, ACLs, a file capability, a sparse file, names that are
// not ASCII (and not UTF-8), a long path, and mtimes of their own (whole seconds: tar's own precision).
inline void make_rich_tree(const std::string& root) {
    auto p = [&](const std::string& rel) { return root + "/" + rel; };
    for (const char* d : {"etc", "usr/bin", "data", "other", "dev", "run", "var", "acl-dir", "deep/a/b/c/d/e/f/g/h/i/j"})
        std::filesystem::create_directories(p(d));
    check(::mkdir(p("tmp").c_str(), 0755) == 0 && ::chmod(p("tmp").c_str(), 01777) == 0, "sticky tmp");
    write_file(p("etc/hostname"), "rich\n", 0644);
    write_file(p("empty"), "", 0600);
    write_file(p("usr/bin/suid"), "#!/bin/sh\necho root\n", 0755);
    check(::chown(p("usr/bin/suid").c_str(), 1234, 5678) == 0 && ::chmod(p("usr/bin/suid").c_str(), 06755) == 0, "suid");
    write_file(p("data/a"), std::string(100000, 'h'), 0640);
    check(::link(p("data/a").c_str(), p("data/b").c_str()) == 0, "link data/b");
    check(::link(p("data/a").c_str(), p("other/c").c_str()) == 0, "link other/c");
    check(::chown(p("data/a").c_str(), 1234, 5678) == 0, "chown data/a");
    check(::symlink("etc/hostname", p("rel").c_str()) == 0 && ::symlink("/etc/hostname", p("abs").c_str()) == 0 &&
              ::symlink("nowhere/at/all", p("dangling").c_str()) == 0,
          "symlinks");
    check(::lchown(p("rel").c_str(), 1234, 5678) == 0, "lchown rel");
    check(::mkfifo(p("run/fifo").c_str(), 0620) == 0, "fifo");
    check(::mknod(p("dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0, "char device");
    check(::mknod(p("dev/loop9").c_str(), S_IFBLK | 0660, makedev(7, 9)) == 0, "block device");
    check(::chown(p("dev/loop9").c_str(), 0, 6) == 0, "chown loop9");
    set_xattr(p("etc/hostname"), "user.berth", "hello");
    set_xattr(p("etc/hostname"), "trusted.berth", std::string("se\0cret", 7));
    set_xattr(p("etc"), "trusted.dir", "on a directory");
    set_xattr(p("rel"), "trusted.link", "on a symlink");
    write_file(p("acl-file"), "acl\n", 0640);
    set_xattr(p("acl-file"), "system.posix_acl_access",
              acl_xattr({{kUserObj, 6, kNoId}, {kUser, 4, 4321}, {kGroupObj, 4, kNoId}, {kGroup, 6, 8765}, {kMask, 6, kNoId},
                         {kOther, 0, kNoId}}));
    set_xattr(p("acl-dir"), "system.posix_acl_default",
              acl_xattr({{kUserObj, 7, kNoId}, {kUser, 5, 4321}, {kGroupObj, 5, kNoId}, {kMask, 5, kNoId}, {kOther, 5, kNoId}}));
    write_file(p("usr/bin/ping"), "ELF-ish", 0755);
    check(::chown(p("usr/bin/ping").c_str(), 0, 1234) == 0, "chown ping");
    set_xattr(p("usr/bin/ping"), "security.capability", net_raw_capability());
    {
        int fd = ::open(p("var/sparse").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        check(fd >= 0 && ::ftruncate(fd, kSparseSize) == 0, "sparse");
        std::string a(4096, 'A'), b(4096, 'B');
        check(::pwrite(fd, a.data(), a.size(), 0) == 4096, "sparse data");
        check(::pwrite(fd, b.data(), b.size(), kSparseSize / 2) == 4096, "sparse data");
        ::close(fd);
    }
    write_file(p("\xc3\xbc" "n" "\xc3\xaf" "c" "\xc3\xb6" "d" "\xc3\xa9"), "utf-8 name\n", 0644);
    write_file(p("bad\xff" "name"), "not utf-8\n", 0644);
    write_file(p("deep/a/b/c/d/e/f/g/h/i/j/" + std::string(120, 'x')), "long path\n", 0644);
    check(::chown(p("deep").c_str(), 1234, 5678) == 0 && ::chmod(root.c_str(), 0751) == 0, "root and deep");
    // Times last: every creation above changed its directory's.
    std::vector<std::string> all{root};
    for (auto& e : std::filesystem::recursive_directory_iterator(root)) all.push_back(e.path());
    time_t t = 1500000000;
    for (auto& path : all) {
        const timespec times[2] = {{t, 0}, {t + 7, 0}};
        check(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0, "times of " + path);
        t += 86400;
    }
}

inline std::string hex(const std::string& s) {
    std::string out;
    for (unsigned char c : s) out += fmt::format("{:02x}", c);
    return out;
}

// Whether two files hold the same bytes, holes read as zeros, without reading the holes of both.
inline bool same_content(const std::string& a, const std::string& b, off_t size) {
    int fa = ::open(a.c_str(), O_RDONLY | O_CLOEXEC), fb = ::open(b.c_str(), O_RDONLY | O_CLOEXEC);
    bool same = fa >= 0 && fb >= 0;
    constexpr off_t kWindow = 1 << 20;
    std::vector<char> ba(kWindow), bb(kWindow);
    for (off_t at = 0; same && at < size; at += kWindow) {
        off_t da = ::lseek(fa, at, SEEK_DATA), db = ::lseek(fb, at, SEEK_DATA);
        if ((da < 0 || da >= at + kWindow) && (db < 0 || db >= at + kWindow)) continue;  // a hole in both
        ssize_t na = ::pread(fa, ba.data(), kWindow, at), nb = ::pread(fb, bb.data(), kWindow, at);
        same = na == nb && na >= 0 && std::memcmp(ba.data(), bb.data(), static_cast<size_t>(na)) == 0;
    }
    if (fa >= 0) ::close(fa);
    if (fb >= 0) ::close(fb);
    return same;
}

// Each entry of a tree ("." its top) described by what a transfer keeps: type, mode, owner, size,
// mtime, link target, device, xattrs (ACLs and capabilities included: they are xattrs), and the other
// names of its inode in the tree.
inline std::map<std::string, std::string> describe_tree(const std::string& root) {
    std::map<std::string, std::string> out;
    std::map<std::pair<dev_t, ino_t>, std::vector<std::string>> names;
    std::vector<std::string> rels{"."};
    for (auto& e : std::filesystem::recursive_directory_iterator(root)) rels.push_back(e.path().lexically_relative(root));
    for (auto& rel : rels) {
        struct stat st {};
        std::string path = root + "/" + rel;
        check(::lstat(path.c_str(), &st) == 0, "lstat " + path);
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) names[{st.st_dev, st.st_ino}].push_back(rel);
    }
    for (auto& [inode, list] : names) std::sort(list.begin(), list.end());
    for (auto& rel : rels) {
        std::string path = root + "/" + rel, d;
        struct stat st {};
        ::lstat(path.c_str(), &st);
        d = fmt::format("mode={:o} uid={} gid={} mtime={}.{:09}", st.st_mode, st.st_uid, st.st_gid, st.st_mtim.tv_sec,
                        st.st_mtim.tv_nsec);
        if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) d += fmt::format(" size={}", st.st_size);
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) d += fmt::format(" rdev={}:{}", major(st.st_rdev), minor(st.st_rdev));
        if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = ::readlink(path.c_str(), target, sizeof target);
            d += " target=" + std::string(target, n > 0 ? static_cast<size_t>(n) : 0);
        }
        char list[65536];
        ssize_t n = ::llistxattr(path.c_str(), list, sizeof list);
        std::map<std::string, std::string> xattrs;
        for (ssize_t at = 0; n > 0 && at < n; at += static_cast<ssize_t>(std::strlen(list + at)) + 1) {
            char value[65536];
            ssize_t v = ::lgetxattr(path.c_str(), list + at, value, sizeof value);
            xattrs[list + at] = v >= 0 ? std::string(value, static_cast<size_t>(v)) : "?";
        }
        for (auto& [k, v] : xattrs) d += fmt::format(" {}={}", k, hex(v));
        if (auto it = names.find({st.st_dev, st.st_ino}); !S_ISDIR(st.st_mode) && it != names.end())
            d += fmt::format(" names={}", fmt::join(it->second, ","));
        out[rel] = d;
    }
    return out;
}

// "" when the trees are the same (contents included), else what differs, one line each.
inline std::string compare_trees(const std::string& a, const std::string& b) {
    auto da = describe_tree(a), db = describe_tree(b);
    std::string diff;
    for (auto& [rel, d] : da) {
        auto it = db.find(rel);
        if (it == db.end()) diff += fmt::format("only in {}: {}\n", a, rel);
        else if (it->second != d) diff += fmt::format("{}:\n  {}\n  {}\n", rel, d, it->second);
    }
    for (auto& [rel, d] : db)
        if (!da.count(rel)) diff += fmt::format("only in {}: {}\n", b, rel);
    for (auto& [rel, d] : da) {
        struct stat st {};
        if (::lstat((a + "/" + rel).c_str(), &st) == 0 && S_ISREG(st.st_mode) && db.count(rel) &&
            !same_content(a + "/" + rel, b + "/" + rel, st.st_size))
            diff += fmt::format("{}: contents differ\n", rel);
    }
    return diff;
}

inline std::string slurp(const std::string& path, size_t limit = std::string::npos) {
    std::string out;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    char buf[65536];
    ssize_t n;
    while (fd >= 0 && out.size() < limit && (n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    if (fd >= 0) ::close(fd);
    return out.substr(0, limit);
}
inline std::string slurp_prefix(const std::string& path) { return slurp(path, 4096); }

inline std::vector<std::string> entries_of(const std::string& dir) {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
}

inline UniqueFd open_in(const std::string& path) { return UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)); }
inline UniqueFd open_out(const std::string& path) {
    return UniqueFd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
}

// A shell command whose standard output is a pipe (the read end here).
struct Spawned {
    pid_t pid = -1;
    UniqueFd out;
    int wait() {
        out.reset();
        int status = 0;
        ::waitpid(pid, &status, 0);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
};
inline Spawned spawn_shell(const std::string& command) {
    int fds[2];
    Spawned s;
    if (::pipe2(fds, O_CLOEXEC) < 0) return s;
    s.pid = ::fork();
    if (s.pid == 0) {
        ::dup2(fds[1], 1);
        ::execl("/bin/sh", "sh", "-c", command.c_str(), nullptr);
        ::_exit(127);
    }
    ::close(fds[1]);
    s.out.reset(fds[0]);
    return s;
}

inline blkcnt_t blocks_of(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? st.st_blocks : -1;
}

// A report whose lines are kept in a pipe, read when asked.
class ReportPipe {
public:
    ReportPipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) == 0) {
            rd_.reset(fds[0]);
            wr_.reset(fds[1]);
        }
        report = images::TransferReport(wr_.get());
    }
    std::vector<std::string> lines() {
        wr_.reset();
        std::string all;
        char buf[4096];
        ssize_t n;
        while ((n = ::read(rd_.get(), buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
        std::vector<std::string> out;
        for (size_t at = 0, end; (end = all.find('\n', at)) != std::string::npos; at = end + 1)
            out.push_back(all.substr(at, end - at));
        return out;
    }
    images::TransferReport report;

private:
    UniqueFd rd_, wr_;
};

}  // namespace berth::transfer_test
