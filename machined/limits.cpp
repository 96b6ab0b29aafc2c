#include "limits.hpp"

#include <sys/stat.h>

#include <map>
#include <optional>
#include <sstream>

#include "cgroup.hpp"
#include "fileio.hpp"
#include "resources.hpp"

namespace berth::machined {

namespace {

// systemd's resource-control property names, for `machinectl set-property web MemoryMax=1G` habits.
const std::map<std::string, std::string> kSystemdNames = {
    {"MemoryMax", "memory-max"}, {"MemoryHigh", "memory-high"}, {"MemorySwapMax", "memory-swap-max"},
    {"CPUWeight", "cpu-weight"}, {"CPUQuota", "cpu-quota"},     {"TasksMax", "pids-max"},
    {"IOWeight", "io-weight"},   {"AllowedCPUs", "allowed-cpus"},
};

bool valid_cpu_list(const std::string& v) {
    if (v.empty()) return false;
    for (char c : v)
        if (!(c >= '0' && c <= '9') && c != ',' && c != '-') return false;
    return true;
}

// cpuset is not one of nspawn's options: cpuset.cpus in v2 when the controller is there, else the v1
// cpuset hierarchy (whose cgroups need cpuset.mems before they take processes).
Result<std::vector<std::string>> set_allowed_cpus(const Machine& m, const Cgroup& cg, const std::string& cpus) {
    std::string root = cg.path().substr(0, cg.path().size() - cg.rel().size());
    auto v2 = read_file(root + "/cgroup.controllers");
    if (v2.ok() && v2->find("cpuset") != std::string::npos) {
        (void)write_file(root + "/cgroup.subtree_control", "+cpuset");
        BERTH_TRY(cg.write("cpuset.cpus", cpus));
        return std::vector<std::string>{};
    }
    const std::string mount = "/sys/fs/cgroup/cpuset";
    struct stat st {};
    if (::stat((mount + "/cpuset.cpus").c_str(), &st) < 0)
        return plain_error("AllowedCPUs: no cpuset controller on this host", EOPNOTSUPP);
    std::vector<std::string> created;
    std::string base = mount + "/berth", dir = base + "/" + m.name;
    for (auto& d : {base, dir}) {
        if (::mkdir(d.c_str(), 0755) == 0) {
            if (d == dir) created.push_back(d);
            auto mems = read_file(mount + "/cpuset.mems");
            auto parent_cpus = read_file(mount + "/cpuset.cpus");
            if (mems.ok()) (void)write_file(d + "/cpuset.mems", *mems);
            if (parent_cpus.ok()) (void)write_file(d + "/cpuset.cpus", *parent_cpus);
        } else if (errno != EEXIST) {
            return errno_error(fmt::format("Failed to create cgroup {}", d));
        }
    }
    auto w = write_file(dir + "/cpuset.cpus", cpus);
    if (!w.ok()) return sys_error(w.error().code, fmt::format("Failed to set AllowedCPUs of machine \"{}\" to {}", m.name, cpus));
    auto procs = cg.read("cgroup.procs");
    std::istringstream in(procs.ok() ? *procs : "");
    for (pid_t p; in >> p;) (void)write_file(dir + "/cgroup.procs", std::to_string(p));
    return created;
}

}  // namespace

Result<std::vector<std::string>> set_machine_limits(const Machine& m,
                                                    const std::vector<std::pair<std::string, std::string>>& limits) {
    if (m.is_host()) return plain_error("The host's limits are not machined's to change", EINVAL);
    if (m.cgroup.empty())
        return plain_error(fmt::format("Machine \"{}\" has no cgroup of its own to limit", m.name), EOPNOTSUPP);
    nspawn::Resources r;
    std::optional<std::string> cpus;
    for (auto& [key, value] : limits) {
        auto it = kSystemdNames.find(key);
        std::string name = it == kSystemdNames.end() ? key : it->second;
        if (name == "allowed-cpus") {
            if (!valid_cpu_list(value))
                return plain_error(fmt::format("Invalid AllowedCPUs \"{}\": expected CPU numbers and ranges like "
                                               "\"0,2-3\"",
                                               value));
            cpus = value;
            continue;
        }
        if (name == "cpu-affinity" || name == "oom-score-adjust" || name == "rlimit")
            return plain_error(fmt::format("\"{}\" is a limit of the machine's init process, set when it starts; it "
                                           "cannot change on a running machine",
                                           key));
        BERTH_TRY(nspawn::parse_resource_assignment(name + "=" + value, r));
    }
    BERTH_ASSIGN(CgroupLayout layout, detect_cgroup_layout());
    Cgroup cg(layout.unified_root, m.cgroup);
    BERTH_ASSIGN(nspawn::ResourceCgroups created, nspawn::apply_cgroup_limits_live(r, cg, m.name));
    if (cpus) {
        BERTH_ASSIGN(auto more, set_allowed_cpus(m, cg, *cpus));
        created.v1_paths.insert(created.v1_paths.end(), more.begin(), more.end());
    }
    return created.v1_paths;
}

}  // namespace berth::machined
