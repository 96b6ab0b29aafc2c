// The supervisor's memory while its machine runs: the code that built the machine is not needed again.
#pragma once

namespace berth::nspawn {

// Unmaps our executable's code pages from this process (they stay in the page cache and fault back in if
// any of that code runs again). The kernel maps code around every fault (fault-around), so by the time
// the machine runs most of our text is mapped although the supervision loop uses a few pages of it.
// Text is never written, so nothing is lost; data and relocated read-only data are left alone.
void release_startup_code();

}  // namespace berth::nspawn
