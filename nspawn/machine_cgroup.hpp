// The machine's cgroup in the unified hierarchy. Under systemd with --keep-unit it is a "payload" child of
// our own (delegated) unit cgroup; otherwise a cgroup of ours, /berth/NAME. The guest's cgroup namespace
// is rooted there, so its init manages exactly that subtree.
#pragma once

#include "common/cgroup.hpp"
#include "nspawn/plan.hpp"

namespace berth::nspawn {

// Supervisor, before clone. Fails if a cgroup of that name still has processes in it.
Result<Cgroup> prepare_machine_cgroup(const Plan& plan);

// Supervisor, at exit: kill what is left and remove the subtree (and /berth when it is empty).
void cleanup_machine_cgroup(const Cgroup& cg);

}  // namespace berth::nspawn
