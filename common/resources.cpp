#include "common/resources.hpp"

#include <dirent.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "common/fileio.hpp"
#include "common/log.hpp"
#include "common/resources_detail.hpp"

namespace berth {

using namespace resources_detail;

namespace {

constexpr uint64_t kCpuPeriodUs = 100000;  // systemd's default CPUQuotaPeriodSec=100ms

// ---- cgroup v2 ------------------------------------------------------------------------------------------

std::set<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::set<std::string> out;
    for (std::string w; in >> w;) out.insert(w);
    return out;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}


uint64_t quota_us(double percent) {
    return std::max<uint64_t>(1000, static_cast<uint64_t>(std::llround(percent * kCpuPeriodUs / 100.0)));
}

// systemd's mapping of a cgroup weight (1..10000, default 100) onto BFQ's 1..1000 (default 100).
uint64_t bfq_weight(uint64_t w) { return w <= 100 ? w : 100 + (w - 100) * 900 / 9900; }

// Make `ctrl` available to the machine's cgroup: enabled in the subtree_control of every ancestor.
Status enable_v2_controller(const std::string& root, const std::string& rel, const std::string& ctrl) {
    std::string dir = root;
    for (size_t pos = 1; pos < rel.size();) {
        auto enabled = read_file(dir + "/cgroup.subtree_control");
        if (!enabled.ok()) return enabled.error();
        if (!words(*enabled).count(ctrl)) {
            auto s = write_file(dir + "/cgroup.subtree_control", "+" + ctrl);
            if (!s.ok())
                return sys_error(s.error().code,
                                 fmt::format("Failed to enable the {} controller in cgroup {}", ctrl, dir));
        }
        size_t next = rel.find('/', pos);
        if (next == std::string::npos) break;  // `dir` is now the machine's parent
        dir = root + rel.substr(0, next);
        pos = next + 1;
    }
    return {};
}

struct Setting {
    std::string file, value;
};

Status write_settings(const std::string& dir, const std::vector<Setting>& settings, const std::string& name) {
    for (auto& s : settings) {
        auto w = write_file(dir + "/" + s.file, s.value);
        if (!w.ok())
            return sys_error(w.error().code, fmt::format("Failed to set {} of machine \"{}\" to {} in {}", s.file,
                                                         name, s.value, dir));
    }
    return {};
}

std::vector<Setting> v2_settings(const Resources& r, const std::string& ctrl, const std::string& dir) {
    std::vector<Setting> out;
    if (ctrl == "memory") {
        if (r.memory_max) out.push_back({"memory.max", limit_text(*r.memory_max, "max")});
        if (r.memory_high) out.push_back({"memory.high", limit_text(*r.memory_high, "max")});
        if (r.memory_swap_max) {
            if (exists(dir + "/memory.swap.max"))
                out.push_back({"memory.swap.max", limit_text(*r.memory_swap_max, "max")});
            else
                spdlog::warn("--memory-swap-max ignored: this kernel does not account swap (no memory.swap.max)");
        }
    } else if (ctrl == "cpu") {
        if (r.cpu_weight) out.push_back({"cpu.weight", std::to_string(*r.cpu_weight)});
        if (r.cpu_quota_percent) {
            std::string q = std::isinf(*r.cpu_quota_percent) ? "max" : std::to_string(quota_us(*r.cpu_quota_percent));
            out.push_back({"cpu.max", fmt::format("{} {}", q, kCpuPeriodUs)});
        }
    } else if (ctrl == "pids") {
        out.push_back({"pids.max", limit_text(*r.pids_max, "max")});
    } else if (ctrl == "io") {
        bool any = false;
        if (exists(dir + "/io.weight")) {
            out.push_back({"io.weight", fmt::format("default {}", *r.io_weight)});
            any = true;
        }
        if (exists(dir + "/io.bfq.weight")) {
            out.push_back({"io.bfq.weight", std::to_string(bfq_weight(*r.io_weight))});
            any = true;
        }
        if (!any) spdlog::warn("--io-weight ignored: no IO scheduler with weights (io.weight, io.bfq.weight)");
    }
    return out;
}

// ---- cgroup v1 (hybrid hosts) -------------------------------------------------------------------------

constexpr const char* kV1Controllers[] = {"memory", "cpu", "pids", "blkio"};

// Where the v1 hierarchies of our controllers are mounted, from mountinfo (they may be co-mounted:
// "cpu,cpuacct").
std::map<std::string, std::string> v1_mounts() {
    std::map<std::string, std::string> out;
    auto info = read_file("/proc/self/mountinfo");
    if (!info.ok()) return out;
    std::istringstream in(*info);
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, mnt, field;
        f >> id >> parent >> dev >> root >> mnt;
        while (f >> field && field != "-") {}
        std::string fstype, source, opts;
        f >> fstype >> source >> opts;
        if (fstype != "cgroup") continue;
        std::istringstream o(opts);
        for (std::string opt; std::getline(o, opt, ',');)
            for (auto* c : kV1Controllers)
                if (opt == c) out.emplace(c, mnt);
    }
    return out;
}

