// machined's configuration: /etc/berth/machined.toml, then the command line on top.
#pragma once

#include <string>
#include <vector>

#include <spdlog/common.h>

#include "common/result.hpp"

namespace berth::machined {

struct Config {
    std::string pool = "/var/lib/machines";
    std::string state_dir = "/run/berth";
    std::string enabled_dir = "/etc/berth/enabled";
    std::vector<std::string> allowed_groups;  // may call the mutating methods besides root
    spdlog::level::level_enum log_level = spdlog::level::info;
    // TerminateMachine: how long the leader has after SIGTERM before the whole machine gets SIGKILL.
    int terminate_timeout_sec = 10;
    // StartMachine without systemd: how long nspawn has to register the machine before the call fails
    // and that nspawn is stopped (0: no limit).
    int start_timeout_sec = 30;
    std::string nspawn;  // the nspawn binary the standalone supervisor runs; next to machined by default
};

// A missing file is fine when `required` is false (the default path); a malformed one never is.
Result<Config> load_config(const std::string& path, bool required);

}  // namespace berth::machined
