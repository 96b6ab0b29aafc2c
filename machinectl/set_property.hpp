// set-property's KEY=VALUE arguments (systemd-style keys and values; machined checks them).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace berth::machinectl {

// "MemoryMax=512M" -> ("MemoryMax", "512M"). An empty key or a missing '=' is refused; an empty value
// is passed on (it resets the limit, as with systemctl set-property).
Result<std::vector<std::pair<std::string, std::string>>> parse_assignments(const std::vector<std::string>& args);

}  // namespace berth::machinectl
