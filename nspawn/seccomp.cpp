// PLACEHOLDER until the seccomp module lands.
#include "seccomp.hpp"

#include "caps.hpp"

namespace berth::nspawn {

Result<Privileges> parse_privileges(const Options& o, bool private_network) {
    if (o.capability || o.drop_capability || o.no_new_privileges || o.system_call_filter)
        return plain_error("privilege options are not available yet", EOPNOTSUPP);
    Privileges p;
    p.capabilities = default_capabilities(private_network);
    return p;
}

Result<SeccompProgram> compile_seccomp(const Privileges&) { return SeccompProgram{}; }
Status load_seccomp(const SeccompProgram&, bool) { return {}; }

}  // namespace berth::nspawn
