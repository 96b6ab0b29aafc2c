#include "common/escape.hpp"

#include <fmt/format.h>

namespace berth {

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (at least 2 bytes) and its code point, or 0.
size_t utf8_sequence(std::string_view s, size_t i, uint32_t& cp) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (n == 0 || c > 0xf4 || i + n > s.size()) return 0;
    cp = c & (n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07);
    for (size_t k = 1; k < n; k++) {
        if ((byte(i + k) & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    bool shortest = (n == 2 && cp >= 0x80) || (n == 3 && cp >= 0x800) || (n == 4 && cp >= 0x10000);
    if (!shortest || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

// The same for a printable code point only (U+00A0 and up; U+0080..U+009F are the C1 controls).
size_t printable_utf8(std::string_view s, size_t i) {
    uint32_t cp = 0;
    size_t n = utf8_sequence(s, i, cp);
    return cp >= 0xa0 ? n : 0;
}

void append_escaped(std::string& out, std::string_view s, bool in_quotes) {
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '\\' || (in_quotes && c == '"')) {
            out += '\\';
            out += static_cast<char>(c);
            i++;
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
            i++;
        } else if (size_t n = c >= 0x80 ? printable_utf8(s, i) : 0; n > 0) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += fmt::format("\\x{:02x}", c);
            i++;
        }
    }
}

}  // namespace

std::string escape_untrusted(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    append_escaped(out, s, false);
    return out;
}

std::string to_valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = 0;
        size_t n = static_cast<unsigned char>(s[i]) < 0x80 ? 1 : utf8_sequence(s, i, cp);
        if (n == 0) {
            out += "\xef\xbf\xbd";
            i++;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::string quote_untrusted(std::string_view s, size_t max) {
    std::string out = "\"";
    bool cut = s.size() > max;
    if (cut) {
        // Not in the middle of a UTF-8 sequence: back up over continuation bytes.
        size_t end = max;
        while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) end--;
        append_escaped(out, s.substr(0, end), true);
        return out + fmt::format("\"... ({} more bytes)", s.size() - end);
    }
    append_escaped(out, s, true);
    return out + "\"";
}

}  // namespace berth
