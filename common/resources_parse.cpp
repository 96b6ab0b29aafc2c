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

constexpr uint64_t kPidMaxLimit = 4194304;  // PID_MAX_LIMIT: pids.max refuses more

// ---- Parsing -------------------------------------------------------------------------------------------

// Each parser says why a value is bad (the caller adds option and value) or stores it.
using Why = std::optional<std::string>;

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
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

// An integer of the settings file as it is, or the text of the command line (or a settings string) parsed.
template <typename Parse>
auto number_or(const OptionValue& v, Parse parse) -> decltype(parse(std::string_view())) {
    if (auto* i = std::get_if<int64_t>(&v)) {
        if (*i < 0) return std::nullopt;
        return static_cast<uint64_t>(*i);
    }
    // A settings file's 2.0 is the number 2; 2.5 is no count of anything.
    if (auto* d = std::get_if<double>(&v)) {
        if (!(*d >= 0 && *d < 9.2e18) || std::floor(*d) != *d) return std::nullopt;
        return static_cast<uint64_t>(*d);
    }
    if (auto* t = std::get_if<std::string>(&v)) return parse(*t);
    return std::nullopt;
}

const char* const kSizeHelp = "expected bytes with an optional K, M, G, T, P or E suffix (1024-based), or \"infinity\"";

Why set_size(std::optional<uint64_t>& out, const OptionValue& v, bool zero_ok) {
    auto n = number_or(v, [](std::string_view t) { return parse_size(t); });
    if (!n) return kSizeHelp;
    if (*n == 0 && !zero_ok) return std::string("must be greater than 0 (\"infinity\" means no limit)");
    out = *n;
    return std::nullopt;
}

Why set_weight(std::optional<uint64_t>& out, const OptionValue& value) {
    auto n = number_or(value, [](std::string_view t) { return parse_uint(t); });
    if (!n || *n < 1 || *n > 10000) return std::string("expected an integer between 1 and 10000 (default 100)");
    out = *n;
    return std::nullopt;
}

