// SetMachineLimits: (KEY, VALUE) pairs with nspawn's option names ("memory-max") or systemd's property
// names ("MemoryMax"), parsed by nspawn's own parser and written live to the machine's cgroups.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "machine.hpp"
#include "result.hpp"

namespace berth::machined {

// Every pair is checked before anything is written. Returns the v1 cgroups created for the machine
// (hybrid hosts), which machined removes with the machine when they are empty.
Result<std::vector<std::string>> set_machine_limits(const Machine& m,
                                                    const std::vector<std::pair<std::string, std::string>>& limits);

}  // namespace berth::machined
