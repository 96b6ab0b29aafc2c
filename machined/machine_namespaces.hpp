// Entering a machine: the namespaces of its leader, opened as fds first (so that a leader that exits and
// whose PID is reused meanwhile cannot swap them: the pidfd is checked after opening), then joined in the
// order the kernel needs. Only namespaces that differ from machined's own are opened; for .host (leader 1)
// that may be none at all.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth::machined {

struct MachineNamespaces {
    UniqueFd user, mnt, pid, net, uts, ipc, cgroup, time;  // invalid: the same as machined's
    UniqueFd root;  // the leader's root directory (/proc/LEADER/root), O_PATH|O_DIRECTORY
};

// `leader_pidfd` (may be -1 for .host) is checked after opening: ESRCH when the leader is gone.
// `machine` names it in messages.
Result<MachineNamespaces> open_machine_namespaces(pid_t leader, int leader_pidfd, const std::string& machine);

// In a forked child of machined, never in machined itself: joins the user namespace first and becomes
// root inside it (uid and gid 0 as the machine maps them), then every other namespace, then chroot()s to
// the leader's root with "/" as working directory. The PID and time namespaces apply to the children this
// process forks afterwards. `only` (CLONE_NEW* flags) limits it to those namespaces, the user namespace
// always included: a pty or a socket of the guest needs just its user and mount namespaces.
Status enter_machine_namespaces(const MachineNamespaces& ns, const std::string& machine, int only = 0);

}  // namespace berth::machined
