// JSON output: "json" is one line, "json-pretty" is indented.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "options.hpp"

namespace berth::machinectl {

// The document followed by a newline.
std::string dump_json(const nlohmann::ordered_json& doc, OutputMode mode);

}  // namespace berth::machinectl
