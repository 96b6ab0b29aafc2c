// PLACEHOLDER until the resources module lands: refuses every resource option.
#include "resources.hpp"

namespace berth::nspawn {

bool Resources::any_cgroup_limit() const { return false; }

Result<Resources> parse_resources(const Options& o) {
    if (o.memory_max || o.memory_high || o.memory_swap_max || o.cpu_weight || o.cpu_quota || o.pids_max ||
        o.io_weight || o.cpu_affinity || o.oom_score_adjust || o.rlimit)
        return plain_error("resource options are not available yet", EOPNOTSUPP);
    return Resources{};
}

Status parse_resource_assignment(const std::string& a, Resources&) {
    return plain_error(fmt::format("{}: not available yet", a), EOPNOTSUPP);
}

Result<ResourceCgroups> apply_cgroup_limits(const Resources&, const Cgroup&, const std::string&) {
    return ResourceCgroups{};
}
Status attach_v1_cgroups(const ResourceCgroups&, pid_t) { return {}; }
void remove_v1_cgroups(const ResourceCgroups&) {}
Status apply_process_limits(const Resources&) { return {}; }

}  // namespace berth::nspawn
