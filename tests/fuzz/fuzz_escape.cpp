// escape_untrusted, quote_untrusted, to_valid_utf8: whatever a guest puts in a string, what reaches a
// terminal is printable valid UTF-8 of bounded length, and what reaches D-Bus is valid UTF-8.
#include "common/escape.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace berth::fuzz;
    std::string in = text(data, size);
    std::string e = berth::escape_untrusted(in);
    check(printable(e), "escape_untrusted leaves a control character");
    check(valid_utf8(e), "escape_untrusted leaves invalid UTF-8");
    check(e.size() <= 4 * in.size(), "escape_untrusted grows more than 4x");
    std::string q = berth::quote_untrusted(in, 16);
    check(printable(q) && valid_utf8(q), "quote_untrusted leaves an unprintable byte");
    check(q.size() <= 4 * 16 + 64, "quote_untrusted does not cut");
    std::string u = berth::to_valid_utf8(in);
    check(valid_utf8(u), "to_valid_utf8 leaves invalid UTF-8");
    check(!valid_utf8(in) || u == in, "to_valid_utf8 changes valid UTF-8");
    return 0;
}
