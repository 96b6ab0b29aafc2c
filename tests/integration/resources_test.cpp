// Resource limits: the machine's cgroup carries them (cgroup v2 files, or on hybrid hosts the v1
// controllers' berth/NAME cgroups), the guest feels them (a memory hog dies by the machine's OOM, a fork
// bomb stops at --pids-max, a busy loop gets its CPU quota), PID 1 starts with the process limits, and bad
// values are refused before anything is created. The fixture adds to the leak check: no v1 cgroup of the
// machine survives it.
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <sstream>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

constexpr const char* kV1Controllers[] = {"memory", "cpu", "pids", "blkio"};

// Where the cgroup v1 hierarchy holding `ctrl` is mounted ("" when it is not).
std::string v1_mount(const std::string& ctrl) {
    std::istringstream in(read_file("/proc/self/mountinfo"));
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, point, field, fstype, source, opts;
        f >> id >> parent >> dev >> root >> point;
        while (f >> field && field != "-") {}
        f >> fstype >> source >> opts;
        if (fstype == "cgroup" && ("," + opts + ",").find("," + ctrl + ",") != std::string::npos) return point;
    }
    return "";
}

// A limit as the host sees it on a running process: on hybrid hosts the file of the v1 controller's
// cgroup, on pure v2 hosts the file in its unified cgroup.
struct Knob {
    bool v1 = false;
    std::string path;
    std::string value() const { return trim(read_file(path)); }
};

Knob knob(pid_t pid, const std::string& v1_ctrl, const std::string& v1_file, const std::string& v2_file) {
    std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/cgroup"));
    for (std::string line; std::getline(in, line);) {
        auto a = line.find(':'), b = line.find(':', a + 1);
        std::string ctrls = "," + line.substr(a + 1, b - a - 1) + ",";
        if (ctrls.find("," + v1_ctrl + ",") != std::string::npos)
            return {true, v1_mount(v1_ctrl) + line.substr(b + 1) + "/" + v1_file};
    }
    return {false, cgroup2_root() + unified_cgroup_of(pid) + "/" + v2_file};
}

