#include "images/disk_usage.hpp"

#include <ftw.h>
#include <sys/stat.h>

#include <set>
#include <utility>

namespace berth::images {

namespace {

// nftw() passes no user data: the walk's state is here. One walk at a time per process, which the worker
// machined forks for it is.
thread_local uint64_t t_total = 0;
thread_local std::set<std::pair<dev_t, ino_t>>* t_linked = nullptr;

int count(const char*, const struct stat* st, int type, struct FTW*) {
    if (type == FTW_NS) return 0;  // cannot be looked at (gone meanwhile): nothing to count
    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1 && !t_linked->insert({st->st_dev, st->st_ino}).second) return 0;
    t_total += static_cast<uint64_t>(st->st_blocks) * 512;
    return 0;
}

}  // namespace

Result<uint64_t> disk_usage(const std::string& dir) {
    std::set<std::pair<dev_t, ino_t>> linked;
    t_total = 0;
    t_linked = &linked;
    int r = ::nftw(dir.c_str(), count, 64, FTW_PHYS | FTW_MOUNT);
    t_linked = nullptr;
    if (r < 0) return errno_error(fmt::format("Failed to measure the disk usage of {}", dir));
    return t_total;
}

}  // namespace berth::images
