// Raw options: what the command line and the settings files said, before validation.
// An unset optional means "nobody said"; the command line wins over settings.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::nspawn {

struct Options {
    std::optional<std::string> directory, machine;
    std::optional<bool> boot, as_pid2;
    std::optional<std::vector<std::string>> command;  // COMMAND [ARGS] or init arguments with --boot
    std::optional<std::string> chdir, user, hostname, uuid, kill_signal, console;
    std::optional<std::vector<std::string>> setenv, bind, bind_ro, tmpfs, overlay, overlay_ro;
    std::optional<bool> quiet, read_only, ephemeral, private_network, keep_unit, notify_ready;
    std::optional<std::string> register_mode, settings;
    // Isolation (user namespace, privileges).
    std::optional<std::string> private_users, private_users_ownership, no_new_privileges;
    std::optional<std::vector<std::string>> capability, drop_capability, system_call_filter;
    // Resources.
    std::optional<std::string> memory_max, memory_high, memory_swap_max, cpu_weight, cpu_quota, pids_max, io_weight,
        cpu_affinity, oom_score_adjust;
    std::optional<std::vector<std::string>> rlimit;
    std::optional<std::vector<std::string>> userns_limit;
    // Network.
    std::optional<bool> network_veth;
    std::optional<std::string> network_bridge, network_zone;
    std::optional<std::vector<std::string>> network_interface, port;
    bool help = false;
    bool version = false;
};

Result<Options> parse_command_line(int argc, char** argv);
std::string help_text();

}  // namespace berth::nspawn
