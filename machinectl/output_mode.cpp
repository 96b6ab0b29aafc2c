#include "machinectl/output_mode.hpp"

#include <array>
#include <utility>

namespace berth::machinectl {

namespace {

constexpr std::array<std::pair<OutputMode, std::string_view>, 16> kModes{{
    {OutputMode::Short, "short"},
    {OutputMode::ShortFull, "short-full"},
    {OutputMode::ShortIso, "short-iso"},
    {OutputMode::ShortIsoPrecise, "short-iso-precise"},
    {OutputMode::ShortPrecise, "short-precise"},
    {OutputMode::ShortMonotonic, "short-monotonic"},
    {OutputMode::ShortDelta, "short-delta"},
    {OutputMode::ShortUnix, "short-unix"},
    {OutputMode::Verbose, "verbose"},
    {OutputMode::Export, "export"},
    {OutputMode::Json, "json"},
    {OutputMode::JsonPretty, "json-pretty"},
    {OutputMode::JsonSse, "json-sse"},
    {OutputMode::JsonSeq, "json-seq"},
    {OutputMode::Cat, "cat"},
    {OutputMode::WithUnit, "with-unit"},
}};

}  // namespace

std::string_view output_mode_name(OutputMode m) {
    for (auto& [mode, name] : kModes)
        if (mode == m) return name;
    return "short";
}

std::optional<OutputMode> output_mode_from_name(std::string_view name) {
    if (name == "table") return OutputMode::Short;
    for (auto& [mode, n] : kModes)
        if (n == name) return mode;
    return std::nullopt;
}

std::string_view output_mode_help() {
    return "short\nshort-full\nshort-iso\nshort-iso-precise\nshort-precise\nshort-monotonic\nshort-delta\n"
           "short-unix\nverbose\nexport\njson\njson-pretty\njson-sse\njson-seq\ncat\nwith-unit\n";
}

}  // namespace berth::machinectl
