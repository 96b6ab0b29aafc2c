// Resource options: sizes, weights, quotas, CPU lists, rlimits and OOM scores parse like systemd's, and
// every bad value is one line naming option and value. The cgroup v2 path against a fake hierarchy (a
// hybrid host cannot show a real one), and the child's process limits, in a fork.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "common/fileio.hpp"
#include "common/resources.hpp"
#include "nspawn/options.hpp"
#include "tests/unit/temp_tree.hpp"

namespace berth::nspawn {
namespace {

constexpr uint64_t kInf = std::numeric_limits<uint64_t>::max();

Result<Resources> parse_with(void (*set)(Options&)) {
    Options o;
    set(o);
    return parse_resources(o);
}

Resources assigned(const std::string& a) {
    Resources r;
    auto s = parse_resource_assignment(a, r);
    EXPECT_TRUE(s.ok()) << a << ": " << s.error().message;
    return r;
}

// The error for `a`, checked to be one line.
std::string refusal(const std::string& a) {
    Resources r;
    auto s = parse_resource_assignment(a, r);
    if (s.ok()) return "(accepted)";
    EXPECT_EQ(s.error().message.find('\n'), std::string::npos) << s.error().message;
    return s.error().message;
}

TEST(ResourceSizes, SuffixesAre1024Based) {
    EXPECT_EQ(assigned("memory-max=512").memory_max, 512u);
    EXPECT_EQ(assigned("memory-max=4K").memory_max, 4096u);
    EXPECT_EQ(assigned("memory-max=512M").memory_max, 512ull << 20);
    EXPECT_EQ(assigned("memory-max=2G").memory_max, 2ull << 30);
    EXPECT_EQ(assigned("memory-max=1T").memory_max, 1ull << 40);
}

TEST(ResourceSizes, FractionsNeedASuffix) {
    EXPECT_EQ(assigned("memory-max=1.5G").memory_max, 3ull << 29);
    EXPECT_NE(refusal("memory-max=1.5").find("memory-max \"1.5\""), std::string::npos);
}

TEST(ResourceSizes, InfinityIsTheLargestValue) {
    EXPECT_EQ(assigned("memory-max=infinity").memory_max, kInf);
    EXPECT_EQ(assigned("memory-swap-max=infinity").memory_swap_max, kInf);
}

TEST(ResourceSizes, ZeroSwapIsAllowedZeroMemoryIsNot) {
    EXPECT_EQ(assigned("memory-swap-max=0").memory_swap_max, 0u);
    EXPECT_NE(refusal("memory-max=0").find("greater than 0"), std::string::npos);
    EXPECT_NE(refusal("memory-high=0").find("greater than 0"), std::string::npos);
}

TEST(ResourceSizes, GarbageAndOverflowAreRefused) {
    for (auto v : {"12X", "", "-1", "+5", " 5", "5 ", "M", "1.G", "99999999999999999999", "16E", "0x10", "1KM"})
        EXPECT_NE(refusal(std::string("memory-max=") + v).find("Invalid memory-max \"" + std::string(v) + "\""),
                  std::string::npos)
            << v;
}

TEST(ResourceWeights, RangeIsOneToTenThousand) {
    EXPECT_EQ(assigned("cpu-weight=1").cpu_weight, 1u);
    EXPECT_EQ(assigned("cpu-weight=10000").cpu_weight, 10000u);
    EXPECT_EQ(assigned("io-weight=500").io_weight, 500u);
    for (auto a : {"cpu-weight=0", "cpu-weight=10001", "cpu-weight=abc", "io-weight=0", "io-weight=-3"})
        EXPECT_NE(refusal(a).find("between 1 and 10000"), std::string::npos) << a;
}

TEST(ResourceCpuQuota, PercentOfOneCpu) {
    EXPECT_EQ(assigned("cpu-quota=50%").cpu_quota_percent, 50.0);
    EXPECT_EQ(assigned("cpu-quota=200%").cpu_quota_percent, 200.0);
    EXPECT_EQ(assigned("cpu-quota=12.5%").cpu_quota_percent, 12.5);
    EXPECT_TRUE(std::isinf(*assigned("cpu-quota=infinity").cpu_quota_percent));
}

TEST(ResourceCpuQuota, WithoutPercentSignOrZeroIsRefused) {
    for (auto v : {"50", "0%", "-5%", "%", "abc%", "5.%", "1e3%"})
        EXPECT_NE(refusal(std::string("cpu-quota=") + v).find("Invalid cpu-quota \"" + std::string(v) + "\""),
                  std::string::npos)
            << v;
}

TEST(ResourcePidsMax, NumberOrInfinity) {
    EXPECT_EQ(assigned("pids-max=20").pids_max, 20u);
    EXPECT_EQ(assigned("pids-max=infinity").pids_max, kInf);
    EXPECT_EQ(assigned("pids-max=max").pids_max, kInf);
    for (auto a : {"pids-max=0", "pids-max=lots", "pids-max=99999999"})
        EXPECT_NE(refusal(a).find("Invalid pids-max"), std::string::npos) << a;
}

TEST(ResourceCpuAffinity, ListsAndRanges) {
    EXPECT_EQ(assigned("cpu-affinity=0,2-3").cpu_affinity, (std::vector<int>{0, 2, 3}));
    EXPECT_EQ(assigned("cpu-affinity=3 1 1").cpu_affinity, (std::vector<int>{1, 3}));
    for (auto v : {"", "3-1", "a", "1-", "-1", "1024", "0,,x"})
        EXPECT_NE(refusal(std::string("cpu-affinity=") + v).find("Invalid cpu-affinity"), std::string::npos) << v;
}

TEST(ResourceCpuAffinity, CpusTheHostLacksAreRefusedInThePlan) {
    long n = ::sysconf(_SC_NPROCESSORS_CONF);
    Options o;
    o.set("cpu-affinity", std::to_string(n));
    auto r = parse_resources(o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("--cpu-affinity \"" + std::to_string(n) + "\""), std::string::npos)
        << r.error().message;
    o.set("cpu-affinity", "0");
    EXPECT_TRUE(parse_resources(o).ok());
}

TEST(ResourceOomScoreAdjust, RangeIsPlusMinusThousand) {
    EXPECT_EQ(assigned("oom-score-adjust=-1000").oom_score_adjust, -1000);
    EXPECT_EQ(assigned("oom-score-adjust=1000").oom_score_adjust, 1000);
    EXPECT_EQ(assigned("oom-score-adjust=+5").oom_score_adjust, 5);
    for (auto a : {"oom-score-adjust=1001", "oom-score-adjust=-1001", "oom-score-adjust=x", "oom-score-adjust="})
        EXPECT_NE(refusal(a).find("between -1000 and 1000"), std::string::npos) << a;
}

TEST(ResourceRlimit, SoftAndHard) {
    auto r = assigned("rlimit=NOFILE=1024:4096");
    ASSERT_EQ(r.rlimits.size(), 1u);
    EXPECT_EQ(r.rlimits[0].resource, RLIMIT_NOFILE);
    EXPECT_EQ(r.rlimits[0].soft, 1024u);
    EXPECT_EQ(r.rlimits[0].hard, 4096u);
}

TEST(ResourceRlimit, OneValueSetsBoth) {
    auto r = assigned("rlimit=NPROC=100");
    ASSERT_EQ(r.rlimits.size(), 1u);
    EXPECT_EQ(r.rlimits[0].soft, 100u);
    EXPECT_EQ(r.rlimits[0].hard, 100u);
}

TEST(ResourceRlimit, PrefixCaseAndInfinity) {
    auto r = assigned("rlimit=RLIMIT_nofile=infinity");
    ASSERT_EQ(r.rlimits.size(), 1u);
    EXPECT_EQ(r.rlimits[0].resource, RLIMIT_NOFILE);
    EXPECT_EQ(r.rlimits[0].soft, RLIM_INFINITY);
    EXPECT_EQ(r.rlimits[0].hard, RLIM_INFINITY);
}

TEST(ResourceRlimit, ByteLimitsTakeSizes) {
    auto r = assigned("rlimit=STACK=8M:infinity");
    ASSERT_EQ(r.rlimits.size(), 1u);
    EXPECT_EQ(r.rlimits[0].resource, RLIMIT_STACK);
    EXPECT_EQ(r.rlimits[0].soft, 8u << 20);
    EXPECT_EQ(r.rlimits[0].hard, RLIM_INFINITY);
    EXPECT_NE(refusal("rlimit=NOFILE=1K").find("Invalid rlimit \"NOFILE=1K\""), std::string::npos);
}

TEST(ResourceRlimit, NiceTakesALevelWithSignOrARawValue) {
    EXPECT_EQ(assigned("rlimit=NICE=-5").rlimits[0].soft, 25u);
    EXPECT_EQ(assigned("rlimit=NICE=+19").rlimits[0].soft, 1u);
    EXPECT_EQ(assigned("rlimit=NICE=40").rlimits[0].soft, 40u);
    EXPECT_NE(refusal("rlimit=NICE=41").find("NICE"), std::string::npos);
    EXPECT_NE(refusal("rlimit=NICE=-21").find("NICE"), std::string::npos);
}

TEST(ResourceRlimit, AllSystemdNamesAreKnown) {
    for (auto n : {"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NOFILE", "AS", "NPROC", "MEMLOCK", "LOCKS",
                   "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"})
        EXPECT_EQ(assigned(std::string("rlimit=") + n + "=1").rlimits.size(), 1u) << n;
}

TEST(ResourceRlimit, LaterAssignmentOfTheSameLimitWins) {
    Resources r;
    ASSERT_TRUE(parse_resource_assignment("rlimit=NOFILE=100", r).ok());
    ASSERT_TRUE(parse_resource_assignment("rlimit=CORE=0", r).ok());
    ASSERT_TRUE(parse_resource_assignment("rlimit=NOFILE=200", r).ok());
    ASSERT_EQ(r.rlimits.size(), 2u);
    EXPECT_EQ(r.rlimits[1].resource, RLIMIT_NOFILE);
    EXPECT_EQ(r.rlimits[1].soft, 200u);
}

TEST(ResourceRlimit, BadOnesAreRefused) {
    EXPECT_NE(refusal("rlimit=BOGUS=1").find("unknown limit name"), std::string::npos);
    EXPECT_NE(refusal("rlimit=NOFILE").find("NAME=SOFT[:HARD]"), std::string::npos);
    EXPECT_NE(refusal("rlimit=NOFILE=4096:1024").find("soft limit exceeds the hard limit"), std::string::npos);
    EXPECT_NE(refusal("rlimit=NOFILE=x").find("Invalid rlimit \"NOFILE=x\""), std::string::npos);
    EXPECT_NE(refusal("rlimit=NOFILE=1:").find("Invalid rlimit"), std::string::npos);
}

TEST(ResourceUsernsLimit, TakesTheKernelsNamesWithOrWithoutMaxAndDashes) {
    auto r = assigned("userns-limit=inotify_instances=64");
    ASSERT_EQ(r.userns_limits.size(), 1u);
    EXPECT_EQ(r.userns_limits[0].name, "max_inotify_instances");
    EXPECT_EQ(r.userns_limits[0].value, 64u);
    EXPECT_EQ(assigned("userns-limit=max_user_namespaces=0").userns_limits[0].name, "max_user_namespaces");
    EXPECT_EQ(assigned("userns-limit=inotify-watches=8192").userns_limits[0].name, "max_inotify_watches");
    for (auto n : {"cgroup_namespaces", "fanotify_groups", "fanotify_marks", "ipc_namespaces", "mnt_namespaces",
                   "net_namespaces", "pid_namespaces", "time_namespaces", "uts_namespaces"})
        EXPECT_EQ(assigned(std::string("userns-limit=") + n + "=1").userns_limits.size(), 1u) << n;
}

TEST(ResourceUsernsLimit, LaterAssignmentOfTheSameLimitWins) {
    Resources r;
    ASSERT_TRUE(parse_resource_assignment("userns-limit=inotify_instances=10", r).ok());
    ASSERT_TRUE(parse_resource_assignment("userns-limit=max_inotify_instances=20", r).ok());
    ASSERT_EQ(r.userns_limits.size(), 1u);
    EXPECT_EQ(r.userns_limits[0].value, 20u);
}

TEST(ResourceUsernsLimit, BadOnesAreRefused) {
    EXPECT_NE(refusal("userns-limit=bogus=1").find("unknown limit name"), std::string::npos);
    EXPECT_NE(refusal("userns-limit=inotify_instances").find("expected NAME=N"), std::string::npos);
    EXPECT_NE(refusal("userns-limit=inotify_instances=-1").find("between 0 and 2147483647"), std::string::npos);
    EXPECT_NE(refusal("userns-limit=inotify_instances=2147483648").find("between 0 and"), std::string::npos);
    EXPECT_NE(refusal("userns-limit=../../kernel/pid_max=1").find("unknown limit name"), std::string::npos);
}

TEST(ResourceTasks, TheCeilingIsPidsMaxOrTheDefault) {
    auto none = parse_with([](Options&) {});
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(none->tasks_ceiling, default_tasks_max());
    EXPECT_FALSE(none->pids_max) << "no cgroup limit unless asked for";
    auto some = parse_with([](Options& o) { o.set("pids-max", "77"); });
    ASSERT_TRUE(some.ok());
    EXPECT_EQ(some->tasks_ceiling, 77u);
    auto inf = parse_with([](Options& o) { o.set("pids-max", "infinity"); });
    ASSERT_TRUE(inf.ok());
    EXPECT_EQ(inf->tasks_ceiling, kInf);
}

TEST(ResourceTasks, TheDefaultIsAQuarterOfTheHostsPidsAtMost16384) {
    uint64_t pid_max = std::stoull(read_file("/proc/sys/kernel/pid_max").value());
    uint64_t threads = std::stoull(read_file("/proc/sys/kernel/threads-max").value());
    EXPECT_EQ(default_tasks_max(), std::min<uint64_t>(16384, std::min(pid_max, threads) / 4));
    EXPECT_GE(default_tasks_max(), 1024u) << "a booted Debian's few dozen tasks fit many times over";
}

TEST(ResourceRlimit, NofileAboveTheKernelsMaximumIsRefusedInThePlan) {
    auto nr_open = read_file("/proc/sys/fs/nr_open");
    ASSERT_TRUE(nr_open.ok());
    uint64_t too_many = std::stoull(*nr_open) + 1;
    Options o;
    o.set_list("rlimit", {"NOFILE=1024:" + std::to_string(too_many)});
    auto r = parse_resources(o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("nr_open"), std::string::npos) << r.error().message;
}

TEST(ResourceAssignment, UnderscoreKeysAsInSettings) {
    EXPECT_EQ(assigned("memory_max=1G").memory_max, 1ull << 30);
    EXPECT_EQ(assigned("oom_score_adjust=7").oom_score_adjust, 7);
}

TEST(ResourceAssignment, MergesIntoWhatIsThere) {
    Resources r;
    ASSERT_TRUE(parse_resource_assignment("memory-max=1G", r).ok());
    ASSERT_TRUE(parse_resource_assignment("pids-max=10", r).ok());
    EXPECT_EQ(r.memory_max, 1ull << 30);
    EXPECT_EQ(r.pids_max, 10u);
}

TEST(ResourceAssignment, UnknownKeyOrMissingValueIsRefused) {
    EXPECT_NE(refusal("memory-maximum=1G").find("Unknown resource \"memory-maximum\""), std::string::npos);
    EXPECT_NE(refusal("memory-max").find("expected KEY=VALUE"), std::string::npos);
}

TEST(ResourceOptions, NamesTheCommandLineOption) {
    auto r = parse_with([](Options& o) { o.set("memory-max", "12X"); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message.rfind("Invalid --memory-max \"12X\": ", 0), 0u) << r.error().message;
    auto q = parse_with([](Options& o) { o.set_list("rlimit", {"NOFILE=1", "CORE=z"}); });
    ASSERT_FALSE(q.ok());
    EXPECT_EQ(q.error().message.rfind("Invalid --rlimit \"CORE=z\": ", 0), 0u) << q.error().message;
}

TEST(ResourceOptions, NoneMeansNoLimits) {
    auto r = parse_with([](Options&) {});
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->any_cgroup_limit());
    EXPECT_TRUE(r->rlimits.empty());
    EXPECT_TRUE(r->cpu_affinity.empty());
    EXPECT_FALSE(r->oom_score_adjust);
}

TEST(ResourceOptions, ProcessLimitsAloneNeedNoCgroup) {
    auto r = parse_with([](Options& o) {
        o.set("oom-score-adjust", "100");
        o.set("cpu-affinity", "0");
        o.set_list("rlimit", {"NOFILE=64"});
    });
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(r->any_cgroup_limit());
    for (auto* a : {"memory-max=1G", "memory-high=1G", "memory-swap-max=0", "cpu-weight=5", "cpu-quota=5%",
                    "pids-max=5", "io-weight=5"})
        EXPECT_TRUE(assigned(a).any_cgroup_limit()) << a;
}

TEST(ResourceOptions, WhatNeedsCapSysResourceIsRefusedInThePlanWithoutIt) {
    auto eff = read_file("/proc/self/status");
    ASSERT_TRUE(eff.ok());
    auto pos = eff->find("CapEff:");
    if ((std::stoull(eff->substr(pos + 7), nullptr, 16) >> 24) & 1) GTEST_SKIP() << "we have CAP_SYS_RESOURCE";
    auto r = parse_with([](Options& o) { o.set("oom-score-adjust", "-1000"); });
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("CAP_SYS_RESOURCE"), std::string::npos) << r.error().message;
    rlimit nofile{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &nofile), 0);
    Options o;
    o.set_list("rlimit", {"NOFILE=1:" + std::to_string(nofile.rlim_max + 1)});
    auto q = parse_resources(o);
    ASSERT_FALSE(q.ok());
    EXPECT_NE(q.error().message.find("CAP_SYS_RESOURCE"), std::string::npos) << q.error().message;
}

