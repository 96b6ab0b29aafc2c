#include "machinectl/output_json.hpp"

#include <fmt/format.h>

namespace berth::machinectl {

namespace {

using Json = nlohmann::ordered_json;

std::string scalar(const Json& j) {
    // Machine names and os-release values need not be UTF-8: replace bad bytes instead of throwing.
    std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
    // JSON escapes only C0 controls; DEL and the C1 controls (U+0080..U+009F, CSI among them) are escaped
    // too, so that JSON on a terminal cannot carry an escape sequence. The dump is valid UTF-8: C2 80..9F
    // are exactly those code points.
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); i++) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == 0x7f) {
            out += "\\u007f";
        } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned char>(text[++i]));
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
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
    switch (mode) {
        case OutputMode::JsonPretty: {
            std::string out;
            pretty(doc, "", out);
            return out + "\n";
        }
        // Server-sent events and RFC 7464 JSON text sequences, as systemd's JSON_FORMAT_SSE/SEQ.
        case OutputMode::JsonSse:
            return "data: " + scalar(doc) + "\n\n";
        case OutputMode::JsonSeq:
            return "\x1e" + scalar(doc) + "\n";
        default:
            return scalar(doc) + "\n";
    }
}

}  // namespace berth::machinectl
