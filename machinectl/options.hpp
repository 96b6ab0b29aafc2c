// machinectl's command line: global options (systemd's names) plus a verb and its arguments.
#pragma once

#include <climits>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "machinectl/output_mode.hpp"

namespace berth::machinectl {

struct Options {
    bool help = false;
    bool version = false;
    bool quiet = false;
    bool legend = true;
    bool full = false;
    bool all = false;
    bool value_only = false;
    std::vector<std::string> properties;  // -p, split at ','
    OutputMode output = OutputMode::Short;
    bool output_help = false;             // -o help: list the modes and exit
    unsigned lines = 10;                  // -n: journal lines of status
    unsigned max_addresses = 1;           // --max-addresses: per machine in list (UINT_MAX: all, 0: no column)
    std::optional<std::string> uid;       // --uid: the user of shell
    std::vector<std::string> setenv;      // -E: VAR=VALUE, one per variable, the last assignment wins
    std::string kill_whom;                // "" = the verb's default
    int signal = 15;                      // SIGTERM unless -s
    bool force = false;                   // copy-to, copy-from: replace what exists
    bool read_only = false, mkdir = false;  // bind (read_only: clone, import-* too)
    std::string format;                   // export-*: "" (from the file's name), uncompressed, xz, gzip, bzip2, zstd
    std::string verify = "signature";     // pull-*: no, checksum, signature
    std::string verb = "list";
    std::vector<std::string> args;        // after the verb
};

// Parses argv; the verb and its argument count are checked too, names are not (see check_name()).
Result<Options> parse_command_line(int argc, const char* const* argv);

std::string help_text();

// A text for an error message, with bytes that are not printable ASCII escaped (\xNN), in quotes.
std::string quote_arg(std::string_view s);

// -E VAR=VALUE or -E VAR (the value from our environment, empty when unset), as systemd's
// strv_env_replace_strdup_passthrough(): a later assignment of the same variable replaces the earlier one.
Status add_setenv(std::vector<std::string>& env, std::string_view assignment);

// shell's [USER@]NAME: the user ("" when none, then --uid's) and the machine (".host" when empty).
struct ShellTarget {
    std::string user, machine;
};
Result<ShellTarget> parse_shell_target(std::string_view spec, const std::optional<std::string>& uid);

// Machine names on the command line: the rules of machine_name_is_valid(), plus ".host".
Status check_name(std::string_view name);

}  // namespace berth::machinectl
