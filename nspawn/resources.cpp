#include "resources.hpp"

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

#include "fileio.hpp"
#include "log.hpp"

namespace berth::nspawn {

namespace {

constexpr uint64_t kInfinity = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kCpuPeriodUs = 100000;  // systemd's default CPUQuotaPeriodSec=100ms
constexpr uint64_t kPidMaxLimit = 4194304;  // PID_MAX_LIMIT: pids.max refuses more
constexpr const char* kV1Base = "berth";

// ---- Parsing -------------------------------------------------------------------------------------------

// Each parser says why a value is bad (the caller adds option and value) or stores it.
using Why = std::optional<std::string>;

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<uint64_t> parse_uint(std::string_view s) {
    uint64_t v = 0;
    if (!all_digits(s)) return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<int64_t> parse_int(std::string_view s) {
    bool neg = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
    auto u = parse_uint(s);
    if (!u || *u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return neg ? -static_cast<int64_t>(*u) : static_cast<int64_t>(*u);
}

// Bytes: digits, an optional fraction, an optional 1024-based suffix (like systemd's parse_size), or
// "infinity".
std::optional<uint64_t> parse_size(std::string_view s) {
    if (s == "infinity") return kInfinity;
    static constexpr std::pair<char, int> kSuffixes[] = {{'K', 10}, {'M', 20}, {'G', 30},
                                                         {'T', 40}, {'P', 50}, {'E', 60}};
    int shift = 0;
    if (!s.empty() && s.back() == 'B') s.remove_suffix(1);
    for (auto [c, sh] : kSuffixes)
        if (!s.empty() && s.back() == c) {
            shift = sh;
            s.remove_suffix(1);
            break;
        }
    std::string_view whole = s, frac;
    if (auto dot = s.find('.'); dot != std::string_view::npos) {
        whole = s.substr(0, dot);
        frac = s.substr(dot + 1);
        if (!all_digits(frac) || shift == 0) return std::nullopt;
        if (frac.size() > 18) frac = frac.substr(0, 18);
    }
    auto w = parse_uint(whole);
    if (!w) return std::nullopt;
    unsigned __int128 v = static_cast<unsigned __int128>(*w) << shift;
    if (!frac.empty()) {
        unsigned __int128 scale = 1;
        for (size_t i = 0; i < frac.size(); i++) scale *= 10;
        v += (static_cast<unsigned __int128>(*parse_uint(frac)) << shift) / scale;
    }
    if (v >= kInfinity) return std::nullopt;
    return static_cast<uint64_t>(v);
}

const char* const kSizeHelp = "expected bytes with an optional K, M, G, T, P or E suffix (1024-based), or \"infinity\"";

Why set_size(std::optional<uint64_t>& out, std::string_view v, bool zero_ok) {
    auto n = parse_size(v);
    if (!n) return kSizeHelp;
    if (*n == 0 && !zero_ok) return std::string("must be greater than 0 (\"infinity\" means no limit)");
    out = *n;
    return std::nullopt;
}

Why set_weight(std::optional<uint64_t>& out, std::string_view v) {
    auto n = parse_uint(v);
    if (!n || *n < 1 || *n > 10000) return std::string("expected an integer between 1 and 10000 (default 100)");
    out = *n;
    return std::nullopt;
}

Why set_cpu_quota(Resources& r, std::string_view v) {
    const std::string help = "expected a percentage of one CPU greater than 0, like \"50%\" or \"200%\"";
    if (v == "infinity") {
        r.cpu_quota_percent = std::numeric_limits<double>::infinity();
        return std::nullopt;
    }
    if (v.empty() || v.back() != '%') return help;
    v.remove_suffix(1);
    auto dot = v.find('.');
    if (!all_digits(v.substr(0, dot)) || (dot != std::string_view::npos && !all_digits(v.substr(dot + 1))))
        return help;
    double p = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), p);
    if (ec != std::errc() || end != v.data() + v.size() || !(p > 0)) return help;
    if (p > 1000000) return std::string("must not exceed 1000000%");
    r.cpu_quota_percent = p;
    return std::nullopt;
}

Why set_pids_max(Resources& r, std::string_view v) {
    if (v == "infinity" || v == "max") {
        r.pids_max = kInfinity;
        return std::nullopt;
    }
    auto n = parse_uint(v);
    if (!n || *n < 1 || *n > kPidMaxLimit)
        return fmt::format("expected a number of tasks between 1 and {}, or \"infinity\"", kPidMaxLimit);
    r.pids_max = *n;
    return std::nullopt;
}

Why set_cpu_affinity(Resources& r, std::string_view v) {
    const std::string help = fmt::format("expected CPU numbers and ranges below {}, like \"0,2-3\"", CPU_SETSIZE);
    std::set<int> cpus;
    std::string text(v);
    std::replace(text.begin(), text.end(), ',', ' ');
    std::istringstream in(text);
    for (std::string item; in >> item;) {
        auto dash = item.find('-');
        auto lo = parse_uint(std::string_view(item).substr(0, dash));
        auto hi = dash == std::string::npos ? lo : parse_uint(std::string_view(item).substr(dash + 1));
        if (!lo || !hi || *lo > *hi || *hi >= CPU_SETSIZE) return help;
        for (uint64_t c = *lo; c <= *hi; c++) cpus.insert(static_cast<int>(c));
    }
    if (cpus.empty()) return help;
    r.cpu_affinity.assign(cpus.begin(), cpus.end());
    return std::nullopt;
}

Why set_oom_score_adjust(Resources& r, std::string_view v) {
    auto n = parse_int(v);
    if (!n || *n < -1000 || *n > 1000) return std::string("expected an integer between -1000 and 1000");
    r.oom_score_adjust = static_cast<int>(*n);
    return std::nullopt;
}

enum class LimitUnit { Count, Bytes, Nice };

struct RlimitName {
    const char* name;
    int resource;
    LimitUnit unit;
};

constexpr RlimitName kRlimits[] = {
    {"CPU", RLIMIT_CPU, LimitUnit::Count},           {"FSIZE", RLIMIT_FSIZE, LimitUnit::Bytes},
    {"DATA", RLIMIT_DATA, LimitUnit::Bytes},         {"STACK", RLIMIT_STACK, LimitUnit::Bytes},
    {"CORE", RLIMIT_CORE, LimitUnit::Bytes},         {"RSS", RLIMIT_RSS, LimitUnit::Bytes},
    {"NOFILE", RLIMIT_NOFILE, LimitUnit::Count},     {"AS", RLIMIT_AS, LimitUnit::Bytes},
    {"NPROC", RLIMIT_NPROC, LimitUnit::Count},       {"MEMLOCK", RLIMIT_MEMLOCK, LimitUnit::Bytes},
    {"LOCKS", RLIMIT_LOCKS, LimitUnit::Count},       {"SIGPENDING", RLIMIT_SIGPENDING, LimitUnit::Count},
    {"MSGQUEUE", RLIMIT_MSGQUEUE, LimitUnit::Bytes}, {"NICE", RLIMIT_NICE, LimitUnit::Nice},
    {"RTPRIO", RLIMIT_RTPRIO, LimitUnit::Count},     {"RTTIME", RLIMIT_RTTIME, LimitUnit::Count},
};

const RlimitName* find_rlimit(std::string name) {
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
    if (name.rfind("RLIMIT_", 0) == 0) name.erase(0, 7);
    for (auto& l : kRlimits)
        if (name == l.name) return &l;
    return nullptr;
}

const char* rlimit_name(int resource) {
    for (auto& l : kRlimits)
        if (l.resource == resource) return l.name;
    return "?";
}

std::optional<uint64_t> parse_limit_value(std::string_view v, LimitUnit unit) {
    if (v == "infinity") return RLIM_INFINITY;
    if (unit == LimitUnit::Bytes) return parse_size(v);
    if (unit == LimitUnit::Nice && !v.empty() && (v[0] == '-' || v[0] == '+')) {
        // A nice level, as systemd takes it: RLIMIT_NICE counts 20 - nice.
        auto n = parse_int(v);
        if (!n || *n < -20 || *n > 19) return std::nullopt;
        return static_cast<uint64_t>(20 - *n);
    }
    auto n = parse_uint(v);
    if (n && unit == LimitUnit::Nice && *n > 40) return std::nullopt;
    return n;
}

Why set_rlimit(Resources& r, std::string_view v) {
    auto eq = v.find('=');
    if (eq == std::string_view::npos)
        return std::string("expected NAME=SOFT[:HARD], like \"NOFILE=1024:4096\" or \"NOFILE=infinity\"");
    auto* l = find_rlimit(std::string(v.substr(0, eq)));
    if (!l)
        return std::string("unknown limit name; known: CPU FSIZE DATA STACK CORE RSS NOFILE AS NPROC MEMLOCK LOCKS "
                           "SIGPENDING MSGQUEUE NICE RTPRIO RTTIME");
    std::string_view vals = v.substr(eq + 1);
    auto colon = vals.find(':');
    auto soft = parse_limit_value(vals.substr(0, colon), l->unit);
    auto hard = colon == std::string_view::npos ? soft : parse_limit_value(vals.substr(colon + 1), l->unit);
    if (!soft || !hard) {
        switch (l->unit) {
            case LimitUnit::Bytes: return fmt::format("{} takes sizes: {}", l->name, kSizeHelp);
            case LimitUnit::Nice:
                return std::string("NICE takes 0..40, or a nice level -20..19 with its sign, or \"infinity\"");
            default: return fmt::format("{} takes non-negative integers or \"infinity\"", l->name);
        }
    }
    if (*soft > *hard) return std::string("the soft limit exceeds the hard limit");
    std::erase_if(r.rlimits, [&](const Rlimit& x) { return x.resource == l->resource; });
    r.rlimits.push_back(Rlimit{l->resource, *soft, *hard});
    return std::nullopt;
}

// The options, by name; settings keys are the same with '_' for '-'.
struct Key {
    const char* name;
    Why (*set)(Resources&, std::string_view);
};

constexpr Key kKeys[] = {
    {"memory-max", [](Resources& r, std::string_view v) { return set_size(r.memory_max, v, false); }},
    {"memory-high", [](Resources& r, std::string_view v) { return set_size(r.memory_high, v, false); }},
    {"memory-swap-max", [](Resources& r, std::string_view v) { return set_size(r.memory_swap_max, v, true); }},
    {"cpu-weight", [](Resources& r, std::string_view v) { return set_weight(r.cpu_weight, v); }},
    {"cpu-quota", set_cpu_quota},
    {"pids-max", set_pids_max},
    {"io-weight", [](Resources& r, std::string_view v) { return set_weight(r.io_weight, v); }},
    {"cpu-affinity", set_cpu_affinity},
    {"oom-score-adjust", set_oom_score_adjust},
    {"rlimit", set_rlimit},
};

Status apply_key(const Key& k, const std::string& label, const std::string& value, Resources& r) {
    if (auto why = k.set(r, value)) return plain_error(fmt::format("Invalid {} \"{}\": {}", label, value, *why));
    return {};
}

const Key& key(std::string_view name) {
    for (auto& k : kKeys)
        if (name == k.name) return k;
    std::abort();  // only called with names from the table
}

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

std::string limit_text(uint64_t v, const char* infinity) { return v == kInfinity ? infinity : std::to_string(v); }

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
    std::string base = mount + "/" + kV1Base, dir = base + "/" + name;
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
std::string cpu_list(const cpu_set_t& set) {
    std::string out;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set)) continue;
        int last = c;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) last++;
        out += (out.empty() ? "" : ",") + (last == c ? std::to_string(c) : fmt::format("{}-{}", c, last));
        c = last;
    }
    return out;
}

