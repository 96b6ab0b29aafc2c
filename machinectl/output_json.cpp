#include "output_json.hpp"

namespace berth::machinectl {

std::string dump_json(const nlohmann::ordered_json& doc, OutputMode mode) {
    // Machine names and os-release values need not be UTF-8: replace bad bytes instead of throwing.
    int indent = mode == OutputMode::JsonPretty ? 8 : -1;
    return doc.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace berth::machinectl
