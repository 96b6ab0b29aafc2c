// Small file helpers returning Result.
#pragma once

#include <string>

#include "common/result.hpp"

namespace berth {

Result<std::string> read_file(const std::string& path);
// An empty `path` reads `dirfd` itself.
Result<std::string> read_file_at(int dirfd, const std::string& path);
// Read an already open file to its end; `name` is for messages.
Result<std::string> read_fd(int fd, const std::string& name);
// Plain write(2) of the whole value (for procfs/cgroupfs/sysfs attributes).
Status write_file(const std::string& path, const std::string& value);
// mkdir -p: every missing directory of `path` (mode 0755); errors name the one that could not be made.
Status make_directories(const std::string& path);
// Sync: the new content survives a host crash too. ProcessCrash: only the rename's atomicity, for records
// of running processes that a host crash ends anyway (machined's state: an fsync per registration made
// registering four times slower on a disk-backed /run).
enum class Durability { Sync, ProcessCrash };

// Write to a temporary in the same directory, fsync, rename: readers see old or new, never half.
Status write_file_atomic(const std::string& path, const std::string& value, mode_t mode = 0644,
                         Durability durability = Durability::Sync);

}  // namespace berth
