#include "nspawn/seccomp.hpp"

#include <linux/seccomp.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>
#include <string_view>

#include "common/fd.hpp"
#include "common/seccomp_record.hpp"
#include "common/values.hpp"
#include "nspawn/caps.hpp"

namespace berth::nspawn {

namespace {

constexpr int kAlways = -1;  // no capability allows the call: only --system-call-filter=NAME does

// The deny list: each call fails with EPERM unless its capability was granted (kAlways: never by default).
struct Denied {
    const char* name;
    int capability;
};
constexpr Denied kDenied[] = {
    // Kernel modules.
    {"init_module", CAP_SYS_MODULE}, {"finit_module", CAP_SYS_MODULE}, {"delete_module", CAP_SYS_MODULE},
    // CAP_SYS_BOOT stays in the default set (reboot() ends the machine), so kexec needs an explicit allow.
    {"kexec_load", kAlways}, {"kexec_file_load", kAlways},
    // CAP_DAC_READ_SEARCH is a default too, and open_by_handle_at walks out of any chroot.
    {"open_by_handle_at", kAlways},
    // Neither CAP_BPF nor CAP_PERFMON is a default: granting one allows its call.
    {"bpf", CAP_BPF}, {"perf_event_open", CAP_PERFMON},
    {"iopl", CAP_SYS_RAWIO}, {"ioperm", CAP_SYS_RAWIO},
    {"pciconfig_iobase", CAP_SYS_RAWIO}, {"pciconfig_read", CAP_SYS_RAWIO}, {"pciconfig_write", CAP_SYS_RAWIO},
    // The host's swap and quotas (CAP_SYS_ADMIN is a default, so these need an explicit allow).
    {"swapon", kAlways}, {"swapoff", kAlways}, {"quotactl", kAlways}, {"quotactl_fd", kAlways},
    // The clock is not namespaced.
    {"clock_settime", CAP_SYS_TIME}, {"clock_settime64", CAP_SYS_TIME}, {"clock_adjtime", CAP_SYS_TIME},
    {"clock_adjtime64", CAP_SYS_TIME}, {"settimeofday", CAP_SYS_TIME}, {"adjtimex", CAP_SYS_TIME},
    {"stime", CAP_SYS_TIME},
    {"syslog", CAP_SYSLOG},
    {"acct", CAP_SYS_PACCT},
    // With CAP_SYS_ADMIN (a default) a filesystem-wide mark watches, and hands out descriptors of, the host's
    // files on the filesystem the image lives on.
    {"fanotify_init", kAlways},
    // The kernel keyring is not namespaced either.
    {"keyctl", kAlways}, {"add_key", kAlways}, {"request_key", kAlways},
    // Obsolete calls: unused by anything current, some of them old attack surface.
    {"_sysctl", kAlways}, {"afs_syscall", kAlways}, {"bdflush", kAlways}, {"break", kAlways},
    {"create_module", kAlways}, {"ftime", kAlways}, {"get_kernel_syms", kAlways}, {"getpmsg", kAlways},
    {"gtty", kAlways}, {"idle", kAlways}, {"lock", kAlways}, {"lookup_dcookie", kAlways}, {"mpx", kAlways},
    {"nfsservctl", kAlways}, {"prof", kAlways}, {"profil", kAlways}, {"putpmsg", kAlways},
    {"query_module", kAlways}, {"security", kAlways}, {"stty", kAlways}, {"sysfs", kAlways},
    {"tuxcall", kAlways}, {"ulimit", kAlways}, {"uselib", kAlways}, {"ustat", kAlways}, {"vserver", kAlways},
    {"vm86", kAlways}, {"vm86old", kAlways},
};

// Groups for --system-call-filter=, named as systemd names them.
struct Group {
    std::string_view name;
    std::vector<std::string_view> calls;
};
const Group kGroups[] = {
    {"@clock", {"adjtimex", "clock_adjtime", "clock_adjtime64", "clock_settime", "clock_settime64", "settimeofday",
                "stime"}},
    {"@debug", {"lookup_dcookie", "perf_event_open", "pidfd_getfd", "ptrace", "rtas", "s390_runtime_instr",
                "sys_debug_setcontext"}},
    {"@keyring", {"add_key", "keyctl", "request_key"}},
    {"@module", {"delete_module", "finit_module", "init_module"}},
    {"@obsolete", {"_sysctl", "afs_syscall", "bdflush", "break", "create_module", "ftime", "get_kernel_syms",
                   "getpmsg", "gtty", "idle", "lock", "mpx", "prof", "profil", "putpmsg", "query_module",
                   "security", "sgetmask", "ssetmask", "stime", "stty", "sysfs", "tuxcall", "ulimit", "uselib",
                   "ustat", "vserver"}},
    {"@raw-io", {"ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write", "s390_mmio_read",
                 "s390_mmio_write"}},
    {"@reboot", {"kexec_file_load", "kexec_load", "reboot"}},
    {"@swap", {"swapoff", "swapon"}},
};

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

uint64_t all_capabilities() {
    int bits = std::min(static_cast<int>(cap_max_bits()), 64);
    return bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
}

}  // namespace

Result<uint64_t> parse_capabilities(const std::string& value, const char* option) {
    uint64_t mask = 0;
    size_t i = 0;
    do {
        size_t j = value.find(',', i);
        if (j == std::string::npos) j = value.size();
        std::string word = trim(std::string_view(value).substr(i, j - i));
        i = j + 1;
        std::string name = lower(word);
        if (name == "all") {
            mask |= all_capabilities();
            continue;
        }
        if (name.rfind("cap_", 0) != 0) name = "cap_" + name;
        cap_value_t cap = -1;
        // Only names: libcap would take a bare number too.
        bool known = !word.empty() && !std::isdigit(static_cast<unsigned char>(word[0])) &&
                     cap_from_name(name.c_str(), &cap) == 0 && cap >= 0 && cap < 64 &&
                     cap < static_cast<cap_value_t>(cap_max_bits());
        if (!known)
            return plain_error(fmt::format("Unknown capability \"{}\" in {}={}", word, option, value));
        mask |= uint64_t{1} << cap;
    } while (i <= value.size());
    return mask;
}

namespace {

bool known_syscall(const std::string& name) { return seccomp_syscall_resolve_name(name.c_str()) != __NR_SCMP_ERROR; }

// One --system-call-filter= value: a space-separated list, all denied when it starts with '~' (as in
// systemd), single entries denied with their own '~'. Later entries win over earlier ones.
Status parse_filter(const std::string& value, Privileges& p) {
    std::string_view rest = value;
    bool deny_all = false;
    while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front()))) rest.remove_prefix(1);
    if (!rest.empty() && rest.front() == '~') {
        deny_all = true;
        rest.remove_prefix(1);
    }
    std::vector<std::string> words;
    for (size_t i = 0; i < rest.size();) {
        size_t j = i;
        while (j < rest.size() && !std::isspace(static_cast<unsigned char>(rest[j]))) j++;
        if (j > i) words.emplace_back(rest.substr(i, j - i));
        i = j + 1;
    }
    if (words.empty())
        return plain_error(fmt::format("Empty system call list in --system-call-filter={}", value));
    for (auto& word : words) {
        bool deny = deny_all;
        std::string name = word;
        if (name[0] == '~') {
            deny = true;
            name.erase(0, 1);
        }
        std::vector<std::string> calls;
        if (!name.empty() && name[0] == '@') {
            auto g = std::find_if(std::begin(kGroups), std::end(kGroups), [&](const Group& g) { return g.name == name; });
            if (g == std::end(kGroups))
                return plain_error(fmt::format("Unknown system call group \"{}\" in --system-call-filter={}", name,
                                               value));
            for (auto c : g->calls) calls.emplace_back(c);
        } else {
            if (name.empty() || !known_syscall(name))
                return plain_error(fmt::format("Unknown system call \"{}\" in --system-call-filter={}", name, value));
            calls.push_back(name);
        }
        for (auto& c : calls) {
            std::erase(p.syscall_allow, c);
            std::erase(p.syscall_deny, c);
            (deny ? p.syscall_deny : p.syscall_allow).push_back(c);
        }
    }
    return {};
}

