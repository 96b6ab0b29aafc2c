// os-release as a guest writes it: any bytes. The parser never fails or hangs, and every value it keeps
// prints safely once escaped (as machinectl and machined show them).
#include "common/escape.hpp"
#include "common/os_release.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace berth::fuzz;
    auto os = berth::parse_os_release(text(data, size));
    for (auto& [key, value] : os) {
        check(!key.empty(), "os-release: an empty key");
        check(key.size() + value.size() <= size, "os-release: a value longer than the file");
        check(printable(berth::escape_untrusted(value)), "os-release: a value escapes unprintably");
    }
    return 0;
}