Why set_cpu_quota(Resources& r, const OptionValue& value) {
    const std::string help = "expected a percentage of one CPU greater than 0, like \"50%\" or \"200%\"";
    auto* text = std::get_if<std::string>(&value);
    if (!text) return help;
    std::string_view v = *text;
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

Why set_pids_max(Resources& r, const OptionValue& value) {
    auto n = number_or(value, [](std::string_view t) {
        return t == "infinity" || t == "max" ? std::optional<uint64_t>(kInfinity) : parse_uint(t);
    });
    if (n == kInfinity) {
        r.pids_max = kInfinity;
        return std::nullopt;
    }
    if (!n || *n < 1 || *n > kPidMaxLimit)
        return fmt::format("expected a number of tasks between 1 and {}, or \"infinity\"", kPidMaxLimit);
    r.pids_max = *n;
    return std::nullopt;
}

Why set_cpu_affinity(Resources& r, const OptionValue& value) {
    const std::string help = fmt::format("expected CPU numbers and ranges below {}, like \"0,2-3\"", CPU_SETSIZE);
    std::set<int> cpus;
    if (!std::holds_alternative<int64_t>(value) && !std::holds_alternative<std::string>(value)) return help;
    std::string text = value_text(value);
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

Why set_oom_score_adjust(Resources& r, const OptionValue& value) {
    std::optional<int64_t> n;
    if (auto* i = std::get_if<int64_t>(&value)) n = *i;
    else if (auto* d = std::get_if<double>(&value); d && std::floor(*d) == *d && std::abs(*d) <= 1000) n = static_cast<int64_t>(*d);
    else if (auto* t = std::get_if<std::string>(&value)) n = parse_int(*t);
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

Why set_rlimit(Resources& r, const OptionValue& value) {
    auto* text = std::get_if<std::string>(&value);
    if (!text) return std::string("expected a string NAME=SOFT[:HARD]");
    std::string_view v = *text;
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

// /proc/sys/user/max_NAME of the machine's user namespace. The kernel counts each of them per user of the
// namespace, and all of the machine's together against its root's host uid, the namespace's owner.
constexpr const char* kUserNsLimits[] = {
    "cgroup_namespaces", "fanotify_groups", "fanotify_marks",  "inotify_instances", "inotify_watches",
    "ipc_namespaces",    "mnt_namespaces",  "net_namespaces",  "pid_namespaces",    "time_namespaces",
    "user_namespaces",   "uts_namespaces",
};

Why set_userns_limit(Resources& r, const OptionValue& value) {
    auto* text = std::get_if<std::string>(&value);
    if (!text) return std::string("expected a string NAME=N");
    std::string_view v = *text;
    auto eq = v.find('=');
    if (eq == std::string_view::npos)
        return std::string("expected NAME=N, like \"inotify_instances=64\"");
    std::string name(v.substr(0, eq));
    std::replace(name.begin(), name.end(), '-', '_');
    if (name.rfind("max_", 0) == 0) name.erase(0, 4);
    bool known = false;
    for (auto* k : kUserNsLimits) known = known || name == k;
    if (!known)
        return std::string("unknown limit name; known: cgroup_namespaces fanotify_groups fanotify_marks "
                           "inotify_instances inotify_watches ipc_namespaces mnt_namespaces net_namespaces "
                           "pid_namespaces time_namespaces user_namespaces uts_namespaces");
    auto n = parse_uint(v.substr(eq + 1));
    if (!n || *n > static_cast<uint64_t>(std::numeric_limits<int>::max()))
        return fmt::format("expected a number between 0 and {}", std::numeric_limits<int>::max());
    name = "max_" + name;
    std::erase_if(r.userns_limits, [&](const UserNsLimit& x) { return x.name == name; });
    r.userns_limits.push_back(UserNsLimit{name, *n});
    return std::nullopt;
}

// The options, by name; settings keys are the same with '_' for '-'.
struct Key {
    const char* name;
    Why (*set)(Resources&, const OptionValue&);
};

constexpr Key kKeys[] = {
    {"memory-max", [](Resources& r, const OptionValue& v) { return set_size(r.memory_max, v, false); }},
    {"memory-high", [](Resources& r, const OptionValue& v) { return set_size(r.memory_high, v, false); }},
    {"memory-swap-max", [](Resources& r, const OptionValue& v) { return set_size(r.memory_swap_max, v, true); }},
    {"cpu-weight", [](Resources& r, const OptionValue& v) { return set_weight(r.cpu_weight, v); }},
    {"cpu-quota", set_cpu_quota},
    {"pids-max", set_pids_max},
    {"io-weight", [](Resources& r, const OptionValue& v) { return set_weight(r.io_weight, v); }},
    {"cpu-affinity", set_cpu_affinity},
    {"oom-score-adjust", set_oom_score_adjust},
    {"rlimit", set_rlimit},
    {"userns-limit", set_userns_limit},
};

Status apply_key(const Key& k, const std::string& label, const OptionValue& value, Resources& r) {
    if (auto why = k.set(r, value))
        return plain_error(fmt::format("Invalid {} \"{}\": {}", label, value_text(value), *why));
    return {};
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

namespace resources_detail {

const char* rlimit_name(int resource) {
    for (auto& l : kRlimits)
        if (l.resource == resource) return l.name;
    return "?";
}

}  // namespace resources_detail

uint64_t default_tasks_max() {
    auto number = [](const char* file) -> uint64_t {
        auto text = read_file(file);
        std::string_view v = text.ok() ? std::string_view(*text) : std::string_view();
        while (!v.empty() && v.back() == '\n') v.remove_suffix(1);
        auto n = parse_uint(v);
        return n.value_or(32768);  // the kernel's default pid_max
    };
    return std::min<uint64_t>(16384, std::min(number("/proc/sys/kernel/pid_max"),
                                              number("/proc/sys/kernel/threads-max")) / 4);
}

bool Resources::any_cgroup_limit() const {
    return memory_max || memory_high || memory_swap_max || cpu_weight || cpu_quota_percent || pids_max || io_weight;
}

Status set_resource(std::string_view name, const OptionValue& value, const std::string& label, Resources& r) {
    for (auto& k : kKeys)
        if (name == k.name) return apply_key(k, label, value, r);
    return plain_error(fmt::format("Unknown resource \"{}\"", name));
}

Status finish_resources(Resources& r) {
    // Checked against this host now, so that the child cannot fail on them after everything is set up.
    cpu_set_t allowed, wanted;
    CPU_ZERO(&wanted);
    for (int c : r.cpu_affinity) CPU_SET(c, &wanted);
    if (!r.cpu_affinity.empty() && ::sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
        for (int c : r.cpu_affinity)
            if (!CPU_ISSET(c, &allowed))
                return plain_error(fmt::format("Invalid --cpu-affinity \"{}\": CPU {} is not available here (CPUs {} "
                                               "are)",
                                               cpu_list(wanted), c, cpu_list(allowed)));
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
    r.tasks_ceiling = r.pids_max ? *r.pids_max : default_tasks_max();
    return {};
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
                                   "oom-score-adjust, rlimit, userns-limit",
                                   name, assignment));
}

}  // namespace berth
