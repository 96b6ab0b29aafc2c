// Text that came from a guest, an image or a caller (os-release, process names, cgroup names, machine
// names, paths), made safe to print on an administrator's terminal: no control characters, no escape
// sequences, no invalid UTF-8, nothing of unbounded length in a message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace berth {

// Control characters (C0, DEL and C1) and bytes that are not well-formed UTF-8 as \xNN; a backslash as
// \\. Printable UTF-8 stays as it is.
std::string escape_untrusted(std::string_view s);

// escape_untrusted in double quotes (a double quote as \"), cut after `max` bytes of the input with
// "..." and the number of bytes left out: for error messages that name what was refused.
std::string quote_untrusted(std::string_view s, size_t max = 128);

// s with every byte that is not part of well-formed UTF-8 replaced by U+FFFD: what D-Bus may carry
// (its strings must be UTF-8; one bad byte of a guest's os-release would otherwise fail the whole reply).
std::string to_valid_utf8(std::string_view s);

}  // namespace berth
