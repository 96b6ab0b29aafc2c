// Time for deadlines and timeouts: CLOCK_MONOTONIC, which no clock change moves.
#pragma once

#include <time.h>

namespace berth {

// Milliseconds on CLOCK_MONOTONIC.
inline long now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace berth
