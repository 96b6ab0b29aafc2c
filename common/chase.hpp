// Resolving paths inside an image as if it were "/": symlinks and ".." never leave it (openat2 RESOLVE_IN_ROOT).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth {

// Open `path` (absolute or relative, interpreted inside `rootfd`).
Result<UniqueFd> open_in_root(int rootfd, const std::string& path, int flags, mode_t mode = 0);

// Create the directories of `path` inside `rootfd` as needed (mode 0755) and return an O_PATH fd on the last.
Result<UniqueFd> mkdir_p_in_root(int rootfd, const std::string& path, mode_t mode = 0755);

// Create (if missing) a regular file at `path` inside `rootfd`, parents included; O_PATH fd on it.
Result<UniqueFd> touch_in_root(int rootfd, const std::string& path, mode_t mode = 0644);

bool exists_in_root(int rootfd, const std::string& path);

// Reads a file that an image or a running guest controls (os-release, machine-id, passwd, group, ...),
// so that no such file can hang or exhaust the reader: resolved inside `rootfd`, opened O_PATH first (a
// FIFO or device node is never opened), refused unless a regular file, refused when larger than
// `max_bytes`, and read at most that far even if it grows meanwhile. Errors name the path and the reason.
Result<std::string> read_untrusted_file(int rootfd, const std::string& path, size_t max_bytes);

// "/a/./b//c/" -> "/a/b/c"; error if it contains "..".
Result<std::string> normalize_absolute_path(const std::string& path, const std::string& what);

}  // namespace berth
