// Logging: spdlog to stderr, synchronous (no threads: nspawn forks and clones).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace berth {

// program: "nspawn", "machined", ...; plain: message text only (for a command-line tool's one-line errors).
void setup_logging(std::string_view program, bool plain, spdlog::level::level_enum level = spdlog::level::info);

}  // namespace berth
