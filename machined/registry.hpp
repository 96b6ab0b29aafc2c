// MachineRegistry: the machines machined knows, by name, with the lookups the bus API needs.
// Pure bookkeeping: it validates nothing and touches no process; see register_request.hpp for that.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "machined/machine.hpp"

namespace berth::machined {

class MachineRegistry {
public:
    MachineRegistry();  // with the .host machine

    Machine* find(const std::string& name) const;
    Machine* find_by_leader(pid_t leader) const;
    Machine* find_by_pidfd(int fd) const;
    // The machine whose leader `pid` is, or whose own cgroup holds `unified_cgroup` (pid's, or below it).
    Machine* find_by_process(pid_t pid, const std::string& unified_cgroup) const;
    // Whether any machine already uses `cgroup` or a cgroup below or above it.
    bool cgroup_overlaps(const std::string& cgroup) const;

    Machine& add(std::unique_ptr<Machine> m);
    std::unique_ptr<Machine> remove(const std::string& name);  // never .host

    // In name order, .host first.
    std::vector<Machine*> all() const;
    size_t size() const { return machines_.size(); }

private:
    std::map<std::string, std::unique_ptr<Machine>> machines_;
    std::map<pid_t, Machine*> by_leader_;
};

// Whether `inner` is `outer` or below it ("/a/b" is below "/a", "/ab" is not).
bool cgroup_within(const std::string& inner, const std::string& outer);

}  // namespace berth::machined
