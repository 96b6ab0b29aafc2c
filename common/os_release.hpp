// os-release(5) parsing: KEY=VALUE lines, shell-style quoting.
#pragma once

#include <map>
#include <string>

#include "common/result.hpp"

namespace berth {

using OsRelease = std::map<std::string, std::string>;

OsRelease parse_os_release(const std::string& text);
// /etc/os-release, else /usr/lib/os-release, resolved inside `root` (a directory fd).
Result<OsRelease> read_os_release_at(int rootfd);

}  // namespace berth
