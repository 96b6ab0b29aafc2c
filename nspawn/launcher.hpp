// The orchestrator: the list of steps that turns a plan into a running machine and back into nothing.
#pragma once

#include "common/result.hpp"
#include "nspawn/plan.hpp"

namespace berth::nspawn {

// Runs the machine to its end (restarting it in place on guest reboot). Returns nspawn's exit status (the
// payload's own, 128+N for a signal, 133 for a reboot under --keep-unit), or why the machine could not be
// started or run: everything the start created is undone by then.
Result<int> run_machine(const Plan& plan);

}  // namespace berth::nspawn