struct FilterDeleter {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

Error seccomp_error(int r, const std::string& what) { return sys_error(-r, what); }

// Compat ABIs a process of this architecture can enter: their calls must hit the same rules.
std::vector<uint32_t> compat_arches() {
    switch (seccomp_arch_native()) {
        case SCMP_ARCH_X86_64: return {SCMP_ARCH_X86, SCMP_ARCH_X32};
        case SCMP_ARCH_AARCH64: return {SCMP_ARCH_ARM};
        case SCMP_ARCH_S390X: return {SCMP_ARCH_S390};
        default: return {};
    }
}

}  // namespace

Status add_system_call_filter(const std::string& value, Privileges& p) { return parse_filter(value, p); }

void finish_privileges(Privileges& p, uint64_t added, uint64_t dropped, bool private_network) {
    p.capabilities = (default_capabilities(private_network) | added) & ~dropped;
}

std::set<std::string> denied_calls(const Privileges& p) {
    std::set<std::string> deny;
    for (auto& d : kDenied)
        if (d.capability == kAlways || !(p.capabilities & (uint64_t{1} << d.capability))) deny.insert(d.name);
    for (auto& a : p.syscall_allow) deny.erase(a);
    for (auto& d : p.syscall_deny) deny.insert(d);
    return deny;
}