// The kernel refuses more open files than fs.nr_open, RLIM_INFINITY included.
rlim_t nofile_max() {
    auto nr_open = read_file("/proc/sys/fs/nr_open");
    rlim_t max = nr_open.ok() ? std::strtoull(nr_open->c_str(), nullptr, 10) : 0;
    return max ? max : 1024 * 1024;
}

std::optional<int> own_oom_score() {
    auto now = read_file("/proc/self/oom_score_adj");
    if (!now.ok()) return std::nullopt;
    return std::atoi(now->c_str());
}

// The supervisor's own OOM score adjustment while a child being cloned borrows it (see below).
std::optional<int> g_lent_oom_score;

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

void take_back_lent_oom_score() {
    // Back up to our own value is always allowed: never below the minimum we set (oom_score_adj_min).
    if (g_lent_oom_score) (void)write_file("/proc/self/oom_score_adj", std::to_string(*g_lent_oom_score));
    g_lent_oom_score.reset();
}

// Raising a hard rlimit or lowering the OOM score adjustment needs CAP_SYS_RESOURCE (in the initial user
// namespace); without it, say so before anything is created rather than fail in the child.
bool have_cap_sys_resource() {
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2]{};
    if (::syscall(SYS_capget, &h, d) < 0) return true;  // let the child find out
    return d[CAP_SYS_RESOURCE / 32].effective & (1u << (CAP_SYS_RESOURCE % 32));
}

