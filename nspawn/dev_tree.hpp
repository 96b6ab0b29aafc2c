// /dev: a small tmpfs with the standard pseudo-devices (bound from the host, so it works in a user
// namespace too), a private devpts instance, /dev/shm, /dev/mqueue, and the console pty.
#pragma once

#include "common/fd.hpp"
#include "common/result.hpp"
#include "nspawn/plan.hpp"

namespace berth::nspawn {

// Child: build /dev inside `rootfd`. With a pty console mode, returns the master of a new pty from the
// machine's own devpts instance, its slave bound on /dev/console; else an invalid fd.
Result<UniqueFd> setup_dev_in_child(const Plan& plan, int rootfd);

bool console_uses_pty(ConsoleMode mode);

}  // namespace berth::nspawn
