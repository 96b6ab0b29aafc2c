#include "nspawn/child_process.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace berth::nspawn {

namespace {

bool wait_for(int pidfd, siginfo_t& si, int options) {
    si = siginfo_t{};
    return ::waitid(static_cast<idtype_t>(P_PIDFD), pidfd, &si, WEXITED | options) == 0 && si.si_pid != 0;
}

}  // namespace

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
    if (this != &o) {
        end();
        pid_ = o.pid_;
        pidfd_ = std::move(o.pidfd_);
    }
    return *this;
}

void ChildProcess::signal(int sig) const {
    if (pidfd_) ::syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0);
}

std::optional<siginfo_t> ChildProcess::try_reap() {
    siginfo_t si;
    if (!pidfd_ || !wait_for(pidfd_.get(), si, WNOHANG)) return std::nullopt;
    pidfd_.reset();
    return si;
}

std::optional<siginfo_t> ChildProcess::end(int grace_ms) {
    if (!pidfd_) return std::nullopt;
    std::optional<siginfo_t> how;
    siginfo_t si;
    pollfd p{pidfd_.get(), POLLIN, 0};
    if (grace_ms > 0 && ::poll(&p, 1, grace_ms) == 1 && wait_for(pidfd_.get(), si, 0)) {
        how = si;
    } else {
        signal(SIGKILL);
        (void)wait_for(pidfd_.get(), si, 0);
    }
    pidfd_.reset();
    return how;
}

}  // namespace berth::nspawn
