// Privileges: capability options, no_new_privs and the system call filter. The filter is also checked by
// what it does: a forked process loads it (with no_new_privs, so no root is needed) and makes calls whose
// result without the filter is not EPERM.
#include <gtest/gtest.h>

#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "nspawn/caps.hpp"
#include "nspawn/options.hpp"
#include "nspawn/seccomp.hpp"

using berth::nspawn::default_capabilities;
using berth::nspawn::load_seccomp_in_child;
using berth::nspawn::Options;
using berth::nspawn::parse_privileges;
using berth::nspawn::prepare_seccomp;
using berth::nspawn::Privileges;
using berth::nspawn::SeccompProgram;
using Strings = std::vector<std::string>;

namespace {

constexpr uint64_t bit(int cap) { return uint64_t{1} << cap; }

bool contains(const Strings& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

Privileges parsed(const Options& o, bool private_network = false) {
    auto p = parse_privileges(o, private_network);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
    return p.ok() ? *p : Privileges{};
}

std::string refused(const Options& o) {
    auto p = parse_privileges(o, false);
    EXPECT_FALSE(p.ok());
    return p.ok() ? "" : p.error().message;
}

SeccompProgram compiled(const Privileges& p) {
    auto prog = prepare_seccomp(p);
    EXPECT_TRUE(prog.ok()) << (prog.ok() ? "" : prog.error().message);
    return prog.ok() ? *prog : SeccompProgram{};
}

// The errno of `call` in a child that loaded `prog` first (0: the call succeeded; -1: the child died).
int errno_under(const SeccompProgram& prog, const std::function<long()>& call) {
    pid_t pid = ::fork();
    if (pid == 0) {
        // A fault kills the child (-1 below), as it does without a sanitizer: AddressSanitizer's handler
        // would turn it into an exit status (86 in tests/sanitize.sh) taken for an errno.
        for (int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) ::signal(s, SIG_DFL);
        if (!load_seccomp_in_child(prog, true).ok()) ::_exit(255);
        errno = 0;
        long r = call();
        ::_exit(r < 0 ? errno : 0);
    }
    int ws = 0;
    ::waitpid(pid, &ws, 0);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

int errno_under(const Privileges& p, const std::function<long()>& call) { return errno_under(compiled(p), call); }

Privileges defaults() { return parsed(Options{}); }

auto* const kBad = reinterpret_cast<void*>(8);  // nothing is mapped there: an allowed call fails with EFAULT

long keyctl_session() { return ::syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0); }
long clock_set_bad() { return ::syscall(SYS_clock_settime, CLOCK_REALTIME, kBad); }

}  // namespace

// --- capabilities ---

TEST(ParsePrivileges, DefaultsAreTheRetainedSetWithoutFilterChanges) {
    auto p = defaults();
    EXPECT_EQ(p.capabilities, default_capabilities(false));
    EXPECT_FALSE(p.no_new_privileges);
    EXPECT_TRUE(p.syscall_allow.empty());
    EXPECT_TRUE(p.syscall_deny.empty());
}

TEST(ParsePrivileges, PrivateNetworkAddsNetAdmin) {
    Options o;
    EXPECT_FALSE(parsed(o, false).capabilities & bit(CAP_NET_ADMIN));
    EXPECT_TRUE(parsed(o, true).capabilities & bit(CAP_NET_ADMIN));
}

TEST(ParsePrivileges, CapabilityNamesTakeAnyCaseWithOrWithoutPrefix) {
    Options o;
    o.set_list("capability", {"CAP_NET_ADMIN,sys_module", "Cap_Sys_Time", " SYSLOG "});
    auto p = parsed(o);
    EXPECT_EQ(p.capabilities,
              default_capabilities(false) | bit(CAP_NET_ADMIN) | bit(CAP_SYS_MODULE) | bit(CAP_SYS_TIME) | bit(CAP_SYSLOG));
}

TEST(ParsePrivileges, CapabilityAllKeepsEveryCapabilityTheKernelKnows) {
    Options o;
    o.set_list("capability", {"all"});
    auto p = parsed(o);
    for (int c : {CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_TIME, CAP_MAC_ADMIN, CAP_SYSLOG, CAP_CHOWN})
        EXPECT_TRUE(p.capabilities & bit(c)) << c;
}

TEST(ParsePrivileges, DroppedCapabilitiesStayDroppedWhateverAddsThem) {
    Options o;
    o.set_list("capability", {"CAP_SYS_MODULE"});
    o.set_list("drop-capability", {"CAP_SYS_MODULE,CAP_SYS_ADMIN", "mknod"});
    auto p = parsed(o);
    EXPECT_EQ(p.capabilities, default_capabilities(false) & ~bit(CAP_SYS_ADMIN) & ~bit(CAP_MKNOD));
}

TEST(ParsePrivileges, DropAllLeavesNothing) {
    Options o;
    o.set_list("drop-capability", {"ALL"});
    EXPECT_EQ(parsed(o, true).capabilities, 0u);
}

TEST(ParsePrivileges, UnknownCapabilityNamesOptionAndValue) {
    Options o;
    o.set_list("capability", {"CAP_CHOWN,CAP_FLY"});
    auto msg = refused(o);
    EXPECT_NE(msg.find("\"CAP_FLY\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("--capability=CAP_CHOWN,CAP_FLY"), std::string::npos) << msg;

    Options d;
    d.set_list("drop-capability", {"12"});  // numbers are not names
    msg = refused(d);
    EXPECT_NE(msg.find("--drop-capability=12"), std::string::npos) << msg;

    Options e;
    e.set_list("capability", {""});
    EXPECT_NE(refused(e).find("--capability="), std::string::npos);
}

// --- no_new_privs ---

TEST(ParsePrivileges, NoNewPrivilegesTakesABoolean) {
    Options o;
    o.set("no-new-privileges", "yes");
    EXPECT_TRUE(parsed(o).no_new_privileges);
    o.set("no-new-privileges", "no");
    EXPECT_FALSE(parsed(o).no_new_privileges);
    o.set("no-new-privileges", "maybe");
    auto msg = refused(o);
    EXPECT_NE(msg.find("--no-new-privileges"), std::string::npos) << msg;
    EXPECT_NE(msg.find("maybe"), std::string::npos) << msg;
}

TEST(LoadSeccomp, EmptyProgramStillSetsNoNewPrivileges) {
    pid_t pid = ::fork();
    if (pid == 0) {
        if (!load_seccomp_in_child(SeccompProgram{}, true).ok()) ::_exit(2);
        ::_exit(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 1);
    }
    int ws = 0;
    ::waitpid(pid, &ws, 0);
    EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

// --- --system-call-filter= ---

TEST(ParsePrivileges, SystemCallFilterAllowsNamesAndDeniesTildeNames) {
    Options o;
    o.set_list("system-call-filter", {"keyctl", "~sethostname"});
    auto p = parsed(o);
    EXPECT_EQ(p.syscall_allow, Strings{"keyctl"});
    EXPECT_EQ(p.syscall_deny, Strings{"sethostname"});
}

TEST(ParsePrivileges, SystemCallFilterListsAreSpaceSeparatedAndALeadingTildeDeniesAll) {
    Options o;
    o.set_list("system-call-filter", {"~uname sethostname", "add_key ~getcpu"});
    auto p = parsed(o);
    EXPECT_TRUE(contains(p.syscall_deny, "uname"));
    EXPECT_TRUE(contains(p.syscall_deny, "sethostname"));
    EXPECT_TRUE(contains(p.syscall_deny, "getcpu"));
    EXPECT_EQ(p.syscall_allow, Strings{"add_key"});
}

TEST(ParsePrivileges, LaterSystemCallFilterEntriesWin) {
    Options o;
    o.set_list("system-call-filter", {"keyctl", "~keyctl", "~uname", "uname"});
    auto p = parsed(o);
    EXPECT_EQ(p.syscall_deny, Strings{"keyctl"});
    EXPECT_EQ(p.syscall_allow, Strings{"uname"});
}

TEST(ParsePrivileges, SystemCallGroupsExpand) {
    Options o;
    o.set_list("system-call-filter", {"@module", "~@clock"});
    auto p = parsed(o);
    for (auto* c : {"init_module", "finit_module", "delete_module"}) EXPECT_TRUE(contains(p.syscall_allow, c)) << c;
    for (auto* c : {"clock_settime", "settimeofday", "adjtimex"}) EXPECT_TRUE(contains(p.syscall_deny, c)) << c;
}

TEST(ParsePrivileges, UnknownSystemCallOrGroupNamesOptionAndValue) {
    Options o;
    o.set_list("system-call-filter", {"~keyctl frobnicate"});
    auto msg = refused(o);
    EXPECT_NE(msg.find("\"frobnicate\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("--system-call-filter=~keyctl frobnicate"), std::string::npos) << msg;

    o.set_list("system-call-filter", {"@everything"});
    msg = refused(o);
    EXPECT_NE(msg.find("\"@everything\""), std::string::npos) << msg;

    o.set_list("system-call-filter", {"~"});
    EXPECT_NE(refused(o).find("--system-call-filter=~"), std::string::npos);
}

// --- the compiled filter ---

TEST(CompileSeccomp, ProducesAProgram) {
    auto prog = compiled(defaults());
    EXPECT_GT(prog.code.size(), 10u);
}

// Each call succeeds or fails with something else than EPERM without a filter, for anyone.
TEST(CompileSeccomp, DefaultFilterDeniesTheKernelInterfacesWithEperm) {
    auto prog = compiled(defaults());
    struct Probe {
        const char* name;
        std::function<long()> call;
        bool needs_root = false;  // the capability check comes first: EPERM for anyone else anyway
    };
    std::vector<Probe> probes = {
        {"keyctl", keyctl_session},
        {"add_key", [] { return ::syscall(SYS_add_key, "", "", nullptr, 0, 0); }},
        {"request_key", [] { return ::syscall(SYS_request_key, "", "", nullptr, 0); }},
        {"clock_settime", clock_set_bad},
        {"clock_adjtime", [] { return ::syscall(SYS_clock_adjtime, CLOCK_REALTIME, kBad); }},
        {"settimeofday", [] { return ::syscall(SYS_settimeofday, kBad, nullptr); }},
        {"adjtimex", [] { return ::syscall(SYS_adjtimex, kBad); }},
        {"perf_event_open", [] { return ::syscall(SYS_perf_event_open, kBad, 0, -1, -1, 0); }},
        {"iopl", [] { return ::syscall(SYS_iopl, 0); }},
        {"ioperm", [] { return ::syscall(SYS_ioperm, 0x80, 1, 0); }},
        {"finit_module", [] { return ::syscall(SYS_finit_module, -1, "", 0); }, true},
        {"open_by_handle_at", [] { return ::syscall(SYS_open_by_handle_at, -1, kBad, 0); }, true},
        {"uselib", [] { return ::syscall(SYS_uselib, kBad); }},
    };
    for (auto& p : probes) {
        if (p.needs_root && ::geteuid() != 0) continue;
        EXPECT_NE(errno_under(SeccompProgram{}, p.call), EPERM) << p.name << " fails without the filter";
        EXPECT_EQ(errno_under(prog, p.call), EPERM) << p.name;
    }
    // Ordinary calls go through.
    EXPECT_EQ(errno_under(prog, [] { return ::syscall(SYS_getpid); }), 0);
    EXPECT_EQ(errno_under(prog, [] { return ::syscall(SYS_uname, kBad); }), EFAULT);
}

TEST(CompileSeccomp, GrantedCapabilityAllowsItsCalls) {
    Options o;
    o.set_list("capability", {"CAP_SYS_TIME"});
    EXPECT_EQ(errno_under(parsed(o), clock_set_bad), EFAULT);
    o.set_list("capability", {"CAP_SYS_RAWIO"});
    EXPECT_NE(errno_under(parsed(o), [] { return ::syscall(SYS_iopl, 0); }), EPERM);  // 0, or ENOSYS
    o.set_list("capability", {"CAP_PERFMON"});
    EXPECT_EQ(errno_under(parsed(o), [] { return ::syscall(SYS_perf_event_open, kBad, 0, -1, -1, 0); }), EFAULT);
}

TEST(CompileSeccomp, CapabilitiesThatAreDefaultsDoNotOpenKeyringOrHandles) {
    Options o;
    o.set_list("capability", {"all"});
    auto prog = compiled(parsed(o));
    EXPECT_EQ(errno_under(prog, keyctl_session), EPERM);
    EXPECT_EQ(errno_under(prog, [] { return ::syscall(SYS_open_by_handle_at, -1, kBad, 0); }), EPERM);
    // Invalid flags: without the filter, root would get EINVAL and nothing happens.
    EXPECT_EQ(errno_under(prog, [] { return ::syscall(SYS_kexec_load, 0, 0, nullptr, 0x8000); }), EPERM);
}

TEST(CompileSeccomp, SystemCallFilterNameAllowsADeniedCall) {
    Options o;
    o.set_list("system-call-filter", {"keyctl"});
    EXPECT_NE(errno_under(parsed(o), keyctl_session), EPERM);
    o.set_list("system-call-filter", {"@clock"});
    EXPECT_EQ(errno_under(parsed(o), clock_set_bad), EFAULT);
}

TEST(CompileSeccomp, SystemCallFilterTildeDeniesAnAllowedCall) {
    Options o;
    o.set_list("system-call-filter", {"~uname"});
    EXPECT_EQ(errno_under(parsed(o), [] { return ::syscall(SYS_uname, kBad); }), EPERM);
}

TEST(CompileSeccomp, DroppingACapabilityDeniesItsCallsAgain) {
    Options o;
    o.set_list("capability", {"CAP_SYS_TIME"});
    o.set_list("drop-capability", {"CAP_SYS_TIME"});
    EXPECT_EQ(errno_under(parsed(o), clock_set_bad), EPERM);
}

#if defined(__x86_64__)
// The 32-bit entry (int $0x80) reaches the same kernel code: the filter covers it too.
TEST(CompileSeccomp, CompatibilityEntryIsFilteredToo) {
    auto i386_keyctl = []() -> long {
        long r;
        asm volatile("int $0x80" : "=a"(r) : "a"(288L), "b"(0L), "c"(-3L), "d"(0L) : "memory", "r8", "r9", "r10", "r11");
        return r < 0 && r > -4096 ? (errno = static_cast<int>(-r), -1) : r;
    };
    int without = errno_under(SeccompProgram{}, i386_keyctl);
    if (without == -1) GTEST_SKIP() << "no 32-bit entry on this kernel";
    EXPECT_NE(without, EPERM);
    EXPECT_EQ(errno_under(compiled(defaults()), i386_keyctl), EPERM);
    // x32: the same call with the x32 bit; without the x32 ABI the kernel says ENOSYS, the filter EPERM.
    EXPECT_EQ(errno_under(compiled(defaults()), [] { return ::syscall(0x40000000 | SYS_keyctl, 0, -3, 0); }), EPERM);
}
#endif

// --- the filter compiled at build time ---

static std::vector<uint64_t> words(const SeccompProgram& p) {
    std::vector<uint64_t> w;
    for (auto& i : p.code) w.push_back((uint64_t{i.code} << 48) | (uint64_t{i.jt} << 40) | (uint64_t{i.jf} << 32) | i.k);
    return w;
}

TEST(BuiltinSeccomp, IsWhatTheCompilerMakesOfTheDefaultPrivileges) {
    const auto* builtin = berth::nspawn::builtin_seccomp();
    ASSERT_NE(builtin, nullptr);
    Privileges p;
    p.capabilities = default_capabilities(false);
    auto deny = berth::nspawn::denied_calls(p);
    EXPECT_TRUE(std::equal(deny.begin(), deny.end(), builtin->denied.begin(), builtin->denied.end()));
    auto fresh = berth::nspawn::compile_denied(deny);
    ASSERT_TRUE(fresh.ok()) << fresh.error().message;
    EXPECT_EQ(words(SeccompProgram{{builtin->code.begin(), builtin->code.end()}}), words(*fresh));
}

TEST(BuiltinSeccomp, ServesThePrivateNetworkDefaultsToo) {
    Privileges with_net, without;
    with_net.capabilities = default_capabilities(true);
    without.capabilities = default_capabilities(false);
    EXPECT_EQ(berth::nspawn::denied_calls(with_net), berth::nspawn::denied_calls(without));
}

TEST(BuiltinSeccomp, OtherPrivilegesGetTheirOwnProgram) {
    Privileges p;
    p.capabilities = default_capabilities(false);
    p.syscall_allow = {"keyctl"};
    auto prog = prepare_seccomp(p);
    ASSERT_TRUE(prog.ok()) << prog.error().message;
    auto fresh = berth::nspawn::compile_denied(berth::nspawn::denied_calls(p));
    ASSERT_TRUE(fresh.ok());
    EXPECT_EQ(words(*prog), words(*fresh));
    const auto* builtin = berth::nspawn::builtin_seccomp();
    ASSERT_NE(builtin, nullptr);
    EXPECT_NE(words(*prog), words(SeccompProgram{{builtin->code.begin(), builtin->code.end()}}));
}
