#include "machined/registry.hpp"

#include <time.h>

namespace berth::machined {

namespace {
uint64_t now_usec(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}
}  // namespace

bool cgroup_within(const std::string& inner, const std::string& outer) {
    if (outer.empty()) return false;
    if (outer == "/") return true;
    return inner == outer || (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
                              inner[outer.size()] == '/');
}

MachineRegistry::MachineRegistry() {
    auto host = std::make_unique<Machine>();
    host->name = ".host";
    host->klass = "host";
    host->leader = 1;
    host->root_directory = "/";
    host->timestamp_realtime = now_usec(CLOCK_REALTIME);
    host->timestamp_monotonic = now_usec(CLOCK_MONOTONIC);
    machines_.emplace(host->name, std::move(host));
}

Machine* MachineRegistry::find(const std::string& name) const {
    auto it = machines_.find(name);
    return it == machines_.end() ? nullptr : it->second.get();
}

Machine* MachineRegistry::find_by_leader(pid_t leader) const {
    auto it = by_leader_.find(leader);
    return it == by_leader_.end() ? nullptr : it->second;
}

Machine* MachineRegistry::find_by_pidfd(int fd) const {
    for (auto& [_, m] : machines_)
        if (m->pidfd.get() == fd) return m.get();
    return nullptr;
}

Machine* MachineRegistry::find_by_process(pid_t pid, const std::string& unified_cgroup) const {
    if (auto* m = find_by_leader(pid)) return m;
    if (unified_cgroup.empty()) return nullptr;
    Machine* best = nullptr;  // the deepest cgroup wins: a machine may run inside another
    for (auto& [_, m] : machines_)
        if (!m->cgroup.empty() && cgroup_within(unified_cgroup, m->cgroup) &&
            (!best || m->cgroup.size() > best->cgroup.size()))
            best = m.get();
    return best;
}

bool MachineRegistry::cgroup_overlaps(const std::string& cgroup) const {
    for (auto& [_, m] : machines_)
        if (!m->cgroup.empty() && (cgroup_within(cgroup, m->cgroup) || cgroup_within(m->cgroup, cgroup)))
            return true;
    return false;
}

Machine& MachineRegistry::add(std::unique_ptr<Machine> m) {
    if (!m->timestamp_realtime) {
        m->timestamp_realtime = now_usec(CLOCK_REALTIME);
        m->timestamp_monotonic = now_usec(CLOCK_MONOTONIC);
    }
    Machine& ref = *m;
    by_leader_[m->leader] = m.get();
    machines_[m->name] = std::move(m);
    return ref;
}

std::unique_ptr<Machine> MachineRegistry::remove(const std::string& name) {
    auto it = machines_.find(name);
    if (it == machines_.end() || it->second->is_host()) return nullptr;
    auto m = std::move(it->second);
    machines_.erase(it);
    by_leader_.erase(m->leader);
    return m;
}

std::vector<Machine*> MachineRegistry::all() const {
    std::vector<Machine*> out;
    out.reserve(machines_.size());
    for (auto& [_, m] : machines_) out.push_back(m.get());  // ".host" sorts before letters and digits
    return out;
}

}  // namespace berth::machined
