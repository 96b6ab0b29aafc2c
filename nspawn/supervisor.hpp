// The supervision loop: one epoll over the machine's pidfd, our signals, the guest's notify socket, the
// setup channel (exec errors), and the console. Single-threaded; returns when PID 1 is gone.
#pragma once

#include <memory>
#include <optional>

#include "common/cgroup.hpp"
#include "nspawn/child_process.hpp"
#include "nspawn/console.hpp"
#include "nspawn/plan.hpp"
#include "nspawn/sync.hpp"

namespace berth::nspawn {

struct RunningMachine {
    ChildProcess init;  // the machine's PID 1; reaped by supervise()
    Channel channel;  // closes (EOF) when the payload was executed; carries an exec error otherwise
    UniqueFd notify;
    std::unique_ptr<Console> console;
    bool registered = false;  // with machined
};

struct Outcome {
    bool reboot = false;  // the guest asked for a reboot
    int exit_status = 0;  // nspawn's exit status otherwise
    std::optional<Error> error;  // the payload could not be started
};

Outcome supervise(const Plan& plan, RunningMachine& m, int signal_fd, const Cgroup& cgroup);

}  // namespace berth::nspawn
