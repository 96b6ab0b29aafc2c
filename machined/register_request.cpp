#include "machined/register_request.hpp"

#include <unistd.h>

#include "common/cgroup.hpp"
#include "common/machine_name.hpp"
#include "machined/procfs.hpp"
#include "machined/supervision.hpp"

namespace berth::machined {

namespace {

Error invalid(std::string what) { return plain_error(std::move(what), EINVAL); }

// Control characters would garble `machinectl list` and the state files.
bool printable(const std::string& s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

Status check_request(const RegistrationRequest& req, pid_t leader, const MachineRegistry& registry) {
    auto name_ok = check_machine_name(req.name);
    if (!name_ok.ok()) return invalid(name_ok.error().message);
    if (registry.find(req.name)) return plain_error(fmt::format("Machine \"{}\" already exists", req.name), EEXIST);
    if (!req.id.empty() && req.id.size() != 16)
        return invalid(fmt::format("Invalid machine ID: {} bytes, expected 16 (or none)", req.id.size()));
    if (!printable(req.service) || req.service.size() > 255) return invalid("Invalid service name");
    if (!req.klass.empty() && req.klass != "container" && req.klass != "vm")
        return invalid(fmt::format("Invalid machine class \"{}\": expected \"container\" or \"vm\"", req.klass));
    if (!req.root_directory.empty() &&
        (req.root_directory[0] != '/' || !printable(req.root_directory) || req.root_directory.size() > 4096))
        return invalid(fmt::format("Invalid root directory \"{}\": must be an absolute path", req.root_directory));
    if (req.ifindices.size() > kMaxInterfaces)
        return invalid(fmt::format("Too many network interfaces: {}, at most {}", req.ifindices.size(), kMaxInterfaces));
    for (int32_t i : req.ifindices)
        if (i <= 0) return invalid(fmt::format("Invalid network interface index {}", i));
    if (leader == 1) return invalid("Leader PID 1 is the host's init, not a machine's");
    if (leader <= 0) return invalid(fmt::format("Invalid leader PID {}", leader));
    if (auto* other = registry.find_by_leader(leader))
        return plain_error(fmt::format("Process {} already leads machine \"{}\"", leader, other->name), EEXIST);
    return {};
}

Status move_into_new_cgroup(Machine& m) {
    BERTH_ASSIGN(CgroupLayout layout, detect_cgroup_layout());
    std::string rel = machine_cgroup(m.name);
    BERTH_ASSIGN(Cgroup cg, Cgroup::create(layout, rel));
    auto moved = cg.write("cgroup.procs", std::to_string(m.leader));
    if (!moved.ok()) {
        (void)cg.remove();
        return sys_error(moved.error().code, fmt::format("Failed to move leader {} of machine \"{}\" into {}",
                                                         m.leader, m.name, cg.path()));
    }
    m.cgroup = rel;
    m.cgroup_created = true;
    return {};
}

}  // namespace

std::string exclusive_cgroup_of(pid_t leader, pid_t caller, const MachineRegistry& registry) {
    auto leader_cg = own_unified_cgroup(leader);
    if (!leader_cg.ok() || *leader_cg == "/" || leader_cg->empty()) return {};
    auto self_cg = own_unified_cgroup(0);
    if (self_cg.ok() && cgroup_within(*self_cg, *leader_cg)) return {};
    if (caller > 0) {
        auto caller_cg = own_unified_cgroup(caller);
        if (caller_cg.ok() && cgroup_within(*caller_cg, *leader_cg)) return {};
    }
    if (registry.cgroup_overlaps(*leader_cg)) return {};
    return *leader_cg;
}

std::set<pid_t> protected_pids(pid_t bus_daemon) {
    std::set<pid_t> out;
    auto with_ancestors = [&](pid_t pid) {
        for (int depth = 0; pid > 1 && depth < 4096 && out.insert(pid).second; depth++) {
            auto parent = parent_pid(pid);
            if (!parent.ok()) break;
            pid = *parent;
        }
    };
    with_ancestors(::getpid());
    if (bus_daemon > 0) with_ancestors(bus_daemon);
    return out;
}

Result<std::unique_ptr<Machine>> prepare_machine(const RegistrationRequest& req, const Caller& caller,
                                                 const MachineRegistry& registry, bool create_cgroup,
                                                 const std::set<pid_t>& protected_leaders) {
    pid_t leader = req.leader == 0 ? caller.pid : static_cast<pid_t>(req.leader);
    if (req.leader > static_cast<uint32_t>(INT32_MAX)) return invalid(fmt::format("Invalid leader PID {}", req.leader));
    BERTH_TRY(check_request(req, leader, registry));
    if (protected_leaders.count(leader))
        return invalid(fmt::format("Process {} is machined, the bus daemon or one of their ancestors: not a machine's "
                                   "leader",
                                   leader));

    auto m = std::make_unique<Machine>();
    m->name = req.name;
    if (req.id.size() == 16) std::copy(req.id.begin(), req.id.end(), m->id.begin());
    m->service = req.service;
    m->klass = req.klass.empty() ? "container" : req.klass;
    m->root_directory = req.root_directory;
    m->ifindices = req.ifindices;
    m->leader = leader;

    // pidfd first, then the checks: they then speak about the process the pidfd holds, even if the pid
    // is reused meanwhile.
    auto fd = pidfd_open(leader);
    if (!fd.ok()) return invalid(fmt::format("Leader PID {} is not a running process", leader));
    if (!process_running(leader)) return invalid(fmt::format("Leader PID {} is not a running process", leader));
    auto start = process_start_time(leader);
    if (!start.ok()) return invalid(fmt::format("Leader PID {} is not a running process", leader));
    // Whoever registers a leader may signal, freeze and kill it through machined from then on: users
    // other than root (members of allowed_groups) only get that power over their own processes.
    if (caller.uid != 0) {
        auto owner = process_uid(leader);
        if (!owner.ok() || *owner != caller.uid)
            return plain_error(fmt::format("Access denied: leader {} does not run as the caller (uid {})", leader,
                                           caller.uid),
                               EACCES);
    }
    m->pidfd = std::move(*fd);
    m->leader_start_time = *start;

    if (create_cgroup)
        BERTH_TRY(move_into_new_cgroup(*m));
    else
        m->cgroup = exclusive_cgroup_of(leader, caller.pid, registry);
    // The Unit property, as systemd-machined has it: the unit whose cgroup holds the leader.
    if (auto cg = own_unified_cgroup(leader); cg.ok()) m->unit = unit_of_cgroup(*cg);
    find_supervisor(*m, caller, protected_leaders);
    return m;
}

}  // namespace berth::machined
