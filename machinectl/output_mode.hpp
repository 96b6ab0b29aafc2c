// -o/--output: systemd 252's journal output modes (the names and the order of `machinectl -o help`).
// list and show print a table or properties for the non-JSON modes; status formats the machine's
// journal lines in the mode.
#pragma once

#include <optional>
#include <string_view>

namespace berth::machinectl {

enum class OutputMode {
    Short,
    ShortFull,
    ShortIso,
    ShortIsoPrecise,
    ShortPrecise,
    ShortMonotonic,
    ShortDelta,
    ShortUnix,
    Verbose,
    Export,
    Json,
    JsonPretty,
    JsonSse,
    JsonSeq,
    Cat,
    WithUnit,
};

// systemd's name of the mode.
std::string_view output_mode_name(OutputMode m);
// The mode of a name; "table" is berth's alias of short. nullopt for anything else.
std::optional<OutputMode> output_mode_from_name(std::string_view name);
// `-o help`: the names, one a line, in systemd's order.
std::string_view output_mode_help();

inline bool output_mode_is_json(OutputMode m) {
    return m == OutputMode::Json || m == OutputMode::JsonPretty || m == OutputMode::JsonSse || m == OutputMode::JsonSeq;
}

}  // namespace berth::machinectl
