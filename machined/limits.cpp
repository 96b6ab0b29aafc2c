#include "machined/limits.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>

#include "common/cgroup.hpp"
#include "common/fileio.hpp"
#include "common/resources.hpp"
#include "common/values.hpp"

namespace berth::machined {

namespace {

// systemd's resource-control property names, for `machinectl set-property web MemoryMax=1G` habits.
const std::map<std::string, std::string> kSystemdNames = {
    {"MemoryMax", "memory-max"}, {"MemoryHigh", "memory-high"}, {"MemorySwapMax", "memory-swap-max"},
    {"CPUWeight", "cpu-weight"}, {"CPUQuota", "cpu-quota"},     {"TasksMax", "pids-max"},
    {"IOWeight", "io-weight"},   {"AllowedCPUs", "allowed-cpus"},
};

// The number of CPUs this host may have (/sys/devices/system/cpu/possible: "0-N").
unsigned possible_cpus() {
    auto text = read_file("/sys/devices/system/cpu/possible");
    if (!text.ok()) return 0;
    auto dash = text->rfind('-');
    return static_cast<unsigned>(std::strtoul(text->c_str() + (dash == std::string::npos ? 0 : dash + 1), nullptr, 10)) + 1;
}

// "0,2-3": CPU numbers and ascending ranges, each a CPU this host has.
Status check_cpu_list(const std::string& v) {
    auto bad = [&](const std::string& why) {
        return plain_error(fmt::format("Invalid AllowedCPUs \"{}\": {}", v, why), EINVAL);
    };
    unsigned have = possible_cpus();
    std::istringstream in(v);
    size_t items = 0;
    for (std::string item; std::getline(in, item, ',');) {
        items++;
        auto dash = item.find('-');
        std::string a = item.substr(0, dash), b = dash == std::string::npos ? a : item.substr(dash + 1);
        auto number = [](const std::string& s, unsigned& out) {
            auto v = parse_uint(s);
            if (!v || s.size() > 9) return false;
            out = static_cast<unsigned>(*v);
            return true;
        };
        unsigned lo = 0, hi = 0;
        if (!number(a, lo) || !number(b, hi)) return bad("expected CPU numbers and ranges like \"0,2-3\"");
        if (lo > hi) return bad(fmt::format("the range {} goes down", item));
        if (have > 0 && hi >= have) return bad(fmt::format("this host has CPUs 0-{}", have - 1));
    }
    if (items == 0) return bad("expected CPU numbers and ranges like \"0,2-3\"");
    return {};
}

// Where AllowedCPUs can be set: the v2 cpuset controller, or the v1 cpuset hierarchy.
bool have_cpuset(const Cgroup& cg) {
    std::string root = cg.path().substr(0, cg.path().size() - cg.rel().size());
    auto v2 = read_file(root + "/cgroup.controllers");
    struct stat st {};
    return (v2.ok() && v2->find("cpuset") != std::string::npos) ||
           ::stat("/sys/fs/cgroup/cpuset/cpuset.cpus", &st) == 0;
}

// cpuset is not one of nspawn's options: cpuset.cpus in v2 when the controller is there, else the v1
// cpuset hierarchy (whose cgroups need cpuset.mems before they take processes).
Status set_allowed_cpus(const Machine& m, const Cgroup& cg, const std::string& cpus, std::vector<std::string>& created) {
    std::string root = cg.path().substr(0, cg.path().size() - cg.rel().size());
    auto v2 = read_file(root + "/cgroup.controllers");
    if (v2.ok() && v2->find("cpuset") != std::string::npos) {
        (void)write_file(root + "/cgroup.subtree_control", "+cpuset");
        return cg.write("cpuset.cpus", cpus);
    }
    const std::string mount = "/sys/fs/cgroup/cpuset";
    struct stat st {};
    if (::stat((mount + "/cpuset.cpus").c_str(), &st) < 0)
        return plain_error("AllowedCPUs: no cpuset controller on this host", EOPNOTSUPP);
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
    return {};
}

}  // namespace

Status set_machine_limits(const Machine& m, const std::vector<std::pair<std::string, std::string>>& limits,
                          std::vector<std::string>& created) {
    if (m.is_host()) return plain_error("The host's limits are not machined's to change", EINVAL);
    if (m.cgroup.empty())
        return plain_error(fmt::format("Machine \"{}\" has no cgroup of its own to limit", m.name), EOPNOTSUPP);
    Resources r;
    std::optional<std::string> cpus;
    for (auto& [key, value] : limits) {
        auto it = kSystemdNames.find(key);
        std::string name = it == kSystemdNames.end() ? key : it->second;
        if (name == "allowed-cpus") {
            BERTH_TRY(check_cpu_list(value));
            cpus = value;
            continue;
        }
        if (name == "cpu-affinity" || name == "oom-score-adjust" || name == "rlimit" || name == "userns-limit")
            return plain_error(fmt::format("\"{}\" is a limit of the machine's init process, set when it starts; it "
                                           "cannot change on a running machine",
                                           key));
        BERTH_TRY(parse_resource_assignment(name + "=" + value, r));
    }
    BERTH_ASSIGN(CgroupLayout layout, detect_cgroup_layout());
    Cgroup cg(layout.unified_root, m.cgroup);
    if (cpus && !have_cpuset(cg)) return plain_error("AllowedCPUs: no cpuset controller on this host", EOPNOTSUPP);
    // Only now anything is written.
    ResourceCgroups made;
    auto applied = apply_cgroup_limits_live(r, cg, m.name, made);
    created.insert(created.end(), made.v1_paths.begin(), made.v1_paths.end());
    BERTH_TRY(applied);
    if (cpus) {
        std::vector<std::string> more;
        auto s = set_allowed_cpus(m, cg, *cpus, more);
        created.insert(created.end(), more.begin(), more.end());
        BERTH_TRY(s);
    }
    return {};
}

}  // namespace berth::machined
