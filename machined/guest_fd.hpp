// Descriptors opened inside a machine: a short-lived child of machined enters the machine's user
// namespace (as its root) and mount namespace, changes root to the machine's, opens the thing and passes
// it back over a socketpair (SCM_RIGHTS). machined waits for it a bounded time: the child never joins the
// machine's cgroup, so a frozen machine cannot hold it.
#pragma once

#include <string>

#include "common/fd.hpp"
#include "common/result.hpp"
#include "machined/machine_namespaces.hpp"

namespace berth::machined {

struct GuestPty {
    UniqueFd master;   // unlocked; its peer is the terminal
    std::string path;  // the peer as the machine sees it: "/dev/pts/N"
};

// /dev/ptmx of the machine's devpts.
Result<GuestPty> open_machine_pty(const MachineNamespaces& ns, const std::string& machine);

// A stream socket connected to `socket_path` inside the machine (its system bus: the guest's dbus-daemon
// sees its root connecting). ENOENT or ECONNREFUSED when nothing listens there.
Result<UniqueFd> connect_in_machine(const MachineNamespaces& ns, const std::string& socket_path,
                                    const std::string& machine);

}  // namespace berth::machined
