// Signal names <-> numbers, as systemd spells them ("SIGRTMIN+3", "RTMIN+3", "TERM", "15").
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth {

Result<int> parse_signal(std::string_view text);
std::string signal_name(int sig);

}  // namespace berth