std::vector<Setting> v1_settings(const Resources& r, const std::string& ctrl, const std::string& dir) {
    std::vector<Setting> out;
    if (ctrl == "memory") {
        if (r.memory_max) out.push_back({"memory.limit_in_bytes", limit_text(*r.memory_max, "-1")});
        if (r.memory_high) out.push_back({"memory.soft_limit_in_bytes", limit_text(*r.memory_high, "-1")});
        if (r.memory_swap_max) {
            // v1 limits memory plus swap together: the sum, which needs a finite memory limit.
            uint64_t mem = r.memory_max.value_or(kInfinity), swap = *r.memory_swap_max;
            if (!exists(dir + "/memory.memsw.limit_in_bytes"))
                spdlog::warn("--memory-swap-max ignored: this kernel does not account swap (swapaccount=0)");
            else if (swap != kInfinity && mem == kInfinity)
                spdlog::warn("--memory-swap-max ignored: on cgroup v1 it needs --memory-max as well");
            else
                out.push_back({"memory.memsw.limit_in_bytes",
                               swap == kInfinity || mem > kInfinity - swap ? "-1" : std::to_string(mem + swap)});
        }
    } else if (ctrl == "cpu") {
        if (r.cpu_weight)
            out.push_back({"cpu.shares", std::to_string(std::clamp<uint64_t>(*r.cpu_weight * 1024 / 100, 2, 262144))});
        if (r.cpu_quota_percent) {
            out.push_back({"cpu.cfs_period_us", std::to_string(kCpuPeriodUs)});
            out.push_back({"cpu.cfs_quota_us", std::isinf(*r.cpu_quota_percent)
                                                   ? "-1"
                                                   : std::to_string(quota_us(*r.cpu_quota_percent))});
        }
    } else if (ctrl == "pids") {
        out.push_back({"pids.max", limit_text(*r.pids_max, "max")});
    } else if (ctrl == "blkio") {
        // The v1 scale, 10..1000 around 500, for both files, as systemd writes them.
        std::string w = std::to_string(std::clamp<uint64_t>(*r.io_weight * 500 / 100, 10, 1000));
        if (exists(dir + "/blkio.bfq.weight"))
            out.push_back({"blkio.bfq.weight", w});
        else if (exists(dir + "/blkio.weight"))
            out.push_back({"blkio.weight", w});
        else
            spdlog::warn("--io-weight ignored: no IO scheduler with weights (blkio.bfq.weight, blkio.weight)");
    }
    return out;
}

Status rmdir_retrying(const std::string& path) {
    // The kernel may still be tearing down exiting tasks.
    for (int i = 0; i < 200; i++) {
        if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
        if (errno != EBUSY) break;
        ::usleep(5000);
    }
    return errno_error(fmt::format("Failed to remove cgroup {}", path));
}

bool v1_populated(const std::string& dir) {
    auto procs = read_file(dir + "/cgroup.procs");
    return procs.ok() && procs->find_first_not_of(" \n") != std::string::npos;
}

