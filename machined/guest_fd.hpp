// Descriptors opened inside a machine: a short-lived child of machined enters the machine's user
// namespace (as its root) and mount namespace, changes root to the machine's, opens the thing and passes
// it back over a socketpair (SCM_RIGHTS). machined waits for it a bounded time: the child never joins the
// machine's cgroup, so a frozen machine cannot hold it.
#pragma once

#include <functional>
#include <string>

#include "common/fd.hpp"
#include "common/result.hpp"
#include "machined/machine_namespaces.hpp"

namespace berth::machined {

// Runs `open` in a short-lived child of machined and returns the descriptor it opened (or its error),
// waiting at most 5 s and killing it then: whatever the child meets (a namespace to enter, a guest's FUSE
// mount that never answers) cannot hang machined. `what` and `machine` name the work in messages
// ("Failed to WHAT in machine "NAME": no answer within 5 s").
Result<UniqueFd> fd_from_child(const std::string& what, const std::string& machine,
                               const std::function<Result<UniqueFd>()>& open);

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