Status check_privilege(const Resources& r) {
    if (have_cap_sys_resource()) return {};
    if (r.oom_score_adjust) {
        auto now = read_file("/proc/self/oom_score_adj");
        if (now.ok() && *r.oom_score_adjust < std::atoi(now->c_str()))
            return plain_error(fmt::format("Cannot apply --oom-score-adjust \"{}\": lowering it below {} needs "
                                           "CAP_SYS_RESOURCE",
                                           *r.oom_score_adjust, std::atoi(now->c_str())),
                               EPERM);
    }
    for (auto& l : r.rlimits) {
        rlimit now{};
        if (l.hard != RLIM_INFINITY && ::getrlimit(l.resource, &now) == 0 && l.hard > now.rlim_max)
            return plain_error(fmt::format("Cannot apply --rlimit \"{}={}:{}\": raising the hard limit above {} "
                                           "needs CAP_SYS_RESOURCE",
                                           rlimit_name(l.resource), l.soft, l.hard,
                                           limit_text(now.rlim_max, "infinity")),
                               EPERM);
    }
    return {};
}

}  // namespace

bool Resources::any_cgroup_limit() const {
    return memory_max || memory_high || memory_swap_max || cpu_weight || cpu_quota_percent || pids_max || io_weight;
}

Result<Resources> parse_resources(const Options& o) {
    Resources r;
    auto one = [&](const char* name, const std::optional<std::string>& v) -> Status {
        return v ? apply_key(key(name), fmt::format("--{}", name), *v, r) : Status{};
    };
    BERTH_TRY(one("memory-max", o.memory_max));
    BERTH_TRY(one("memory-high", o.memory_high));
    BERTH_TRY(one("memory-swap-max", o.memory_swap_max));
    BERTH_TRY(one("cpu-weight", o.cpu_weight));
    BERTH_TRY(one("cpu-quota", o.cpu_quota));
    BERTH_TRY(one("pids-max", o.pids_max));
    BERTH_TRY(one("io-weight", o.io_weight));
    BERTH_TRY(one("cpu-affinity", o.cpu_affinity));
    BERTH_TRY(one("oom-score-adjust", o.oom_score_adjust));
    for (auto& l : o.rlimit.value_or(std::vector<std::string>{})) BERTH_TRY(apply_key(key("rlimit"), "--rlimit", l, r));

    // Checked against this host now, so that the child cannot fail on them after everything is set up.
    cpu_set_t allowed;
    if (!r.cpu_affinity.empty() && ::sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
        for (int c : r.cpu_affinity)
            if (!CPU_ISSET(c, &allowed))
                return plain_error(fmt::format("Invalid --cpu-affinity \"{}\": CPU {} is not available here (CPUs {} "
                                               "are)",
                                               *o.cpu_affinity, c, cpu_list(allowed)));
    }
    for (auto& l : r.rlimits) {
        if (l.resource != RLIMIT_NOFILE || l.hard == RLIM_INFINITY) continue;
        uint64_t max = nofile_max();
        if (l.hard > max)
            return plain_error(fmt::format("Invalid --rlimit NOFILE={}:{}: more than the kernel allows ({}, "
                                           "/proc/sys/fs/nr_open)",
                                           l.soft, l.hard, max));
    }
    BERTH_TRY(check_privilege(r));
    return r;
}

