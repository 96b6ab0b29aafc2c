// machinectl's command line: global options (systemd's names) plus a verb and its arguments.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::machinectl {

enum class OutputMode { Table, Json, JsonPretty };

struct Options {
    bool help = false;
    bool version = false;
    bool quiet = false;
    bool legend = true;
    bool full = false;
    bool all = false;
    bool value_only = false;
    std::vector<std::string> properties;  // -p, split at ','
    OutputMode output = OutputMode::Table;
    std::string kill_whom;                // "" = the verb's default
    int signal = 15;                      // SIGTERM unless -s
    bool force = false;                   // copy-to, copy-from: replace what exists
    bool read_only = false, mkdir = false;  // bind
    std::string verb = "list";
    std::vector<std::string> args;        // after the verb
};

// Parses argv; the verb and its argument count are checked too, names are not (see check_name()).
Result<Options> parse_command_line(int argc, const char* const* argv);

std::string help_text();

// A text for an error message, with bytes that are not printable ASCII escaped (\xNN), in quotes.
std::string quote_arg(std::string_view s);

// Machine names on the command line: the rules of machine_name_is_valid(), plus ".host".
Status check_name(std::string_view name);

}  // namespace berth::machinectl
