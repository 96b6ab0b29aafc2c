#include "output_json.hpp"

namespace berth::machinectl {

namespace {

using Json = nlohmann::ordered_json;

std::string scalar(const Json& j) {
    // Machine names and os-release values need not be UTF-8: replace bad bytes instead of throwing.
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// systemd's json_variant_dump(JSON_FORMAT_PRETTY): tabs, "key" : value, empty containers as [] and {}.
void pretty(const Json& j, const std::string& prefix, std::string& out) {
    if (j.is_array() && !j.empty()) {
        out += "[\n";
        bool first = true;
        for (auto& e : j) {
            if (!first) out += ",\n";
            first = false;
            out += prefix + "\t";
            pretty(e, prefix + "\t", out);
        }
        out += "\n" + prefix + "]";
    } else if (j.is_object() && !j.empty()) {
        out += "{\n";
        bool first = true;
        for (auto& [key, value] : j.items()) {
            if (!first) out += ",\n";
            first = false;
            out += prefix + "\t" + scalar(Json(key)) + " : ";
            pretty(value, prefix + "\t", out);
        }
        out += "\n" + prefix + "}";
    } else {
        out += scalar(j);
    }
}

}  // namespace

std::string dump_json(const Json& doc, OutputMode mode) {
    if (mode != OutputMode::JsonPretty) return scalar(doc) + "\n";
    std::string out;
    pretty(doc, "", out);
    return out + "\n";
}

}  // namespace berth::machinectl
