// SetMachineLimits: (KEY, VALUE) pairs with nspawn's option names ("memory-max") or systemd's property
// names ("MemoryMax"), parsed by nspawn's own parser and written live to the machine's cgroups.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "machined/machine.hpp"

namespace berth::machined {

// Every pair is checked (values, CPUs this host has, controllers it has) before anything is written: a
// bad request changes nothing (EINVAL, EOPNOTSUPP). `created` gets the v1 cgroups made for the machine
// (hybrid hosts), also when a write fails later on; machined records them and removes them with the
// machine when they are empty.
Status set_machine_limits(const Machine& m, const std::vector<std::pair<std::string, std::string>>& limits,
                          std::vector<std::string>& created);

}  // namespace berth::machined
