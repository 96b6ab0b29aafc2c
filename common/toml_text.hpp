// A guard in front of toml++ for text from files. Debian's toml++ (3.3) reaches __builtin_unreachable()
// (undefined behaviour) when it asks whether U+00A1..U+0499 or U+FBE6..U+FEFE is whitespace, which it does
// outside strings and while scanning a bad token (found by tests/fuzz: "a = 1 ¡"). So toml++ never sees
// those characters: in a "basic" string one is written as the same \uXXXX escape (the value does not
// change); anywhere else (outside strings, where TOML allows no non-ASCII at all, and in 'literal'
// strings, which have no escapes) the text is refused, naming the line. Invalid UTF-8 is refused too.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace berth {

// The text for toml++. `what` names it in errors ("settings file /etc/berth/nspawn/x.toml").
Result<std::string> guard_toml_text(std::string_view text, const std::string& what);

}  // namespace berth
