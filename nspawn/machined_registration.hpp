// Registration with machined (org.freedesktop.machine1, ours or systemd's) through
// RegisterMachineWithNetwork, and UnregisterMachine at exit.
//
// The D-Bus call runs in a short-lived forked helper that dlopen()s libsystemd's sd-bus: the supervisor
// itself never maps a bus library, which keeps its start latency and resident memory at the floor.
#pragma once

#include <string>
#include <vector>

#include "common/fd.hpp"

#include "nspawn/plan.hpp"

namespace berth::nspawn {

// Supervisor, once the child exists and before its payload runs (`leader` is its PID 1):
// RegisterMachineWithNetwork. --register=no: nothing. auto: register when machined is on the bus, a warning
// if it fails otherwise. yes: a failure is an error. Returns whether the machine is now registered.
Result<bool> configure_registration(const Plan& plan, pid_t leader, const std::vector<int>& ifindices);
// Supervisor, when the machine is gone: UnregisterMachine, in a helper that runs while the host is undone
// (the call usually only learns that machined, which follows the leader, has already dropped the machine;
// systemd-machined under --keep-unit keeps it until told). finish(), or the destructor, waits for it.
class Unregistration {
public:
    Unregistration() = default;
    static Unregistration begin(const Plan& plan);
    void finish();
    Unregistration(Unregistration&& o) noexcept { *this = std::move(o); }
    Unregistration& operator=(Unregistration&& o) noexcept;
    ~Unregistration() { finish(); }

private:
    std::string machine_;
    pid_t pid_ = -1;
    UniqueFd from_helper_;
    bool started_ = false;
};

}  // namespace berth::nspawn
