// Capabilities: the machine's PID 1 keeps systemd-nspawn's default retained set (NET_ADMIN only with a
// private network); everything else leaves the bounding set before exec.
#pragma once

#include <cstdint>

#include "plan.hpp"

namespace berth::nspawn {

// systemd-nspawn's default retained set, plus NET_ADMIN with a private network.
uint64_t default_capabilities(bool private_network);

// Child, just before changing user and exec (a non-root payload then keeps nothing).
Status apply_capabilities(const Plan& plan);
// Bounding, effective, permitted and inheritable sets down to `keep`.
Status limit_capabilities(uint64_t keep);

}  // namespace berth::nspawn
