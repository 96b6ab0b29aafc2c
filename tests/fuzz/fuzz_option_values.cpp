// The values of options and of machinectl set-property / SetMachineLimits, which come from command
// lines, settings files and bus callers: the first byte picks the parser, the rest is the value. Each
// answers a value or an error, never an exception or a crash.
#include "common/id128.hpp"
#include "common/machine_name.hpp"
#include "common/mount_api.hpp"
#include "common/resources.hpp"
#include "common/signals.hpp"
#include "nspawn/net_ports.hpp"
#include "nspawn/plan.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace berth;
    using namespace berth::fuzz;
    if (size == 0) return 0;
    std::string v = text(data + 1, size - 1);
    try {
        switch (data[0] % 10) {
            case 0: (void)nspawn::parse_bind(v, data[0] & 0x10); break;
            case 1: (void)nspawn::parse_tmpfs(v); break;
            case 2: {
                auto ov = nspawn::parse_overlay(v, data[0] & 0x10);
                if (ov.ok()) check(!ov->lowers.empty(), "an overlay without a lower layer");
                break;
            }
            case 3: (void)nspawn::net::parse_port(v); break;
            case 4: {
                Resources r;
                (void)parse_resource_assignment(v, r);
                break;
            }
            case 5: (void)nspawn::parse_console(v); break;
            case 6: (void)parse_signal(v); break;
            case 7: {
                auto id = parse_id128(v);
                if (id.ok()) check(parse_id128(id128_to_hex(*id)).ok(), "an id128 that does not read back");
                break;
            }
            case 8:
                if (machine_name_is_valid(v)) check(check_machine_name(v).ok(), "two answers on a machine name");
                break;
            case 9: {
                // overlayfs splits its options on ',' and ':' and drops '\\': escaped, a path is one layer.
                std::string e = overlay_escape(v);
                for (size_t i = 0; i < e.size(); i++) {
                    if (e[i] == '\\') {
                        i++;
                        continue;
                    }
                    check(e[i] != ',' && e[i] != ':', "overlay_escape leaves a separator");
                }
                break;
            }
        }
    } catch (...) {
        check(false, "a parser throws");
    }
    return 0;
}
