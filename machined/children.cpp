#include "machined/children.hpp"

#include <sys/wait.h>

#include <cstring>

#include <spdlog/spdlog.h>

#include "machined/procfs.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace berth::machined {

Status Children::watch(pid_t pid, OnExit on_exit) {
    BERTH_ASSIGN(UniqueFd fd, pidfd_open(pid));
    int key = fd.get();
    children_.emplace(key, Child{pid, std::move(fd), std::move(on_exit)});
    return {};
}

std::vector<int> Children::fds() const {
    std::vector<int> out;
    out.reserve(children_.size());
    for (auto& [fd, child] : children_) out.push_back(fd);
    return out;
}

bool Children::on_ready(int fd) {
    auto it = children_.find(fd);
    if (it == children_.end()) return false;
    siginfo_t info{};
    if (::waitid(static_cast<idtype_t>(P_PIDFD), fd, &info, WEXITED | WNOHANG) < 0) {
        // Not ours to reap any more (someone waited for it): it ended, how is unknown.
        spdlog::warn("Failed to reap child {}: {}", it->second.pid, std::strerror(errno));
        info.si_code = CLD_KILLED;
        info.si_status = SIGKILL;
    } else if (info.si_pid == 0) {
        return true;  // not ended after all
    }
    // The callback may watch new children: take this one out first.
    Child child = std::move(it->second);
    children_.erase(it);
    try {
        child.on_exit(info);
    } catch (const std::exception& e) {
        spdlog::error("After child {} ended: {}", child.pid, e.what());
    }
    return true;
}

}  // namespace berth::machined
