// 128-bit ids (machine id, container uuid).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth {

using Id128 = std::array<uint8_t, 16>;

// 32 hex digits, or the dashed UUID form.
Result<Id128> parse_id128(std::string_view text);
Id128 random_id128();  // a v4 UUID
bool id128_is_null(const Id128& id);
std::string id128_to_hex(const Id128& id);   // 32 lowercase hex digits
std::string id128_to_uuid(const Id128& id);  // 8-4-4-4-12

}  // namespace berth
