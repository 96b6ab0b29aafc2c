// Object path labels as sd-bus's sd_bus_path_encode() makes them: every byte that is not an ASCII letter
// (or a digit past the first position) becomes '_' plus two lowercase hex digits; "" is "_". Header-only
// and free of the C++ runtime: machinectl's launcher (machinectl/launcher.cpp) builds machine paths too.
#pragma once

#include <string_view>

namespace berth::bus {

// Calls put(char) for each character of the label of `s`.
template <typename Put>
void bus_label_escape_each(std::string_view s, Put&& put) {
    if (s.empty()) {
        put('_');
        return;
    }
    constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < s.size(); i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool digit = c >= '0' && c <= '9';
        if (letter || (i > 0 && digit)) {
            put(static_cast<char>(c));
        } else {
            put('_');
            put(kHex[c >> 4]);
            put(kHex[c & 15]);
        }
    }
}

}  // namespace berth::bus
