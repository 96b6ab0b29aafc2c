// The machine's PID 1 as the supervisor holds it: by pidfd (signals and waits never go by the bare pid,
// which could be reused), with its host pid for /proc and the ID maps.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <utility>

#include "common/fd.hpp"

namespace berth::nspawn {

// Until it is reaped, the process is killed and reaped when its owner goes: a start that fails at any
// step leaves no process behind, and it is gone before the host state it used is rolled back (the
// owner lives in a narrower scope than that state). Empty (no pidfd) it owns nothing: in the cloned
// child, or once reaped.
class ChildProcess {
public:
    ChildProcess() = default;
    ChildProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
    ChildProcess(ChildProcess&& o) noexcept = default;
    ChildProcess& operator=(ChildProcess&& o) noexcept;
    ~ChildProcess() { end(); }

    pid_t pid() const { return pid_; }
    int pidfd() const { return pidfd_.get(); }
    void signal(int sig) const;
    // How it ended, when it has (reaped then); nothing while it runs.
    std::optional<siginfo_t> try_reap();
    // Gives it `grace_ms` to end by itself, then kills it; reaped either way. Returns how it ended when it
    // ended by itself, nothing when it had to be killed.
    std::optional<siginfo_t> end(int grace_ms = 0);

private:
    pid_t pid_ = 0;
    UniqueFd pidfd_;
};

}  // namespace berth::nspawn
