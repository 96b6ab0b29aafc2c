// Object path labels: any machine name escapes to a valid label that unescapes to the name; any label a
// caller sends unescapes to something or to nothing, never a crash.
#include "machined/bus_path.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace berth::fuzz;
    std::string in = text(data, size);
    std::string label = berth::machined::bus_label_escape(in);
    check(!label.empty(), "an empty label");
    for (char c : label)
        check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_',
              "a label with a byte an object path may not have");
    auto back = berth::machined::bus_label_unescape(label);
    check(back && *back == in, "a label that does not unescape to its name");
    auto any = berth::machined::bus_label_unescape(in);
    if (any) check(berth::machined::bus_label_escape(*any) == in, "unescape accepts a label escape would not make");
    return 0;
}
