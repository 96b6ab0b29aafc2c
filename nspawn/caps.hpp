// Capabilities: the machine's PID 1 keeps systemd-nspawn's default retained set (NET_ADMIN only with a
// private network); everything else leaves the bounding set before exec.
#pragma once

#include <cstdint>

#include "nspawn/plan.hpp"

namespace berth::nspawn {

// systemd-nspawn's default retained set, plus NET_ADMIN with a private network.
uint64_t default_capabilities(bool private_network);

// Child, just before exec, around the change of user: the bounding set first (dropping needs
// CAP_SETPCAP), then the user changes (setgroups and setresuid need CAP_SETGID and CAP_SETUID, which the
// plan may drop: --drop-capability=all), then root's own sets (a non-root payload has none left anyway).
Status limit_bounding_set_in_child(uint64_t keep);
Status limit_process_capabilities_in_child(uint64_t keep);
// Both at once (the stub init of --as-pid2, which does not change user).
Status limit_capabilities_in_child(uint64_t keep);

}  // namespace berth::nspawn
