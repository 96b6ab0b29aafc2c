// Persistence of the registry in STATE_DIR/machines/NAME (TOML, written atomically), so that a
// restarted machined finds its machines again.
#pragma once

#include <sys/types.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "machined/machine.hpp"

namespace berth::machined {

class StateStore {
public:
    explicit StateStore(std::string state_dir) : dir_(std::move(state_dir) + "/machines") {}

    Status prepare() const;  // mkdir -p
    Status save(const Machine& m) const;
    void remove(const std::string& name) const;

    // Every machine on record whose leader is still the same live process, with a pidfd on it.
    // Records of dead leaders (or of a pid now used by another process) are deleted. The records are
    // untrusted input: anything but a small regular file of valid values, cgroups other than berth's own
    // for the machine, a leader in `protected_leaders` or one a record before already claimed, is dropped.
    std::vector<std::unique_ptr<Machine>> load_live(const std::set<pid_t>& protected_leaders = {}) const;

    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
};

// One record's text (`path` names it in messages), checked as load_live() does (fuzzed: tests/fuzz).
Result<std::unique_ptr<Machine>> parse_machine_state(const std::string& text, const std::string& path);

}  // namespace berth::machined
