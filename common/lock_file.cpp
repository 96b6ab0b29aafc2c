#include "common/lock_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/paths.hpp"

namespace berth {

Result<UniqueFd> lock_file(const std::string& path, bool exclusive) {
    for (;;) {
        UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600));
        if (!fd) return errno_error(fmt::format("Failed to open lock {}", path));
        if (::flock(fd.get(), (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) return Error{errno, ""};
        struct stat a {}, b {};
        if (::fstat(fd.get(), &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_ino == b.st_ino) return fd;
    }
}

std::string image_lock_path(dev_t dev, ino_t ino) {
    return fmt::format("{}/inode-{}:{}", paths::kLocks, static_cast<unsigned long>(dev), static_cast<unsigned long>(ino));
}

Result<UniqueFd> lock_in_lock_dir(const std::string& path, bool exclusive) {
    // The last holder to let go removes the empty directories (release_lock): one may go between our
    // mkdir and our lock file, so try again. Once our lock file is in, the directory stays.
    Result<UniqueFd> r = Error{ENOENT, ""};
    for (int attempt = 0; attempt < 10 && !r.ok() && r.error().code == ENOENT; attempt++) {
        ::mkdir("/run/berth", 0755);
        if (::mkdir(paths::kLocks, 0700) < 0 && errno != EEXIST && errno != ENOENT)
            return errno_error(fmt::format("Failed to create {}", paths::kLocks));
        r = lock_file(path, exclusive);
    }
    return r;
}

void release_lock(const std::string& path, UniqueFd fd) {
    if (!fd) return;
    // Unlink only if nobody else holds it (shared locks): take it exclusively first.
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) ::unlink(path.c_str());
    fd.reset();
    // The runtime directories go with the last lock (rmdir only succeeds when they are empty).
    (void)::rmdir(paths::kLocks);
    (void)::rmdir("/run/berth");
}

}  // namespace berth