// <mount>/berth/NAME, fresh: a leftover of a killed supervisor is empty (its guest died with it) and
// still carries old limits, so it is removed first.
Result<std::string> create_v1_cgroup(const std::string& mount, const std::string& name) {
    std::string base = machines_v1_cgroup(mount), dir = machine_v1_cgroup(mount, name);
    for (int attempt = 0;; attempt++) {
        if (::mkdir(base.c_str(), 0755) < 0 && errno != EEXIST)
            return errno_error(fmt::format("Failed to create cgroup {}", base));
        if (::mkdir(dir.c_str(), 0755) == 0) return dir;
        if (errno == ENOENT && attempt < 5) continue;  // another supervisor removed an empty base meanwhile
        if (errno != EEXIST) return errno_error(fmt::format("Failed to create cgroup {}", dir));
        if (v1_populated(dir))
            return plain_error(fmt::format("Machine \"{}\" still has processes in cgroup {}", name, dir), EBUSY);
        BERTH_TRY(rmdir_retrying(dir));
    }
}

void remove_v1_cgroup(const std::string& dir) {
    for (int i = 0; i < 500 && v1_populated(dir); i++) {
        auto procs = read_file(dir + "/cgroup.procs");
        std::istringstream in(procs.ok() ? *procs : "");
        for (pid_t p; in >> p;) ::kill(p, SIGKILL);
        ::usleep(10000);
    }
    auto s = rmdir_retrying(dir);
    if (!s.ok()) spdlog::warn("{}", s.error().message);
    std::string base = dir.substr(0, dir.rfind('/'));
    (void)::rmdir(base.c_str());  // only succeeds when no other machine uses it
}

// "0-3,6" for a CPU set.
std::optional<int> own_oom_score() {
    auto now = read_file("/proc/self/oom_score_adj");
    if (!now.ok()) return std::nullopt;
    return std::atoi(now->c_str());
}

// The supervisor's own OOM score adjustment while a child being cloned borrows it (see below).
std::optional<int> g_lent_oom_score;

void take_back_lent_oom_score() {
    // Back up to our own value is always allowed: never below the minimum we set (oom_score_adj_min).
    if (g_lent_oom_score) (void)write_file("/proc/self/oom_score_adj", std::to_string(*g_lent_oom_score));
    g_lent_oom_score.reset();
}

// The controllers the limits need: {v2 name, v1 name}.
std::vector<std::pair<std::string, std::string>> wanted_controllers(const Resources& r) {
    std::vector<std::pair<std::string, std::string>> wanted;
    if (r.memory_max || r.memory_high || r.memory_swap_max) wanted.push_back({"memory", "memory"});
    if (r.cpu_weight || r.cpu_quota_percent) wanted.push_back({"cpu", "cpu"});
    if (r.pids_max) wanted.push_back({"pids", "pids"});
    if (r.io_weight) wanted.push_back({"io", "blkio"});
    return wanted;
}

// The controllers the unified hierarchy offers at `root` (on hybrid hosts, those no v1 hierarchy holds).
std::set<std::string> v2_controllers(const std::string& root) {
    auto available = read_file(root + "/cgroup.controllers");
    return available.ok() ? words(*available) : std::set<std::string>{};
}

}  // namespace

// The child runs in the machine's user namespace, where it may neither raise a hard limit nor lower its
// OOM score adjustment (CAP_SYS_RESOURCE counts only in the initial namespace), and may not even write
// its own oom_score_adj (after its credentials changed, /proc/self belongs to the host's root). So the
// supervisor, which may, prepares itself before the clone and the child inherits: hard limits are raised
// (the supervisor's soft limits stay; the child sets the exact values), and the OOM score adjustment is
// lent to the child, taken back right after the clone (take_back_oom_score). Best effort: what fails
// here fails in the child with a message, and what needs a privilege we lack was refused in the plan.
void prepare_process_limits(const Resources& r) {
    for (auto& l : r.rlimits) {
        rlimit now{};
        rlim_t want = l.resource == RLIMIT_NOFILE ? std::min<rlim_t>(l.hard, nofile_max()) : l.hard;
        if (::getrlimit(l.resource, &now) == 0 && want > now.rlim_max) {
            now.rlim_max = want;
            (void)::setrlimit(l.resource, &now);
        }
    }
    auto own = own_oom_score();
    if (r.oom_score_adjust && own && *own != *r.oom_score_adjust &&
        write_file("/proc/self/oom_score_adj", std::to_string(*r.oom_score_adjust)).ok() && !g_lent_oom_score)
        g_lent_oom_score = *own;
}

