// Resolving paths inside an image as if it were "/": symlinks and ".." never leave it (openat2 RESOLVE_IN_ROOT).
#pragma once

#include <sys/types.h>

#include <string>

#include "fd.hpp"
#include "result.hpp"

namespace berth {

// Open `path` (absolute or relative, interpreted inside `rootfd`).
Result<UniqueFd> open_in_root(int rootfd, const std::string& path, int flags, mode_t mode = 0);

// Create the directories of `path` inside `rootfd` as needed (mode 0755) and return an O_PATH fd on the last.
Result<UniqueFd> mkdir_p_in_root(int rootfd, const std::string& path, mode_t mode = 0755);

// Create (if missing) a regular file at `path` inside `rootfd`, parents included; O_PATH fd on it.
Result<UniqueFd> touch_in_root(int rootfd, const std::string& path, mode_t mode = 0644);

bool exists_in_root(int rootfd, const std::string& path);

// "/a/./b//c/" -> "/a/b/c"; error if it contains "..".
Result<std::string> normalize_absolute_path(const std::string& path, const std::string& what);

}  // namespace berth
