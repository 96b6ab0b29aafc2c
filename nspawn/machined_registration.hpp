// Registration with machined (org.freedesktop.machine1, ours or systemd's) through
// RegisterMachineWithNetwork, and UnregisterMachine at exit.
//
// The D-Bus call runs in a short-lived forked helper that dlopen()s libsystemd's sd-bus: the supervisor
// itself never maps a bus library, which keeps its start latency and resident memory at the floor.
#pragma once

#include <vector>

#include "nspawn/plan.hpp"

namespace berth::nspawn {

// Supervisor, once the child exists and before its payload runs (`leader` is its PID 1):
// RegisterMachineWithNetwork. --register=no: nothing. auto: register when machined is on the bus, a warning
// if it fails otherwise. yes: a failure is an error. Returns whether the machine is now registered.
Result<bool> configure_registration(const Plan& plan, pid_t leader, const std::vector<int>& ifindices);
// Supervisor, when the machine is gone: UnregisterMachine.
void cleanup_registration(const Plan& plan);

}  // namespace berth::nspawn