namespace resources_detail {

rlim_t nofile_max() {
    auto nr_open = read_file("/proc/sys/fs/nr_open");
    rlim_t max = nr_open.ok() ? std::strtoull(nr_open->c_str(), nullptr, 10) : 0;
    return max ? max : 1024 * 1024;
}

}  // namespace resources_detail

Result<ResourceCgroups> configure_cgroup_limits(const Resources& r, const Cgroup& machine, const std::string& name) {
    ResourceCgroups rc;
    if (machine.empty()) return rc;
    // What a supervisor of this machine killed by SIGKILL left behind (we hold the machine's lock; its
    // guest died with it).
    auto mounts = v1_mounts();
    for (auto& [ctrl, mount] : mounts) {
        std::string stale = machine_v1_cgroup(mount, name);
        if (exists(stale) && !v1_populated(stale)) remove_v1_cgroup(stale);
    }
    if (!r.any_cgroup_limit()) return rc;

    auto wanted = wanted_controllers(r);
    const std::string dir = machine.path();
    const std::string root = dir.substr(0, dir.size() - machine.rel().size());
    std::set<std::string> v2 = v2_controllers(root);

    // v2 first: what it writes goes away with the machine's cgroup, so a failure leaves nothing here.
    std::vector<std::pair<std::string, std::string>> v1;
    for (auto& [ctrl, v1name] : wanted) {
        if (!v2.count(ctrl)) {
            v1.push_back({ctrl, v1name});
            continue;
        }
        BERTH_TRY(enable_v2_controller(root, machine.rel(), ctrl));
        BERTH_TRY(write_settings(dir, v2_settings(r, ctrl, dir), name));
    }

    auto undo = [&](const Error& e) -> Result<ResourceCgroups> {
        cleanup_v1_cgroups(rc);
        return e;
    };
    for (auto& [ctrl, v1name] : v1) {
        auto mount = mounts.find(v1name);
        if (mount == mounts.end()) {
            if (ctrl == "io") {
                spdlog::warn("--io-weight ignored: neither the io (v2) nor the blkio (v1) controller is available");
                continue;
            }
            if (ctrl == "pids" && r.pids_max_is_default) continue;  // a default where it can be, no error
            return undo(plain_error(fmt::format("Cannot limit {} of machine \"{}\": the {} controller is available "
                                                "neither in cgroup v2 nor as a cgroup v1 hierarchy",
                                                ctrl, name, ctrl),
                                    EOPNOTSUPP));
        }
        auto made = create_v1_cgroup(mount->second, name);
        if (!made.ok()) return undo(made.error());
        rc.v1_paths.push_back(*made);
        auto settings = v1_settings(r, v1name, *made);
        if (settings.empty()) {  // all of its limits were ignored (and said so)
            remove_v1_cgroup(*made);
            rc.v1_paths.pop_back();
            continue;
        }
        if (auto s = write_settings(*made, settings, name); !s.ok()) return undo(s.error());
    }
    return rc;
}

Status apply_cgroup_limits_live(const Resources& r, const Cgroup& machine, const std::string& name,
                                ResourceCgroups& created) {
    if (machine.empty() || !r.any_cgroup_limit()) return {};
    auto wanted = wanted_controllers(r);
    const std::string dir = machine.path();
    const std::string root = dir.substr(0, dir.size() - machine.rel().size());
    std::set<std::string> v2 = v2_controllers(root);
    auto mounts = v1_mounts();
    for (auto& [ctrl, v1name] : wanted) {
        if (v2.count(ctrl)) {
            BERTH_TRY(enable_v2_controller(root, machine.rel(), ctrl));
            BERTH_TRY(write_settings(dir, v2_settings(r, ctrl, dir), name));
            continue;
        }
        auto mount = mounts.find(v1name);
        if (mount == mounts.end())
            return plain_error(fmt::format("Cannot limit {} of machine \"{}\": the {} controller is available neither "
                                           "in cgroup v2 nor as a cgroup v1 hierarchy",
                                           ctrl, name, ctrl),
                               EOPNOTSUPP);
        std::string base = machines_v1_cgroup(mount->second), v1dir = machine_v1_cgroup(mount->second, name);
        if (!exists(v1dir)) {
            if (::mkdir(base.c_str(), 0755) < 0 && errno != EEXIST)
                return errno_error(fmt::format("Failed to create cgroup {}", base));
            if (::mkdir(v1dir.c_str(), 0755) < 0 && errno != EEXIST)
                return errno_error(fmt::format("Failed to create cgroup {}", v1dir));
            created.v1_paths.push_back(v1dir);
        }
        BERTH_TRY(write_settings(v1dir, v1_settings(r, v1name, v1dir), name));
        // The machine's processes, wherever they are below its unified cgroup; v1 settings apply to the
        // processes in the v1 cgroup only, and children stay where their parent is.
        std::vector<std::string> dirs{dir};
        for (size_t i = 0; i < dirs.size(); i++) {
            auto procs = read_file(dirs[i] + "/cgroup.procs");
            std::istringstream in(procs.ok() ? *procs : "");
            for (pid_t p; in >> p;) (void)write_file(v1dir + "/cgroup.procs", std::to_string(p));
            if (DIR* d = ::opendir(dirs[i].c_str())) {
                while (auto* e = ::readdir(d))
                    if (e->d_type == DT_DIR && e->d_name[0] != '.') dirs.push_back(dirs[i] + "/" + e->d_name);
                ::closedir(d);
            }
        }
    }
    return {};
}

