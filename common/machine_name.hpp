// Machine names follow hostname rules (as systemd's machine_name_is_valid()).
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth {

inline constexpr size_t kMachineNameMax = 64;

// Letters, digits and '-' in '.'-separated labels; no empty label, no label starting or ending with '-';
// at most 64 bytes.
bool machine_name_is_valid(std::string_view name);

// Error text explaining why a name is refused, for messages.
Status check_machine_name(std::string_view name);

// Turn a directory basename into a usable machine name (invalid bytes become '-'), or "" if impossible.
std::string machine_name_from_path(std::string_view path);

}  // namespace berth
