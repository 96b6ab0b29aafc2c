// Children machined forks for work that outlives the method call that asked for it (a copy, the waiter of a
// shell): followed by a pidfd in the daemon's poll loop, reaped there, and handed to a callback with how
// they ended. The callback may reply to a call it kept (sd_bus_message_ref), or write a status somewhere.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <vector>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth::machined {

class Children {
public:
    using OnExit = std::function<void(const siginfo_t& how)>;  // si_code CLD_EXITED/KILLED/DUMPED, si_status

    // `pid` must be a child of machined not yet reaped. A failure leaves the child unwatched: the caller
    // kills and reaps it.
    Status watch(pid_t pid, OnExit on_exit);

    std::vector<int> fds() const;  // for poll(): readable when the child has ended
    // Reaps the child behind `fd` and runs its callback. False when `fd` is not one of ours.
    bool on_ready(int fd);
    size_t size() const { return children_.size(); }

private:
    struct Child {
        pid_t pid;
        UniqueFd pidfd;
        OnExit on_exit;
    };
    std::map<int, Child> children_;  // by pidfd
};

}  // namespace berth::machined
