#include "common/fileio.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fd.hpp"
#include "common/id128.hpp"

namespace berth {

Result<std::string> read_fd(int fd, const std::string& path) {
    std::string out;
    char buf[4096];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error(fmt::format("Failed to read {}", path));
        }
        if (n == 0) break;
        out.append(buf, n);
    }
    return out;
}

Result<std::string> read_file(const std::string& path) { return read_file_at(AT_FDCWD, path); }

Result<std::string> read_file_at(int dirfd, const std::string& path) {
    if (path.empty()) return read_fd(dirfd, "(open file)");  // like AT_EMPTY_PATH: the fd itself
    UniqueFd fd(::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return errno_error(fmt::format("Failed to open {}", path));
    return read_fd(fd.get(), path);
}

Status write_file(const std::string& path, const std::string& value) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return errno_error(fmt::format("Failed to open {}", path));
    if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
        return errno_error(fmt::format("Failed to write {}", path));
    return {};
}

Status write_file_atomic(const std::string& path, const std::string& value, mode_t mode, Durability durability) {
    // An unpredictable temporary, created exclusively: nothing planted at its name is written through.
    std::string tmp = fmt::format("{}.tmp.{}", path, id128_to_hex(random_id128()).substr(0, 16));
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!fd) return errno_error(fmt::format("Failed to create {}", tmp));
    if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()) ||
        (durability == Durability::Sync && ::fsync(fd.get()) < 0)) {
        auto e = errno_error(fmt::format("Failed to write {}", tmp));
        ::unlink(tmp.c_str());
        return e;
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        auto e = errno_error(fmt::format("Failed to rename {} to {}", tmp, path));
        ::unlink(tmp.c_str());
        return e;
    }
    return {};
}

Status make_directories(const std::string& path) {
    for (size_t pos = 1; pos <= path.size(); pos++) {
        if (pos != path.size() && path[pos] != '/') continue;
        std::string part = path.substr(0, pos);
        if (::mkdir(part.c_str(), 0755) < 0 && errno != EEXIST)
            return errno_error(fmt::format("Failed to create {}", part));
    }
    return {};
}

}  // namespace berth
