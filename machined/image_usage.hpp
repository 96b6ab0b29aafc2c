// The disk usage of directory images: walking a tree takes long on a big image and may meet anything, so
// a worker machined forks measures it (images/disk_usage.hpp), reaped in the daemon's loop, and the
// figure is cached. Until the first measurement of an image ends its usage is unknown (UINT64_MAX, as
// systemd 252 always answers for directories); a figure older than the refresh period is measured again
// when next asked for, the old one answered meanwhile. At most kMaxWorkers measure at once; the others
// wait their turn.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "images/image.hpp"
#include "machined/children.hpp"

namespace berth::machined {

class ImageUsage {
public:
    static constexpr int kMaxWorkers = 2;
    static constexpr unsigned kWorkerTimeoutSec = 600;  // a worker still walking by then is killed

    ImageUsage(Children& children, int refresh_sec) : children_(children), refresh_ms_(refresh_sec * 1000L) {}

    // Fills img.usage (and usage_exclusive: a directory shares nothing) from the cache, and starts a
    // measurement when there is no figure or it is stale. Only plain directories and subvolumes of the
    // pool are measured: never .host, whose tree is the host's; raw and block images know their own, and
    // so do subvolumes on a btrfs that keeps quota.
    void fill(images::Image& img);

    size_t measuring() const { return static_cast<size_t>(running_); }

private:
    struct Entry {
        uint64_t dev = 0, ino = 0;  // which image was measured at the path
        uint64_t usage = images::kUnknown;
        long measured_ms = -1;  // CLOCK_MONOTONIC ms when the last measurement ended; -1: never
        bool pending = false;   // queued or running
    };
    void start_next();

    Children& children_;
    long refresh_ms_;
    std::map<std::string, Entry> entries_;  // by path
    std::deque<std::string> queue_;
    int running_ = 0;
};

}  // namespace berth::machined
