// The machine's own journal, for `machinectl status`: the guest's /var/log/journal and /run/log/journal
// read with sd-journal through a directory fd of the machine's root (OpenMachineRootDirectory), so that
// no path of the guest is resolved on the host.
#pragma once

#include <cstdint>
#include <vector>

#include "common/result.hpp"
#include "machinectl/journal_format.hpp"

namespace berth::machinectl {

// The last `lines` entries, oldest first, as systemd's show_journal(): of those, the ones of the current
// boot at or after `not_before` (CLOCK_MONOTONIC µs; 0: all). Entries that cannot be read are skipped.
Result<std::vector<JournalEntry>> read_journal_tail(int root_fd, unsigned lines, uint64_t not_before);

}  // namespace berth::machinectl
