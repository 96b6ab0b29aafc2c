// The orchestrator: the list of steps that turns a plan into a running machine and back into nothing.
#pragma once

#include "nspawn/plan.hpp"

namespace berth::nspawn {

// Runs the machine to its end (restarting it in place on guest reboot); returns nspawn's exit status.
int run_machine(const Plan& plan);

}  // namespace berth::nspawn
