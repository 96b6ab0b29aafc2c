#include "common/id128.hpp"

#include <sys/random.h>

namespace berth {

namespace {
int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

Result<Id128> parse_id128(std::string_view text) {
    std::string digits;
    bool dashed = text.size() == 36;
    for (size_t i = 0; i < text.size(); i++) {
        if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (text[i] != '-') return plain_error(fmt::format("Invalid UUID \"{}\"", text));
            continue;
        }
        digits += text[i];
    }
    if (digits.size() != 32) return plain_error(fmt::format("Invalid UUID \"{}\": need 32 hex digits", text));
    Id128 id{};
    for (size_t i = 0; i < 16; i++) {
        int hi = hexval(digits[2 * i]), lo = hexval(digits[2 * i + 1]);
        if (hi < 0 || lo < 0) return plain_error(fmt::format("Invalid UUID \"{}\": not hexadecimal", text));
        id[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return id;
}

Id128 random_id128() {
    Id128 id{};
    size_t got = 0;
    while (got < id.size()) {
        ssize_t n = ::getrandom(id.data() + got, id.size() - got, 0);
        if (n > 0) got += n;
    }
    id[6] = (id[6] & 0x0F) | 0x40;
    id[8] = (id[8] & 0x3F) | 0x80;
    return id;
}

bool id128_is_null(const Id128& id) {
    for (auto b : id)
        if (b) return false;
    return true;
}

std::string id128_to_hex(const Id128& id) {
    std::string s;
    for (auto b : id) s += fmt::format("{:02x}", b);
    return s;
}

std::string id128_to_uuid(const Id128& id) {
    std::string h = id128_to_hex(id);
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

}  // namespace berth