Status parse_resource_assignment(const std::string& assignment, Resources& r) {
    auto eq = assignment.find('=');
    std::string name = assignment.substr(0, eq);
    std::replace(name.begin(), name.end(), '_', '-');
    for (auto& k : kKeys)
        if (eq != std::string::npos && name == k.name) return apply_key(k, name, assignment.substr(eq + 1), r);
    if (eq == std::string::npos)
        return plain_error(fmt::format("Invalid resource assignment \"{}\": expected KEY=VALUE", assignment));
    return plain_error(fmt::format("Unknown resource \"{}\" in \"{}\": known are memory-max, memory-high, "
                                   "memory-swap-max, cpu-weight, cpu-quota, pids-max, io-weight, cpu-affinity, "
                                   "oom-score-adjust, rlimit",
                                   name, assignment));
}

Result<ResourceCgroups> apply_cgroup_limits(const Resources& r, const Cgroup& machine, const std::string& name) {
    prepare_process_limits(r);
    ResourceCgroups rc;
    if (machine.empty()) return rc;
    // What a supervisor of this machine killed by SIGKILL left behind (we hold the machine's lock; its
    // guest died with it).
    auto mounts = v1_mounts();
    for (auto& [ctrl, mount] : mounts) {
        std::string stale = fmt::format("{}/{}/{}", mount, kV1Base, name);
        if (exists(stale) && !v1_populated(stale)) remove_v1_cgroup(stale);
    }
    if (!r.any_cgroup_limit()) return rc;

    // The v2 controller names, and what each is called in v1.
    std::vector<std::pair<std::string, std::string>> wanted;
    if (r.memory_max || r.memory_high || r.memory_swap_max) wanted.push_back({"memory", "memory"});
    if (r.cpu_weight || r.cpu_quota_percent) wanted.push_back({"cpu", "cpu"});
    if (r.pids_max) wanted.push_back({"pids", "pids"});
    if (r.io_weight) wanted.push_back({"io", "blkio"});

    const std::string dir = machine.path();
    const std::string root = dir.substr(0, dir.size() - machine.rel().size());
    auto available = read_file(root + "/cgroup.controllers");
    std::set<std::string> v2 = available.ok() ? words(*available) : std::set<std::string>{};

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
        remove_v1_cgroups(rc);
        return e;
    };
    for (auto& [ctrl, v1name] : v1) {
        auto mount = mounts.find(v1name);
        if (mount == mounts.end()) {
            if (ctrl == "io") {
                spdlog::warn("--io-weight ignored: neither the io (v2) nor the blkio (v1) controller is available");
                continue;
            }
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

Result<ResourceCgroups> apply_cgroup_limits_live(const Resources& r, const Cgroup& machine, const std::string& name) {
    ResourceCgroups created;
    if (machine.empty() || !r.any_cgroup_limit()) return created;
    std::vector<std::pair<std::string, std::string>> wanted;
    if (r.memory_max || r.memory_high || r.memory_swap_max) wanted.push_back({"memory", "memory"});
    if (r.cpu_weight || r.cpu_quota_percent) wanted.push_back({"cpu", "cpu"});
    if (r.pids_max) wanted.push_back({"pids", "pids"});
    if (r.io_weight) wanted.push_back({"io", "blkio"});

    const std::string dir = machine.path();
    const std::string root = dir.substr(0, dir.size() - machine.rel().size());
    auto available = read_file(root + "/cgroup.controllers");
    std::set<std::string> v2 = available.ok() ? words(*available) : std::set<std::string>{};
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
        std::string base = mount->second + "/" + kV1Base, v1dir = base + "/" + name;
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
    return created;
}

Status attach_v1_cgroups(const ResourceCgroups& rc, pid_t pid) {
    for (auto& dir : rc.v1_paths) {
        auto s = write_file(dir + "/cgroup.procs", std::to_string(pid));
        if (!s.ok())
            return sys_error(s.error().code, fmt::format("Failed to move process {} into cgroup {}", pid, dir));
    }
    return {};
}

void take_back_oom_score() { take_back_lent_oom_score(); }

void remove_v1_cgroups(const ResourceCgroups& rc) {
    take_back_oom_score();  // should the clone have failed
    for (auto it = rc.v1_paths.rbegin(); it != rc.v1_paths.rend(); ++it) remove_v1_cgroup(*it);
}

Status apply_process_limits(const Resources& r) {
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

}  // namespace berth::nspawn
