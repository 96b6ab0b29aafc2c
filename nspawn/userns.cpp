#include "userns.hpp"

namespace berth::nspawn {

Result<UserNsPlan> parse_userns(const Options& o) {
    UserNsPlan p;
    p.mode = UserNsMode::Off;  // TODO(lead): user namespaces in progress
    if (o.private_users && *o.private_users != "no")
        return plain_error("--private-users is not available yet", EOPNOTSUPP);
    return p;
}

}  // namespace berth::nspawn
