// The /proc texts machined reads about processes a guest runs: a guest names its processes (comm, any
// 15 bytes, parentheses and spaces included), so /proc/PID/stat is partly the guest's; status and the
// id maps are parsed the same defensive way. Never an exception, never a crash.
#include "machined/procfs.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace berth::fuzz;
    std::string in = text(data, size);
    try {
        auto fields = berth::machined::stat_fields_of(in);
        if (fields)
            for (auto& f : *fields) check(!f.empty() && f.find(' ') == std::string::npos, "a stat field with a space");
        (void)berth::machined::status_number(in, "Uid");
        (void)berth::machined::status_number(in, "PPid");
        auto map = berth::machined::parse_id_map(in);
        check(map.size() <= size / 5 + 1, "more id map lines than the text holds");
    } catch (...) {
        check(false, "a /proc parser throws");
    }
    return 0;
}
