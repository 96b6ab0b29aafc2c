// machined's configuration: /etc/berth/machined.toml (then machined's command line on top). nspawn reads
// the pool from it too: one reader for both.
#pragma once

#include <iterator>
#include <string>
#include <vector>

#include <spdlog/common.h>

#include "common/paths.hpp"
#include "common/result.hpp"

namespace berth {

struct MachinedConfig {
    std::string pool = paths::kDefaultPool;
    std::string state_dir = "/run/berth";
    std::string enabled_dir = paths::kEnabled;
    // Where systemd's clients look for machines (the -M tools): machined writes one file per machine there.
    std::string machines_dir = paths::kSystemdMachines;
    std::vector<std::string> allowed_groups;  // may call the mutating methods besides root
    spdlog::level::level_enum log_level = spdlog::level::info;
    // TerminateMachine: how long the leader has after SIGTERM before the whole machine gets SIGKILL.
    int terminate_timeout_sec = 10;
    // StartMachine without systemd: how long nspawn has to register the machine before the call fails
    // and that nspawn is stopped (0: no limit).
    int start_timeout_sec = 30;
    std::string nspawn;  // the nspawn binary the standalone supervisor runs; next to machined by default
    // Where images are found besides the pool (which comes first): systemd's search path unless the file
    // says otherwise (tests: [], so that only their own pool is looked at).
    // How old a directory image's measured disk usage may get before it is measured again when asked for.
    int image_usage_refresh_sec = 60;
    std::vector<std::string> image_search_path{std::begin(paths::kImageSearchPath), std::end(paths::kImageSearchPath)};
    // The keyrings a pull's signature (--verify=signature) may be made with, the first that exists used:
    // systemd's, so that the keys installed for systemd-importd serve here too.
    std::vector<std::string> import_keyrings{std::begin(paths::kImportKeyrings), std::end(paths::kImportKeyrings)};
};

// A missing file is fine when `required` is false (the default path); a malformed one never is.
Result<MachinedConfig> load_machined_config(const std::string& path, bool required);

}  // namespace berth
