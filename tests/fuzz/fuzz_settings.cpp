// A settings file next to an image (untrusted) or in /etc/berth/nspawn (trusted): any bytes. Applying it
// fails with an error or fills options, never crashes; the options it fills then go through the option
// table's parsers (each value in its TOML type), as make_plan runs them.
#include "nspawn/options.hpp"
#include "nspawn/settings.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace berth::fuzz;
    if (size == 0) return 0;
    bool trusted = data[0] & 1;
    std::string toml = text(data + 1, size - 1);
    berth::nspawn::Options options;
    std::vector<std::string> warnings;
    try {
        if (berth::nspawn::apply_settings(toml, {"/fuzz/machine.toml", trusted}, options, warnings).ok()) {
            berth::nspawn::PlanDraft draft;
            (void)berth::nspawn::parse_options(options, draft);
        }
    } catch (...) {
        check(false, "apply_settings throws");
    }
    return 0;
}
