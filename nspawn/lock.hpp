// Locks under /run/berth/locks: one per machine name (exclusive) and one per image (exclusive, or shared
// for --ephemeral / --read-only users, which never write it). Held by the supervisor for the machine's
// life; the kernel drops them when it dies, so a stale file never blocks a start.
#pragma once

#include <string>
#include <vector>

#include "common/fd.hpp"
#include "nspawn/plan.hpp"

namespace berth::nspawn {

// flock() `path` (created if missing), robust against a concurrent unlink by its previous holder or by
// stale-lock collection: the lock held is always on the file now at `path`. EWOULDBLOCK if taken.
Result<UniqueFd> lock_file(const std::string& path, bool exclusive);

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