// ---- cgroup v2, on a fake hierarchy: regular files stand in for the kernel's ----

class ResourceCgroupV2 : public ::testing::Test {
protected:
    // The root offers every controller and enables none; the machine is /berth/m. The files start empty
    // and, unlike the kernel's, keep the tail of a longer old value: each check starts from fresh files.
    void SetUp() override { reset(); }
    void reset() {
        tree_.write("cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
        tree_.write("cgroup.subtree_control", "");
        tree_.write("berth/cgroup.controllers", "");
        tree_.write("berth/cgroup.subtree_control", "");
        for (auto* f : {"memory.max", "memory.high", "memory.swap.max", "cpu.weight", "cpu.max", "pids.max",
                        "io.weight", "io.bfq.weight"})
            tree_.write(std::string("berth/m/") + f, "");
    }
    ResourceCgroups apply(const std::string& assignments) {
        Resources r;
        std::istringstream in(assignments);
        for (std::string a; in >> a;) EXPECT_TRUE(parse_resource_assignment(a, r).ok()) << a;
        auto rc = configure_cgroup_limits(r, Cgroup(tree_.path(), "/berth/m"), kName);
        EXPECT_TRUE(rc.ok()) << rc.error().message;
        return rc.ok() ? *rc : ResourceCgroups{};
    }
    // Also names the v1 cgroups a hybrid host would look at: no machine is called that.
    static constexpr const char* kName = "berth-unit-test-no-such-machine";
    std::string file(const std::string& rel) const { return slurp(tree_ / rel); }

    TempTree tree_;
};

TEST_F(ResourceCgroupV2, MemoryLimitsAreWrittenToTheMachinesFiles) {
    auto rc = apply("memory-max=512M memory-high=256M memory-swap-max=infinity");
    EXPECT_TRUE(rc.v1_paths.empty());
    EXPECT_EQ(file("berth/m/memory.max"), "536870912");
    EXPECT_EQ(file("berth/m/memory.high"), "268435456");
    EXPECT_EQ(file("berth/m/memory.swap.max"), "max");
}

TEST_F(ResourceCgroupV2, ControllersAreEnabledInEveryAncestor) {
    apply("pids-max=20");
    EXPECT_EQ(file("cgroup.subtree_control"), "+pids");
    EXPECT_EQ(file("berth/cgroup.subtree_control"), "+pids");
    EXPECT_EQ(file("berth/m/pids.max"), "20");
}

TEST_F(ResourceCgroupV2, EnabledControllersAreLeftAlone) {
    tree_.write("cgroup.subtree_control", "cpu io memory pids\n");
    tree_.write("berth/cgroup.subtree_control", "cpu io memory pids\n");
    apply("memory-max=1G cpu-weight=5 pids-max=5 io-weight=5");
    EXPECT_EQ(file("cgroup.subtree_control"), "cpu io memory pids\n");
    EXPECT_EQ(file("berth/cgroup.subtree_control"), "cpu io memory pids\n");
}

TEST_F(ResourceCgroupV2, CpuWeightAndQuota) {
    apply("cpu-weight=200 cpu-quota=50%");
    EXPECT_EQ(file("berth/m/cpu.weight"), "200");
    EXPECT_EQ(file("berth/m/cpu.max"), "50000 100000");
    reset();
    apply("cpu-quota=infinity");
    EXPECT_EQ(file("berth/m/cpu.max"), "max 100000");
    reset();
    apply("cpu-quota=0.1%");  // the kernel's minimum is 1 ms per period
    EXPECT_EQ(file("berth/m/cpu.max"), "1000 100000");
}

TEST_F(ResourceCgroupV2, PidsInfinityIsMax) {
    apply("pids-max=infinity");
    EXPECT_EQ(file("berth/m/pids.max"), "max");
}

TEST_F(ResourceCgroupV2, IoWeightAlsoScaledForBfq) {
    apply("io-weight=50");
    EXPECT_EQ(file("berth/m/io.weight"), "default 50");
    EXPECT_EQ(file("berth/m/io.bfq.weight"), "50");
    reset();
    apply("io-weight=10000");
    EXPECT_EQ(file("berth/m/io.bfq.weight"), "1000");
}

TEST_F(ResourceCgroupV2, OnlyRequestedLimitsAreTouched) {
    apply("memory-max=1G");
    for (auto* f : {"memory.high", "memory.swap.max", "cpu.weight", "cpu.max", "pids.max", "io.weight"})
        EXPECT_EQ(file(std::string("berth/m/") + f), "") << f;
    EXPECT_EQ(file("cgroup.subtree_control"), "+memory");
}

TEST_F(ResourceCgroupV2, SwapLimitWithoutSwapAccountingIsIgnored) {
    ::unlink((tree_ / "berth/m/memory.swap.max").c_str());
    apply("memory-max=1G memory-swap-max=0");
    EXPECT_EQ(file("berth/m/memory.max"), "1073741824");
}

TEST_F(ResourceCgroupV2, WriteFailureNamesFileAndMachine) {
    ::unlink((tree_ / "berth/m/pids.max").c_str());
    Resources r;
    ASSERT_TRUE(parse_resource_assignment("pids-max=20", r).ok());
    auto rc = configure_cgroup_limits(r, Cgroup(tree_.path(), "/berth/m"), kName);
    ASSERT_FALSE(rc.ok());
    EXPECT_NE(rc.error().message.find(fmt::format("pids.max of machine \"{}\"", kName)), std::string::npos)
        << rc.error().message;
}

TEST_F(ResourceCgroupV2, NoLimitsTouchNothing) {
    auto rc = apply("oom-score-adjust=5 rlimit=NOFILE=10");
    EXPECT_TRUE(rc.v1_paths.empty());
    EXPECT_EQ(file("cgroup.subtree_control"), "");
}

// The child's part, in a forked process: limits that need no privilege (lowering, raising the OOM score).
TEST(ResourceProcessLimits, AppliedToTheCallingProcess) {
    Resources r;
    ASSERT_TRUE(parse_resource_assignment("rlimit=NOFILE=100:200", r).ok());
    ASSERT_TRUE(parse_resource_assignment("oom-score-adjust=900", r).ok());
    ASSERT_TRUE(parse_resource_assignment("cpu-affinity=0", r).ok());
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (!apply_process_limits_in_child(r).ok()) ::_exit(1);
        rlimit l{};
        ::getrlimit(RLIMIT_NOFILE, &l);
        if (l.rlim_cur != 100 || l.rlim_max != 200) ::_exit(2);
        auto adj = read_file("/proc/self/oom_score_adj");
        if (!adj.ok() || *adj != "900\n") ::_exit(3);
        cpu_set_t set;
        if (::sched_getaffinity(0, sizeof set, &set) < 0 || CPU_COUNT(&set) != 1 || !CPU_ISSET(0, &set)) ::_exit(4);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: apply failed, 2: rlimit, 3: oom_score_adj, 4: affinity";
}

}  // namespace
}  // namespace berth::nspawn