// The build embeds the program of the default privileges (seccomp_builtin.cpp, generated by
// berth-seccomp-gen with this very code): starts that deny exactly those calls skip the compiler, which
// costs more than half a millisecond. Programs without it (tests, the generator) find none here.
__attribute__((weak)) const BuiltinSeccomp* builtin_seccomp() { return nullptr; }

Result<SeccompProgram> prepare_seccomp(const Privileges& p) {
    std::set<std::string> deny = denied_calls(p);
    if (const BuiltinSeccomp* b = builtin_seccomp()) {
        if (std::equal(deny.begin(), deny.end(), b->denied.begin(), b->denied.end()))
            return SeccompProgram{std::vector<sock_filter>(b->code.begin(), b->code.end())};
    }
    return compile_denied(deny);
}

Result<SeccompProgram> compile_denied(const std::set<std::string>& deny) {
    Filter ctx(seccomp_init(SCMP_ACT_ALLOW));
    if (!ctx) return plain_error("Failed to create the system call filter", ENOMEM);
    for (uint32_t arch : compat_arches()) {
        int r = seccomp_arch_add(ctx.get(), arch);
        if (r < 0 && r != -EEXIST) return seccomp_error(r, "Failed to add an architecture to the system call filter");
    }
    for (auto& name : deny) {
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr == __NR_SCMP_ERROR) continue;  // a group member this libseccomp does not know
        // Not _exact: a call that is missing on one of the architectures is skipped there.
        int r = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0);
        if (r < 0 && r != -EDOM)
            return seccomp_error(r, fmt::format("Failed to add {} to the system call filter", name));
    }

    UniqueFd mem(::memfd_create("berth-seccomp", MFD_CLOEXEC));
    if (!mem) return errno_error("Failed to create a memory file for the system call filter");
    if (int r = seccomp_export_bpf(ctx.get(), mem.get()); r < 0)
        return seccomp_error(r, "Failed to export the system call filter");
    off_t size = ::lseek(mem.get(), 0, SEEK_END);
    if (size < 0 || size % sizeof(sock_filter) != 0)
        return plain_error("The exported system call filter has an odd size", EIO);
    SeccompProgram prog;
    prog.code.resize(size / sizeof(sock_filter));
    if (::pread(mem.get(), prog.code.data(), size, 0) != size)
        return errno_error("Failed to read back the system call filter");
    return prog;
}

RecordedSeccomp& RecordedSeccomp::operator=(RecordedSeccomp&& o) noexcept {
    if (this != &o) {
        if (!machine_.empty()) remove_seccomp_record(machine_);
        machine_ = std::exchange(o.machine_, {});
    }
    return *this;
}

RecordedSeccomp::~RecordedSeccomp() {
    if (!machine_.empty()) remove_seccomp_record(machine_);
}

Result<RecordedSeccomp> configure_seccomp_record(const std::string& machine, pid_t leader, const SeccompProgram& prog) {
    RecordedSeccomp r;
    if (prog.code.empty()) return r;
    BERTH_TRY_CTX(write_seccomp_record(machine, leader, prog.code),
                  "Failed to record the system call filter of machine \"{}\"", machine);
    r.machine_ = machine;
    return r;
}

Status load_seccomp_in_child(const SeccompProgram& prog, bool no_new_privileges) {
    if (no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return errno_error("Failed to set no_new_privs");
    if (prog.code.empty()) return {};
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(prog.code.size());
    fprog.filter = const_cast<sock_filter*>(prog.code.data());
    if (prog.code.size() > BPF_MAXINSNS) return plain_error("The system call filter is too long", E2BIG);
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
        return errno_error("Failed to load the system call filter");
    return {};
}

}  // namespace berth::nspawn