Status configure_v1_cgroups(const ResourceCgroups& rc, pid_t pid) {
    for (auto& dir : rc.v1_paths) {
        auto s = write_file(dir + "/cgroup.procs", std::to_string(pid));
        if (!s.ok())
            return sys_error(s.error().code, fmt::format("Failed to move process {} into cgroup {}", pid, dir));
    }
    return {};
}

void take_back_oom_score() { take_back_lent_oom_score(); }

void cleanup_v1_cgroups(const ResourceCgroups& rc) {
    take_back_oom_score();  // should the clone have failed
    for (auto it = rc.v1_paths.rbegin(); it != rc.v1_paths.rend(); ++it) remove_v1_cgroup(*it);
}

Status apply_userns_limits_in_child(const Resources& r) {
    for (auto& l : r.userns_limits) {
        BERTH_TRY_CTX(write_file("/proc/sys/user/" + l.name, std::to_string(l.value)),
                      "Failed to set the user namespace's limit {} to {}", l.name, l.value);
    }
    return {};
}

Status apply_process_limits_in_child(const Resources& r) {
    for (auto& l : r.rlimits) {
        rlimit v{l.soft, l.hard};
        if (l.resource == RLIMIT_NOFILE) {
            v.rlim_cur = std::min(v.rlim_cur, nofile_max());
            v.rlim_max = std::min(v.rlim_max, nofile_max());
        }
        int err = ::setrlimit(l.resource, &v) < 0 ? errno : 0;
        rlimit now{};
        if (err == EPERM && (l.soft == RLIM_INFINITY || l.hard == RLIM_INFINITY) &&
            ::getrlimit(l.resource, &now) == 0) {
            // Without CAP_SYS_RESOURCE the hard limit cannot rise: "infinity" is then the highest we may have
            // (as systemd's setrlimit_closest() does it). A number we cannot grant stays an error.
            if (l.hard == RLIM_INFINITY) v.rlim_max = std::min(v.rlim_max, now.rlim_max);
            if (l.soft == RLIM_INFINITY) v.rlim_cur = v.rlim_max;
            if (v.rlim_cur <= v.rlim_max) err = ::setrlimit(l.resource, &v) < 0 ? errno : 0;
        }
        if (err)
            return sys_error(err, fmt::format("Failed to set resource limit {} to {}:{}", rlimit_name(l.resource),
                                              limit_text(l.soft, "infinity"), limit_text(l.hard, "infinity")));
    }
    if (r.oom_score_adjust && own_oom_score() != r.oom_score_adjust) {  // usually inherited already
        auto s = write_file("/proc/self/oom_score_adj", std::to_string(*r.oom_score_adjust));
        if (!s.ok())
            return sys_error(s.error().code,
                             fmt::format("Failed to set the OOM score adjustment to {}", *r.oom_score_adjust));
    }
    if (!r.cpu_affinity.empty()) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c : r.cpu_affinity) CPU_SET(c, &set);
        if (::sched_setaffinity(0, sizeof set, &set) < 0) return errno_error("Failed to set the CPU affinity");
    }
    return {};
}

}  // namespace berth
