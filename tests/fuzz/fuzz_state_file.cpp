// machined's records in its state directory, which a restarted machined reads back: untrusted (any
// bytes). A record is refused or gives a machine with a valid name, a leader above 1, a known class and
// cgroups of berth's own.
#include "common/machine_name.hpp"
#include "machined/state.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace berth::fuzz;
    try {
        auto m = berth::machined::parse_machine_state(text(data, size), "/fuzz/state");
        if (m.ok()) {
            auto& machine = **m;
            check(berth::machine_name_is_valid(machine.name), "a record with an invalid name");
            check(machine.leader > 1, "a record whose leader is init or nothing");
            check(machine.klass == "container" || machine.klass == "vm", "a record of an unknown class");
            check(machine.cgroup.empty() || (machine.cgroup[0] == '/' && machine.cgroup.find("/..") == std::string::npos),
                  "a record with a cgroup outside berth's");
        }
    } catch (...) {
        check(false, "parse_machine_state throws");
    }
    return 0;
}
