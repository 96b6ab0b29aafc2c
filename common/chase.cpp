#include "common/chase.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <vector>

namespace berth {

namespace {
std::vector<std::string> components(const std::string& path) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        std::string c = path.substr(i, j - i);
        if (!c.empty() && c != ".") out.push_back(c);
        i = j + 1;
    }
    return out;
}

int openat2_in_root(int rootfd, const char* path, int flags, mode_t mode) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return static_cast<int>(::syscall(SYS_openat2, rootfd, path, &how, sizeof how));
}
}  // namespace

Result<UniqueFd> open_in_root(int rootfd, const std::string& path, int flags, mode_t mode) {
    std::string rel = path;
    while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
    if (rel.empty()) rel = ".";
    int fd = openat2_in_root(rootfd, rel.c_str(), flags, mode);
    if (fd < 0) return errno_error(fmt::format("Failed to open {}", path));
    return UniqueFd(fd);
}

namespace {
Result<UniqueFd> mkdir_p_in_root_depth(int rootfd, const std::string& path, mode_t mode, int depth) {
    if (depth > 40) return plain_error(fmt::format("Too many levels of symbolic links in {}", path), ELOOP);
    // Walk one component at a time, each step resolved inside the root, so a symlinked
    // component can only ever point somewhere else inside the image.
    UniqueFd cur(::fcntl(rootfd, F_DUPFD_CLOEXEC, 3));
    if (!cur) return errno_error("Failed to duplicate root fd");
    std::string done;
    for (auto& c : components(path)) {
        std::string parent = done.empty() ? "/" : done;
        done += "/" + c;
        if (::mkdirat(cur.get(), c.c_str(), mode) < 0 && errno != EEXIST)
            return errno_error(fmt::format("Failed to create directory {}", done));
        auto next = open_in_root(rootfd, done, O_PATH | O_DIRECTORY);
        if (!next.ok() && next.error().code == ENOENT) {
            // A dangling symlink: create its target (inside the root), then step through it.
            char buf[PATH_MAX];
            ssize_t n = ::readlinkat(cur.get(), c.c_str(), buf, sizeof buf - 1);
            if (n < 0) return next.error();
            std::string target(buf, n);
            BERTH_TRY(mkdir_p_in_root_depth(rootfd, target[0] == '/' ? target : parent + "/" + target, mode, depth + 1));
            next = open_in_root(rootfd, done, O_PATH | O_DIRECTORY);
        }
        if (!next.ok()) return next.error();
        cur = std::move(*next);
    }
    return cur;
}
}  // namespace

Result<UniqueFd> mkdir_p_in_root(int rootfd, const std::string& path, mode_t mode) {
    return mkdir_p_in_root_depth(rootfd, path, mode, 0);
}

Result<UniqueFd> touch_in_root(int rootfd, const std::string& path, mode_t mode) {
    auto slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    BERTH_ASSIGN(UniqueFd dir, mkdir_p_in_root(rootfd, parent.empty() ? "/" : parent));
    (void)dir;
    auto r = open_in_root(rootfd, path, O_PATH);
    if (r.ok()) return r;
    BERTH_ASSIGN(UniqueFd created, open_in_root(rootfd, path, O_WRONLY | O_CREAT | O_NOCTTY, mode));
    (void)created;
    return open_in_root(rootfd, path, O_PATH);
}

Result<std::string> read_untrusted_file(int rootfd, const std::string& path, size_t max_bytes) {
    BERTH_ASSIGN(UniqueFd at, open_in_root(rootfd, path, O_PATH));
    struct stat st {};
    if (::fstat(at.get(), &st) < 0) return errno_error(fmt::format("Failed to look at {}", path));
    if (!S_ISREG(st.st_mode)) return plain_error(fmt::format("{} is not a regular file", path), EINVAL);
    if (static_cast<uint64_t>(st.st_size) > max_bytes)
        return plain_error(fmt::format("{} is larger than {} bytes", path, max_bytes), EFBIG);
    // Reopened through its O_PATH descriptor: the very file looked at, never a FIFO swapped in since.
    UniqueFd fd(::open(fmt::format("/proc/self/fd/{}", at.get()).c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) return errno_error(fmt::format("Failed to open {}", path));
    std::string out;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error(fmt::format("Failed to read {}", path));
        if (n == 0) return out;
        if (out.size() + static_cast<size_t>(n) > max_bytes)
            return plain_error(fmt::format("{} is larger than {} bytes", path, max_bytes), EFBIG);
        out.append(buf, static_cast<size_t>(n));
    }
}

bool exists_in_root(int rootfd, const std::string& path) { return open_in_root(rootfd, path, O_PATH).ok(); }

Result<std::string> normalize_absolute_path(const std::string& path, const std::string& what) {
    if (path.empty() || path.front() != '/')
        return plain_error(fmt::format("{} \"{}\" is not an absolute path", what, path));
    std::string out;
    for (auto& c : components(path)) {
        if (c == "..") return plain_error(fmt::format("{} \"{}\" contains \"..\"", what, path));
        out += "/" + c;
    }
    return out.empty() ? std::string("/") : out;
}

}  // namespace berth
