// The pure parts of getting inside a machine: the guest's account files, the command's path and
// environment rules, the leader's /proc files, the status line, the filter record.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "common/seccomp_record.hpp"
#include "machined/enter.hpp"
#include "machined/guest_user.hpp"

namespace berth::machined {
namespace {

constexpr const char* kPasswd =
    "# a comment\n"
    "root:x:0:0:root:/root:/bin/bash\n"
    "broken line\n"
    "bob:x:1001:1001::/home/bob:\n"
    "eve:x:notanumber:1:::/bin/sh\n";

TEST(GuestUsers, EmptyUserIsRoot) {
    auto u = find_passwd_entry(kPasswd, "");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->name, "root");
    EXPECT_EQ(u->home, "/root");
    EXPECT_EQ(u->shell, "/bin/bash");
}

TEST(GuestUsers, EmptyShellIsBinShAndAUidFindsItsUser) {
    auto u = find_passwd_entry(kPasswd, "1001");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->name, "bob");
    EXPECT_EQ(u->shell, "/bin/sh");
}

TEST(GuestUsers, MalformedEntriesAreNoUsers) {
    EXPECT_EQ(find_passwd_entry(kPasswd, "eve").error().code, ENOENT);
    EXPECT_EQ(find_passwd_entry(kPasswd, "broken line").error().code, ENOENT);
}

TEST(GuestUsers, SupplementaryGroupsAreThePrimaryAndTheMemberships) {
    auto groups = supplementary_groups("wheel:x:10:alice,bob\nbob:x:1001:\naudio:x:29:carol\n", "bob", 1001);
    EXPECT_EQ(groups, (std::vector<gid_t>{1001, 10}));
}

TEST(GuestCommands, EnvironmentEntriesOverrideTheDefaults) {
    GuestUser u{"bob", 1001, 1001, {}, "/home/bob", "/bin/sh"};
    auto c = make_guest_command(-1, u, "/bin/true", {}, {"TERM=xterm", "FOO=bar"}, "vt220", "m");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->argv, std::vector<std::string>{"/bin/true"});
    EXPECT_EQ(c->env, (std::vector<std::string>{"HOME=/home/bob", "USER=bob", "LOGNAME=bob", "SHELL=/bin/sh",
                                                 std::string("PATH=") + kDefaultPath, "TERM=xterm", "FOO=bar"}));
}

TEST(GuestCommands, NoPathIsTheLoginShell) {
    GuestUser u{"bob", 1001, 1001, {}, "/home/bob", "/usr/bin/zsh"};
    auto c = make_guest_command(-1, u, "", {"ignored"}, {}, "vt220", "m");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->path, "/usr/bin/zsh");
    EXPECT_EQ(c->argv, std::vector<std::string>{"-zsh"});
}

TEST(GuestCommands, RelativePathsAndBadAssignmentsAreInvalid) {
    GuestUser u;
    EXPECT_EQ(make_guest_command(-1, u, "bin/sh", {}, {}, "vt220", "m").error().code, EINVAL);
    EXPECT_EQ(make_guest_command(-1, u, "/bin/sh", {}, {"NOEQUALS"}, "vt220", "m").error().code, EINVAL);
    EXPECT_EQ(make_guest_command(-1, u, "/bin/sh", {}, {"=x"}, "vt220", "m").error().code, EINVAL);
}

TEST(LeaderFiles, CapBndIsHex) {
    EXPECT_EQ(status_hex("Name:\tx\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n", "CapBnd"), 0x1fffeffffffULL);
    EXPECT_FALSE(status_hex("Name:\tx\n", "CapBnd").has_value());
}

TEST(LeaderFiles, CgroupsAreTheUnifiedOneFirstThenEachV1HierarchyAtItsMount) {
    std::string mounts =
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
        "cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,xattr,name=systemd 0 0\n"
        "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n"
        "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n";
    auto files = cgroup_procs_files("9:name=systemd:/\n2:cpu,cpuacct:/x\n4:memory:/berth/m\n0::/berth/m/init.scope\n"
                                    "5:unknown:/y\n3:memory:/../escape\n",
                                    "/sys/fs/cgroup/unified", mounts);
    EXPECT_EQ(files, (std::vector<std::string>{"/sys/fs/cgroup/unified/berth/m/init.scope/cgroup.procs",
                                               "/sys/fs/cgroup/systemd/cgroup.procs",
                                               "/sys/fs/cgroup/cpu,cpuacct/x/cgroup.procs",
                                               "/sys/fs/cgroup/memory/berth/m/cgroup.procs"}));
}

