#include "machined/bus_path.hpp"

#include "common/bus_label.hpp"

namespace berth::machined {

namespace {
int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}
}  // namespace

std::string bus_label_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() * 3);
    bus::bus_label_escape_each(s, [&](char c) { out += c; });
    return out;
}

std::optional<std::string> bus_label_unescape(std::string_view label) {
    if (label == "_") return std::string();
    std::string out;
    for (size_t i = 0; i < label.size(); i++) {
        if (label[i] != '_') {
            out += label[i];
            continue;
        }
        if (i + 2 >= label.size()) return std::nullopt;
        int hi = hexval(label[i + 1]), lo = hexval(label[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi << 4 | lo);
        i += 2;
    }
    if (bus_label_escape(out) != label) return std::nullopt;  // one spelling per name
    return out;
}

std::string machine_object_path(std::string_view name) {
    return std::string(kMachinePrefix) + "/" + bus_label_escape(name);
}

std::string image_object_path(std::string_view name) {
    return std::string(kImagePrefix) + "/" + bus_label_escape(name);
}

}  // namespace berth::machined
