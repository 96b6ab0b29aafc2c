// JSON output as systemd prints it: "json" on one line, "json-pretty" indented with tabs, "json-sse" as
// "data: ...", "json-seq" after an ASCII record separator.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "machinectl/output_mode.hpp"

namespace berth::machinectl {

// The document followed by a newline.
std::string dump_json(const nlohmann::ordered_json& doc, OutputMode mode);

}  // namespace berth::machinectl
