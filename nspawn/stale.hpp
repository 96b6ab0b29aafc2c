// What a killed supervisor leaves behind (an empty machine cgroup, lock files) is collected by the next
// start: an entry is stale when nobody holds its machine's lock.
#pragma once

namespace berth::nspawn {

// Best effort; never fails a start.
void collect_stale_state();

}  // namespace berth::nspawn
