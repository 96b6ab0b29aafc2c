// OpenMachineRootDirectory: the machine's root directory as the machine sees it, its own mounts included
// (journalctl -M opens the guest's journal through it: sd_journal_open_directory_fd(..., OS_ROOT)).
#pragma once

#include <systemd/sd-bus.h>

#include "common/fd.hpp"
#include "common/result.hpp"
#include "machined/machine.hpp"

namespace berth::machined {

// O_RDONLY|O_DIRECTORY|O_CLOEXEC on the leader's root ("/" for .host). Opened by a short-lived helper
// (the root may be a guest's FUSE mount that never answers) and checked against the leader's pidfd
// afterwards, so a pid reused meanwhile never yields another process's root.
Result<UniqueFd> open_machine_root(const Machine& m);

class Daemon;
// OpenMachineRootDirectory and Machine.OpenRootDirectory: root only (the descriptor bypasses every
// permission of the guest's files to whoever holds it), AccessDenied for anyone else.
int reply_root_directory(sd_bus_message* call, Daemon& d, const Machine& m);

}  // namespace berth::machined
