#include "machined/image_usage.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "common/clock.hpp"
#include "images/disk_usage.hpp"
#include "machined/forked_call.hpp"

namespace berth::machined {

void ImageUsage::fill(images::Image& img) {
    if (img.is_host() || (img.type != images::ImageType::Directory && img.type != images::ImageType::Subvolume))
        return;
    if (img.usage != images::kUnknown) return;  // btrfs quota counts this subvolume
    Entry& e = entries_[img.path];
    if (e.dev != img.dev || e.ino != img.ino) {
        // Another image at this path now (removed and made anew): what was measured is not its figure.
        // A measurement of the old one still running is left to end; its figure is then dropped.
        e = Entry{img.dev, img.ino, images::kUnknown, -1, e.pending};
    }
    img.usage = img.usage_exclusive = e.usage;
    bool stale = e.measured_ms < 0 || now_ms() - e.measured_ms >= refresh_ms_;
    if (stale && !e.pending) {
        e.pending = true;
        queue_.push_back(img.path);
        start_next();
    }
}

void ImageUsage::start_next() {
    while (running_ < kMaxWorkers && !queue_.empty()) {
        std::string path = queue_.front();
        queue_.pop_front();
        auto it = entries_.find(path);
        if (it == entries_.end()) continue;
        uint64_t dev = it->second.dev, ino = it->second.ino;
        auto started = run_forked(
            children_,
            [path]() -> Result<std::string> {
                ::alarm(kWorkerTimeoutSec);
                BERTH_ASSIGN(uint64_t usage, images::disk_usage(path));
                return std::to_string(usage);
            },
            [this, path, dev, ino](const Result<std::string>& outcome) {
                running_--;
                Entry& e = entries_[path];
                e.pending = false;
                if (e.dev == dev && e.ino == ino) {
                    e.measured_ms = now_ms();
                    if (outcome.ok()) e.usage = std::stoull(outcome.value());
                    else spdlog::warn("Disk usage of image {} unknown: {}", path, outcome.error().message);
                }
                start_next();
            });
        if (!started.ok()) {
            spdlog::warn("Disk usage of image {} not measured: {}", path, started.error().message);
            it->second.pending = false;
            continue;
        }
        running_++;
    }
}

}  // namespace berth::machined
