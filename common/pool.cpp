#include "common/pool.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include "common/log.hpp"

namespace berth {

Status secure_pool(const std::string& pool) {
    if (pool.empty()) return {};
    struct stat st {};
    if (::stat(pool.c_str(), &st) < 0) return errno_error(fmt::format("Pool {}", pool));
    if ((st.st_mode & 07077) == 0 && st.st_uid == 0) return {};
    spdlog::warn("Other users can enter the pool {} and run the set-user-ID programs of its images as root: "
                 "making it root's alone (0700).",
                 pool);
    if (::chown(pool.c_str(), 0, 0) < 0 || ::chmod(pool.c_str(), 0700) < 0)
        return errno_error(fmt::format("Failed to make the pool {} root's alone", pool));
    return {};
}

}  // namespace berth
