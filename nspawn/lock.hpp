// Locks under /run/berth/locks: one per machine name (exclusive) and one per image (exclusive, or shared
// for --ephemeral / --read-only users, which never write it). Held by the supervisor for the machine's
// life; the kernel drops them when it dies, so a stale file never blocks a start.
#pragma once

#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/lock_file.hpp"
#include "nspawn/plan.hpp"

namespace berth::nspawn {

class MachineLocks {
public:
    static Result<MachineLocks> acquire(const Plan& plan);
    MachineLocks() = default;
    MachineLocks(MachineLocks&&) = default;
    MachineLocks& operator=(MachineLocks&&) = default;
    ~MachineLocks();

private:
    struct Held {
        std::string path;
        UniqueFd fd;
    };
    std::vector<Held> held_;
};

}  // namespace berth::nspawn
