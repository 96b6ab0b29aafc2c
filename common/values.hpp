// Value parsers shared by the three programs: booleans, integers, sizes, as the command line, settings files,
// machined.toml and the bus spell them. Each returns nothing for a bad value; the caller names the option.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.hpp"

namespace berth {

// A value given to an option: a word of the command line, or a settings file's value in its own TOML type
// (a number reaches its parser as a number, never reformatted as text).
using OptionValue = std::variant<bool, int64_t, double, std::string>;

// The value as the user wrote it, for messages: "512M", "536870912", "true".
std::string value_text(const OptionValue& v);

// "yes"/"no"/"true"/"false"/"1"/"0"/"on"/"off".
std::optional<bool> parse_boolean(std::string_view text);
// The same, or an error naming `what` (an option, a key) and the value.
Result<bool> parse_boolean(const std::string& text, const std::string& what);

// Decimal digits only, no sign, no space; fits.
std::optional<uint64_t> parse_uint(std::string_view text);
// An optional sign, then parse_uint's digits.
std::optional<int64_t> parse_int(std::string_view text);

// The non-empty items of a list: "a,,b," -> {"a", "b"} (mount options and the like).
std::vector<std::string> split_items(std::string_view text, char separator = ',');
// Every field, empty ones included: "a::b" -> {"a", "", "b"} (/etc/passwd, /proc/PID/cgroup lines). Views
// into `text`.
std::vector<std::string_view> split_fields(std::string_view text, char separator);

inline constexpr uint64_t kInfinity = UINT64_MAX;  // "infinity" of a size or a limit

// Bytes: digits, an optional fraction, an optional 1024-based suffix K, M, G, T, P, E (and a trailing B),
// as systemd's parse_size; "infinity" is kInfinity.
std::optional<uint64_t> parse_size(std::string_view text);

}  // namespace berth