TEST(LeaderFiles, CgroupsMachinedIsInAlreadyAreNotJoinedAgain) {
    std::vector<std::string> leader{"/u/berth/m/cgroup.procs", "/sys/fs/cgroup/systemd/cgroup.procs",
                                    "/sys/fs/cgroup/memory/berth/m/cgroup.procs"};
    std::vector<std::string> own{"/u/cgroup.procs", "/sys/fs/cgroup/systemd/cgroup.procs",
                                 "/sys/fs/cgroup/memory/cgroup.procs"};
    EXPECT_EQ(cgroups_to_join(leader, own),
              (std::vector<std::string>{"/u/berth/m/cgroup.procs", "/sys/fs/cgroup/memory/berth/m/cgroup.procs"}));
    EXPECT_TRUE(cgroups_to_join(own, own).empty());
}

TEST(StatusLine, SaysHowTheCommandEnded) {
    EXPECT_EQ(status_line(7 << 8), "exited 7\n");
    EXPECT_EQ(status_line(SIGKILL), "killed 9\n");
    EXPECT_EQ(status_line(SIGSEGV | 0x80), "dumped 11\n");
}

TEST(SeccompRecords, RoundTripAndRefuseGarbage) {
    std::vector<sock_filter> code{{0x20, 0, 0, 4}, {0x06, 0, 0, 0x7fff0000}};
    auto r = parse_seccomp_record(format_seccomp_record(1234, code), "x");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->leader, 1234);
    ASSERT_EQ(r->code.size(), 2u);
    EXPECT_EQ(r->code[1].k, 0x7fff0000u);
    EXPECT_FALSE(parse_seccomp_record("berth-seccomp 1 12\nabc", "x").ok());
    EXPECT_FALSE(parse_seccomp_record("berth-seccomp 1 x\n", "x").ok());
    EXPECT_FALSE(parse_seccomp_record("something else", "x").ok());
}

}  // namespace
}  // namespace berth::machined

namespace berth::machined {
namespace {

TEST(ProcLimits, EveryResourceInTheKernelsOrderUnlimitedIncluded) {
    std::string text =
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max cpu time              unlimited            unlimited            seconds   \n"
        "Max file size             unlimited            unlimited            bytes     \n"
        "Max data size             unlimited            unlimited            bytes     \n"
        "Max stack size            8388608              unlimited            bytes     \n"
        "Max core file size        0                    unlimited            bytes     \n"
        "Max resident set          unlimited            unlimited            bytes     \n"
        "Max processes             4321                 8765                 processes \n"
        "Max open files            321                  654                  files     \n"
        "Max locked memory         8388608              8388608              bytes     \n"
        "Max address space         unlimited            unlimited            bytes     \n"
        "Max file locks            unlimited            unlimited            locks     \n"
        "Max pending signals       96367                96367                signals   \n"
        "Max msgqueue size         819200               819200               bytes     \n"
        "Max nice priority         0                    0                    \n"
        "Max realtime priority     0                    0                    \n"
        "Max realtime timeout      unlimited            unlimited            us        \n";
    auto limits = parse_proc_limits(text);
    ASSERT_EQ(limits.size(), 16u);
    for (int i = 0; i < 16; i++) EXPECT_EQ(limits[i].first, i);
    EXPECT_EQ(limits[RLIMIT_CPU].second.rlim_cur, RLIM_INFINITY);
    EXPECT_EQ(limits[RLIMIT_STACK].second.rlim_cur, 8388608u);
    EXPECT_EQ(limits[RLIMIT_STACK].second.rlim_max, RLIM_INFINITY);
    EXPECT_EQ(limits[RLIMIT_NPROC].second.rlim_cur, 4321u);
    EXPECT_EQ(limits[RLIMIT_NPROC].second.rlim_max, 8765u);
    EXPECT_EQ(limits[RLIMIT_NOFILE].second.rlim_cur, 321u);
    EXPECT_EQ(limits[RLIMIT_NOFILE].second.rlim_max, 654u);
    EXPECT_EQ(limits[RLIMIT_RTTIME].second.rlim_max, RLIM_INFINITY);
}

TEST(ProcLimits, UnreadableLinesAreLeftOut) {
    auto limits = parse_proc_limits("Limit Soft Hard Units\n"
                                    "Max cpu time              12                   x                    seconds\n"
                                    "Max file size             5                    7                    bytes\n"
                                    "short\n");
    ASSERT_EQ(limits.size(), 1u);
    EXPECT_EQ(limits[0].first, RLIMIT_FSIZE);
    EXPECT_EQ(limits[0].second.rlim_max, 7u);
    EXPECT_TRUE(parse_proc_limits("").empty());
}

}  // namespace
}  // namespace berth::machined
