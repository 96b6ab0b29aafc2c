// Resource limits, first-class options: memory, CPU, pids, IO on the machine's cgroup (cgroup v2; on hybrid
// hosts the v1 controllers), plus per-process limits (rlimits, OOM score, CPU affinity) of PID 1.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/cgroup.hpp"
#include "common/result.hpp"
#include "common/values.hpp"

namespace berth {

struct Rlimit {
    int resource = 0;  // RLIMIT_*
    uint64_t soft = 0, hard = 0;  // RLIM_INFINITY for "infinity"
};

// A per-user limit of the machine's user namespace: /proc/sys/user/NAME there.
struct UserNsLimit {
    std::string name;  // "max_inotify_instances"
    uint64_t value = 0;
};

struct Resources {
    std::optional<uint64_t> memory_max, memory_high, memory_swap_max;  // bytes; UINT64_MAX = "infinity"
    std::optional<uint64_t> cpu_weight;                               // 1..10000
    std::optional<double> cpu_quota_percent;                          // 100 = one CPU
    std::optional<uint64_t> pids_max;                                 // UINT64_MAX = "max"
    std::optional<uint64_t> io_weight;                                // 1..10000
    std::vector<int> cpu_affinity;                                    // CPU numbers
    std::vector<Rlimit> rlimits;
    std::optional<int> oom_score_adjust;                              // -1000..1000
    std::vector<UserNsLimit> userns_limits;
    // The machine's processes and threads, all users together: --pids-max when given, else
    // default_tasks_max(). Kept by the kernel with the machine's user namespace (see NamespaceOwner); a
    // machine without one of its own range gets it as its cgroup's pids limit (plan.cpp).
    uint64_t tasks_ceiling = 0;
    bool pids_max_is_default = false;  // pids_max is tasks_ceiling, not asked for: skipped without a controller

    bool any_cgroup_limit() const;
};

// The default ceiling of a machine's tasks: a quarter of what the host allows (kernel.pid_max,
// kernel.threads-max), at most 16384 (systemd's TasksMax for nspawn@.service). A booted Debian runs a
// few dozen; a fork bomb stops there with the host's pids to spare.
uint64_t default_tasks_max();

// One option of the resources group merged into `r`: `name` is the option's long name ("memory-max"), `label`
// how the user named it for messages ("--memory-max", a settings key). Every bad value is an error naming
// label and value.
Status set_resource(std::string_view name, const OptionValue& value, const std::string& label, Resources& r);
// Once every option is in: what depends on this host is checked (nr_open, CAP_SYS_RESOURCE) and the task
// ceiling set.
Status finish_resources(Resources& r);

// One "KEY=VALUE" as for `machinectl set-property` (keys as the option names without "--",
// e.g. "memory-max=512M"); merged into `r`. Shared with machined's SetMachineLimits.
Status parse_resource_assignment(const std::string& assignment, Resources& r);

// Host-side state of the limits: the v1 cgroups created on hybrid hosts, removed at exit.
struct ResourceCgroups {
    std::vector<std::string> v1_paths;
};

// Supervisor, before the clone: raise its hard rlimits to the machine's and lend it its OOM score
// adjustment, for the child to inherit (see resources.cpp).
void prepare_process_limits(const Resources& r);
// Supervisor, once the child is in the machine cgroup and before it goes on with its setup: apply cgroup
// limits (v2 files; on hybrid hosts create <v1 controller>/berth/NAME for memory, pids, cpu, blkio/io as
// needed).
Result<ResourceCgroups> configure_cgroup_limits(const Resources& r, const Cgroup& machine, const std::string& name);
// machined, on a running machine (SetMachineLimits): the same cgroup settings written live. On hybrid hosts
// the v1 cgroups <controller>/berth/NAME are reused or created, and every process in `machine` (the
// unified cgroup) is moved into them; `created` gets each one created here as soon as it exists, so
// that a caller records them even when a later write fails. Process limits (rlimits, OOM score, CPU
// affinity) are not cgroup settings: `r` must not have any.
Status apply_cgroup_limits_live(const Resources& r, const Cgroup& machine, const std::string& name,
                                ResourceCgroups& created);
// Supervisor, right after the clone: its own OOM score adjustment back (prepare_process_limits lends it
// the machine's, which the child inherits), so that it never runs with the machine's for long.
void take_back_oom_score();
// Supervisor, once the child exists (before it execs): move it into the v1 cgroups.
Status configure_v1_cgroups(const ResourceCgroups& rc, pid_t pid);
// Supervisor, at exit.
void cleanup_v1_cgroups(const ResourceCgroups& rc);
// Child, just before exec: rlimits, OOM score adjustment, CPU affinity.
Status apply_process_limits_in_child(const Resources& r);
// Child, as root of its new user namespace: the namespace's per-user limits (--userns-limit).
Status apply_userns_limits_in_child(const Resources& r);

}  // namespace berth