bool have_cap_sys_resource() {
    std::istringstream in(read_file("/proc/self/status"));
    for (std::string line; std::getline(in, line);)
        if (line.rfind("CapEff:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> 24) & 1;
    return false;
}

// Whether the process has exited (gone, or a zombie nobody reaped yet).
bool gone(pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto paren = stat.rfind(')');
    return paren == std::string::npos || stat.substr(paren + 2, 1) == "Z";
}

// A number from a "key value" file such as cpu.stat or memory.events.
long long stat_value(const std::string& text, const std::string& key) {
    std::istringstream in(text);
    for (std::string k; in >> k;) {
        long long v = 0;
        in >> v;
        if (k == key) return v;
    }
    return -1;
}

// A bad value and what its refusal must name (BadResourceValue).
struct BadValue {
    std::string arg, needle;
};

// The bad-value tests (BadResourceValue) are this fixture with a parameter: their machines never start,
// but the check of TearDown holds for them all the same.
class Resources : public BusyboxTest, public ::testing::WithParamInterface<BadValue> {
protected:
    void SetUp() override {
        BusyboxTest::SetUp();
        // A plain bind: under the user-namespace default the guest's root is someone else on the host.
        ::chmod(sync_.c_str(), 0777);
    }
    void TearDown() override {
        expect_no_v1_cgroups();
        BusyboxTest::TearDown();
    }

    void expect_no_v1_cgroups() const {
        for (auto* c : kV1Controllers) {
            std::string m = v1_mount(c);
            if (!m.empty()) {
                EXPECT_FALSE(exists(m + "/berth/" + machine_)) << "v1 cgroup of the machine in " << m;
            }
        }
    }

    // A machine that runs `script`, then waits until the test calls finish().
    Process start_holding(const std::string& script, const std::vector<std::string>& opts) {
        return start_sh(script + "; touch /sync/ran; while [ ! -e /sync/done ]; do sleep 0.1; done", opts);
    }
    bool wait_ran(const Process& p) const { return wait_for_file(sync_ + "/ran", p, 30s); }
    RunResult finish(Process& p) {
        write_file(sync_ + "/done", "");
        return p.wait(20s);
    }

    // The knob of the running machine `p`.
    Knob knob_of(const Process& p, const std::string& v1_ctrl, const std::string& v1_file, const std::string& v2_file) {
        return knob(guest_pid1(p.pid()), v1_ctrl, v1_file, v2_file);
    }

    std::string settings_file() const { return tmp_ + "/" + machine_ + ".toml"; }

    // A machine with v1 limits whose supervisor is killed with SIGKILL: its guest dies with it, and only the
    // supervisor's cleanup is missing.
    void kill_supervisor_of_limited_machine() {
        auto p = start_holding("true", {"--memory-max=64M", "--pids-max=50"});
        ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
        pid_t pid1 = guest_pid1(p.pid());
        p.signal(SIGKILL);
        p.wait(10s);
        for (int i = 0; i < 500 && pid1 > 0 && !gone(pid1); i++) ::usleep(10000);
    }
};

// ---- The guest feels the limits ----

TEST_F(Resources, MemoryHogIsKilledByTheMachinesOom) {
    // Command substitution keeps all 200 MiB in the shell's memory; the machine allows 32 MiB. The hog
    // and its helpers volunteer as the OOM's first choice (raising one's own OOM score needs no
    // privilege), as a guest's services would: while the killed hog's memory is still being freed,
    // `yes` may hit the limit again, and the kernel then picks a second victim, which must not be the
    // machine's PID 1 (the v1 memory controller did so in about one run in eight).
    auto p = start_holding("sh -c 'echo 1000 > /proc/self/oom_score_adj && x=$(yes | head -c 209715200); "
                           "echo survived ${#x}'; echo $? > /sync/status",
                           {"--memory-max=32M"});
    ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
    auto pid1 = guest_pid1(p.pid());
    ASSERT_GT(pid1, 0);
    // The machine's own OOM: its cgroup hit the limit and never held more than the limit.
    Knob events = knob(pid1, "memory", "memory.failcnt", "memory.events");
    if (events.v1) {
        EXPECT_GT(std::stoll(events.value()), 0) << events.path;
        Knob peak = knob(pid1, "memory", "memory.max_usage_in_bytes", "");
        EXPECT_LE(std::stoll(peak.value()), 32LL << 20) << peak.path;
    } else {
        EXPECT_GE(stat_value(events.value(), "oom_kill"), 1) << events.path << ": " << events.value();
    }
    auto r = finish(p);
    EXPECT_TRUE(r.exited(0)) << r.describe();  // nspawn and the guest's PID 1 are fine
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(trim(read_file(sync_ + "/status")), "137");  // 128 + SIGKILL
}

// A memory limit too small for even the setup: the machine's OOM kills the child before it can say
// anything; the error says so instead of "the other side of the setup exited".
TEST_F(Resources, MemoryLimitTooSmallToStartSaysSo) {
    auto r = sh("echo ran", {"--memory-max=1"});
    EXPECT_TRUE(refused_with(r, "out-of-memory killer")) << r.describe();
    EXPECT_NE(r.err.find("--memory-max"), std::string::npos) << r.describe();
    EXPECT_EQ(r.out, "");
}

TEST_F(Resources, ForkBombStopsAtPidsMax) {
    // Forks until fork fails (or 200 times); after each fork records how many processes the machine has.
    auto r = sh(R"sh((i=0; while [ $i -lt 200 ]; do
                         sleep 30 & i=$((i+1))
                         n=0; for p in /proc/[0-9]*; do n=$((n+1)); done
                         echo "started=$i peak=$n" > /tmp/count
                     done) 2>/dev/null
                     read -r line < /tmp/count; echo "$line")sh",
                {"--pids-max=20"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    int started = -1, peak = -1;
    ASSERT_EQ(std::sscanf(r.out.c_str(), "started=%d peak=%d", &started, &peak), 2) << r.out;
    EXPECT_LT(started, 200) << "the fork bomb was not stopped";
    EXPECT_LE(peak, 20);
    EXPECT_GE(peak, 18) << "stopped well before the limit: " << r.out;
}

TEST_F(Resources, CpuQuotaLimitsABusyLoop) {
    // Two seconds of a busy loop; the shell's children's CPU time (cutime + cstime, in 1/100 s) is what
    // the loop got.
    auto r = sh(R"sh(sh -c 'while :; do :; done' & pid=$!
                     sleep 2; kill $pid; wait $pid
                     read -r stat < /proc/$$/stat; set -- $stat; echo $(( ${16} + ${17} )))sh",
                {"--cpu-quota=20%"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    long ticks = std::stol(trim(r.out));
    EXPECT_LE(ticks, 60) << "more than 30% of one CPU over 2 s";
    EXPECT_GE(ticks, 20) << "less than 10% of one CPU: did the loop run at all?";
}

TEST_F(Resources, RlimitNofileIsVisibleToTheGuest) {
    auto r = sh("ulimit -Sn; ulimit -Hn", {"--rlimit=NOFILE=1024:4096"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "1024\n4096\n");
}

TEST_F(Resources, RlimitNofileInfinityIsTheHighestAllowed) {
    // The kernel's maximum, or without CAP_SYS_RESOURCE (this host's test sandbox) the hard limit we have.
    rlimit ours{};
    ::getrlimit(RLIMIT_NOFILE, &ours);
    std::string expected = have_cap_sys_resource() ? trim(read_file("/proc/sys/fs/nr_open"))
                                                   : std::to_string(ours.rlim_max);
    auto r = sh("ulimit -Sn; ulimit -Hn", {"--rlimit=RLIMIT_NOFILE=infinity"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, expected + "\n" + expected + "\n");
}

TEST_F(Resources, RaisedOomScoreAdjustIsVisibleToTheGuest) {
    auto r = sh("cat /proc/self/oom_score_adj", {"--oom-score-adjust=500"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "500\n");
}

TEST_F(Resources, SupervisorKeepsItsOwnOomScore) {
    auto p = start_holding("true", {"--oom-score-adjust=700"});
    ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
    EXPECT_EQ(trim(read_file("/proc/" + std::to_string(guest_pid1(p.pid())) + "/oom_score_adj")), "700");
    EXPECT_EQ(read_file("/proc/" + std::to_string(p.pid()) + "/oom_score_adj"),
              read_file("/proc/self/oom_score_adj"));
    EXPECT_TRUE(finish(p).exited(0));
}

TEST_F(Resources, LoweredOomScoreAdjustIsVisibleToTheGuest) {
    if (!have_cap_sys_resource()) GTEST_SKIP() << "lowering the OOM score needs CAP_SYS_RESOURCE, which we lack";
    auto r = sh("cat /proc/self/oom_score_adj", {"--oom-score-adjust=-500"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "-500\n");
}

TEST_F(Resources, LoweringOomScoreWithoutCapSysResourceIsRefusedUpFront) {
    std::string capsh = exists("/usr/sbin/capsh") ? "/usr/sbin/capsh" : "/sbin/capsh";
    if (!exists(capsh)) GTEST_SKIP() << "no capsh to drop CAP_SYS_RESOURCE with";
    auto before = tree_snapshot(tmp_);
    std::vector<std::string> args = {"--drop=cap_sys_resource", "--", "-c", "exec \"$0\" \"$@\"", nspawn_path()};
    for (auto& a : base()) args.push_back(a);
    args.insert(args.end(), {"--oom-score-adjust=-500", "/bin/true"});
    EXPECT_TRUE(refused_with(run(capsh, args), "CAP_SYS_RESOURCE"));
    EXPECT_EQ(tree_snapshot(tmp_), before);
}

TEST_F(Resources, CpuAffinityIsVisibleToTheGuest) {
    cpu_set_t ours;
    ASSERT_EQ(::sched_getaffinity(0, sizeof ours, &ours), 0);
    int cpu = CPU_SETSIZE - 1;
    while (cpu > 0 && !CPU_ISSET(cpu, &ours)) cpu--;  // the last CPU we may use
    std::string last = std::to_string(cpu);
    auto r = sh("grep Cpus_allowed_list /proc/self/status", {"--cpu-affinity=" + last});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "Cpus_allowed_list:\t" + last + "\n");
}

// ---- The host sees them on the machine's cgroup ----

TEST_F(Resources, MemoryMaxIsSetOnTheMachinesCgroup) {
    auto p = start_holding("true", {"--memory-max=32M"});
    ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
    Knob k = knob_of(p, "memory", "memory.limit_in_bytes", "memory.max");
    EXPECT_EQ(k.value(), std::to_string(32 << 20)) << k.path;
    EXPECT_NE(k.path.find("/berth/" + machine_ + "/"), std::string::npos) << k.path;
    EXPECT_TRUE(finish(p).exited(0));
}

TEST_F(Resources, MemoryHighIsSetOnTheMachinesCgroup) {
    auto p = start_holding("true", {"--memory-high=48M"});
    ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
    Knob k = knob_of(p, "memory", "memory.soft_limit_in_bytes", "memory.high");
    EXPECT_EQ(k.value(), std::to_string(48 << 20)) << k.path;
    EXPECT_TRUE(finish(p).exited(0));
}

TEST_F(Resources, PidsMaxIsSetOnTheMachinesCgroup) {
    auto p = start_holding("true", {"--pids-max=77"});
    ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
    Knob k = knob_of(p, "pids", "pids.max", "pids.max");
    EXPECT_EQ(k.value(), "77") << k.path;
    EXPECT_TRUE(finish(p).exited(0));
}

TEST_F(Resources, CpuQuotaIsSetOnTheMachinesCgroup) {
    auto p = start_holding("true", {"--cpu-quota=150%"});
    ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
    Knob k = knob_of(p, "cpu", "cpu.cfs_quota_us", "cpu.max");
    EXPECT_EQ(k.value(), k.v1 ? "150000" : "150000 100000") << k.path;
    if (k.v1) {
        Knob period = knob_of(p, "cpu", "cpu.cfs_period_us", "");
        EXPECT_EQ(period.value(), "100000") << period.path;
    }
    EXPECT_TRUE(finish(p).exited(0));
}

TEST_F(Resources, CpuWeightIsSetOnTheMachinesCgroup) {
    auto p = start_holding("true", {"--cpu-weight=200"});
    ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
    Knob k = knob_of(p, "cpu", "cpu.shares", "cpu.weight");
    EXPECT_EQ(k.value(), k.v1 ? "2048" : "200") << k.path;  // v1: weight 100 = 1024 shares
    EXPECT_TRUE(finish(p).exited(0));
}

TEST_F(Resources, IoWeightIsSetOnTheMachinesCgroup) {
    auto p = start_holding("true", {"--io-weight=50"});
    ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
    Knob k = knob_of(p, "blkio", "blkio.bfq.weight", "io.weight");
    if (!exists(k.path)) {
        finish(p);
        GTEST_SKIP() << "no IO scheduler with weights here (" << k.path << ")";
    }
    // v1: 1..10000 onto 10..1000 like systemd (100 -> 500); v2: the weight itself.
    EXPECT_EQ(k.value(), k.v1 ? "250" : "default 50") << k.path;
    EXPECT_TRUE(finish(p).exited(0));
}

TEST_F(Resources, MachineWithoutLimitsGetsNoV1Cgroups) {
    auto p = start_holding("true", {});
    ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
    expect_no_v1_cgroups();
    EXPECT_TRUE(finish(p).exited(0));
}

TEST_F(Resources, V1CgroupsAreRemovedWhenTheMachineExits) {
    auto r = sh("true", {"--memory-max=64M", "--pids-max=50", "--cpu-quota=50%", "--io-weight=300"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    expect_no_v1_cgroups();
}

TEST_F(Resources, V1CgroupsOfAKilledSupervisorAreRemovedByTheNextStart) {
    kill_supervisor_of_limited_machine();
    if (HasFatalFailure()) return;
    // The same machine again, without limits: nothing of the first one may survive it.
    auto r = sh("true");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    expect_no_v1_cgroups();
}

// ---- Settings ----

// A machine that never starts again is collected too: by the next start of any machine.
TEST_F(Resources, V1CgroupsOfAKilledSupervisorAreRemovedByAnotherMachinesStart) {
    kill_supervisor_of_limited_machine();
    if (HasFatalFailure()) return;
    std::string other = tmp_ + "/bb2-" + id_;
    auto made = make_busybox_rootfs(other);
    ASSERT_TRUE(made.exited(0)) << made.describe();
    auto r = nspawn({"-q", "--register=no", "-D", other, "/bin/true"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    expect_no_v1_cgroups();
}

TEST_F(Resources, SettingsFileMemoryMaxIsApplied) {
    write_file(settings_file(), "[resources]\nmemory_max = \"64M\"\n");
    auto p = start_holding("true", {});
    ASSERT_TRUE(wait_ran(p)) << p.wait(0ms).describe();
    Knob k = knob_of(p, "memory", "memory.limit_in_bytes", "memory.max");
    EXPECT_EQ(k.value(), std::to_string(64 << 20)) << k.path;
    EXPECT_TRUE(finish(p).exited(0));
}

TEST_F(Resources, SettingsFileRlimitIsApplied) {
    write_file(settings_file(), "[resources]\nrlimit = [\"NOFILE=512:2048\"]\n");
    auto r = sh("ulimit -Sn; ulimit -Hn");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "512\n2048\n");
}

TEST_F(Resources, CommandLineWinsOverSettingsFile) {
    write_file(settings_file(), "[resources]\noom_score_adjust = \"100\"\n");
    auto r = sh("cat /proc/self/oom_score_adj", {"--oom-score-adjust=200"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "200\n");
}

// ---- Bad values: one line naming option and value, exit status 1, nothing created ----

using BadResourceValue = Resources;

TEST_P(BadResourceValue, IsRefusedBeforeAnythingIsCreated) {
    auto before = tree_snapshot(tmp_);
    auto args = base();
    args.insert(args.end(), {GetParam().arg, "/bin/true"});
    EXPECT_TRUE(refused_with(nspawn(args), GetParam().needle));
    EXPECT_EQ(tree_snapshot(tmp_), before);
}

INSTANTIATE_TEST_SUITE_P(
    Resources, BadResourceValue,
    ::testing::Values(BadValue{"--memory-max=12X", "--memory-max \"12X\""},
                      BadValue{"--memory-max=0", "--memory-max \"0\""},
                      BadValue{"--memory-high=-1", "--memory-high \"-1\""},
                      BadValue{"--memory-swap-max=1Q", "--memory-swap-max \"1Q\""},
                      BadValue{"--cpu-weight=0", "--cpu-weight \"0\""},
                      BadValue{"--cpu-quota=50", "--cpu-quota \"50\""},
                      BadValue{"--cpu-quota=0%", "--cpu-quota \"0%\""},
                      BadValue{"--pids-max=lots", "--pids-max \"lots\""},
                      BadValue{"--io-weight=10001", "--io-weight \"10001\""},
                      BadValue{"--cpu-affinity=3-1", "--cpu-affinity \"3-1\""},
                      BadValue{"--cpu-affinity=1000", "--cpu-affinity \"1000\""},
                      BadValue{"--oom-score-adjust=1001", "--oom-score-adjust \"1001\""},
                      BadValue{"--rlimit=BOGUS=1", "--rlimit \"BOGUS=1\""},
                      BadValue{"--rlimit=NOFILE=4096:1024", "--rlimit \"NOFILE=4096:1024\""}),
    [](const ::testing::TestParamInfo<BadValue>& info) {
        std::string n;
        for (char c : info.param.arg.substr(2))
            n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
        return n;
    });

TEST_F(Resources, BadValueInSettingsFileIsRefused) {
    write_file(settings_file(), "[resources]\nmemory_max = \"lots\"\n");
    EXPECT_TRUE(refused_with(sh("true"), "\"lots\""));
}

}  // namespace
}  // namespace berth::test
