// machinectl's verbs that change things: terminate, kill, poweroff/stop, reboot (signals a `sleep`
// leader really receives), freeze/thaw and set-property on a busybox machine's cgroup, start, enable and
// disable of a pool image booted by machined.
#include <csignal>
#include <thread>

#include "tests/integration/machinectl_fixture.hpp"

namespace berth::test {
namespace {

using MachinectlControl = MachinectlTest;
using MachinectlPool = MachinectlTest;

std::string cgroup_file(pid_t leader, const std::string& file) {
    return trim(read_file(cgroup2_root() + unified_cgroup_of(leader) + "/" + file));
}

TEST_F(MachinectlControl, TerminateEndsTheMachine) {
    std::string name = "mc-" + id_;
    auto a = start_registered_leader(name);
    auto r = machinectl({"terminate", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
    auto dead = a.wait(60s);
    EXPECT_FALSE(dead.timed_out) << dead.describe();
    EXPECT_NE(dead.term_signal, 0) << dead.describe();
    EXPECT_TRUE(wait_unlisted(name));
}

TEST_F(MachinectlControl, TerminateSeveral) {
    auto a = start_registered_leader("mc-a-" + id_);
    auto b = start_registered_leader("mc-b-" + id_);
    auto r = machinectl({"terminate", "mc-a-" + id_, "mc-b-" + id_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(a.wait(60s).term_signal, 0);
    EXPECT_NE(b.wait(60s).term_signal, 0);
}

TEST_F(MachinectlControl, KillSendsSigtermToAllByDefault) {
    std::string name = "mc-" + id_;
    auto a = start_registered_leader(name);
    auto r = machinectl({"kill", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(a.wait(60s).term_signal, SIGTERM);
    EXPECT_TRUE(wait_unlisted(name));
}

TEST_F(MachinectlControl, KillWithSignalAndWhom) {
    std::string name = "mc-" + id_;
    auto a = start_registered_leader(name);
    auto r = machinectl({"kill", "--kill-whom=leader", "-s", "SIGUSR1", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(a.wait(60s).term_signal, SIGUSR1);
    auto b = start_registered_leader(name + "-b");
    r = machinectl({"kill", "--signal=9", "--kill-whom=all", name + "-b"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(b.wait(60s).term_signal, SIGKILL);
}

TEST_F(MachinectlControl, PoweroffAndStopSendSigrtmin4ToTheLeader) {
    auto a = start_registered_leader("mc-a-" + id_);
    auto b = start_registered_leader("mc-b-" + id_);
    auto r = machinectl({"poweroff", "mc-a-" + id_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(a.wait(60s).term_signal, SIGRTMIN + 4);
    r = machinectl({"stop", "mc-b-" + id_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(b.wait(60s).term_signal, SIGRTMIN + 4);
}

TEST_F(MachinectlControl, RebootSendsSigintToTheLeader) {
    auto a = start_registered_leader("mc-" + id_);
    auto r = machinectl({"reboot", "mc-" + id_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(a.wait(60s).term_signal, SIGINT);
}

TEST_F(MachinectlControl, FreezeAndThawABusyMachine) {
    auto m = start_registered_up("while :; do echo x >/dev/null; done");
    pid_t leader = std::stoi(show_value(machine_, "Leader"));
    EXPECT_EQ(show_value(machine_, "Frozen"), "no");
    auto r = machinectl({"freeze", machine_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(show_value(machine_, "Frozen"), "yes");
    EXPECT_NE(cgroup_file(leader, "cgroup.events").find("frozen 1"), std::string::npos)
        << "the kernel says the cgroup is frozen";
    r = machinectl({"status", machine_});
    EXPECT_NE(r.out.find("\n\t   State: running; frozen\n"), std::string::npos) << r.describe();
    r = machinectl({"thaw", machine_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(show_value(machine_, "Frozen"), "no");
    EXPECT_NE(cgroup_file(leader, "cgroup.events").find("frozen 0"), std::string::npos);
    // The busy shell is the machine's PID 1 and ignores SIGTERM: SIGKILL to all of it.
    r = machinectl({"kill", "-s", "KILL", machine_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto done = m.wait(60s);
    EXPECT_FALSE(done.timed_out) << done.describe();
    EXPECT_TRUE(wait_unlisted(machine_));
}

TEST_F(MachinectlControl, TerminateAFrozenMachine) {
    auto m = start_registered_up("sleep 100000");
    ASSERT_TRUE(machinectl({"freeze", machine_}).exited(0));
    auto r = machinectl({"terminate", machine_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto done = m.wait(60s);
    EXPECT_FALSE(done.timed_out) << done.describe();
    EXPECT_TRUE(wait_unlisted(machine_));
}

TEST_F(MachinectlControl, SetPropertyChangesTheLiveCgroup) {
    auto m = start_registered_up("sleep 100000");
    pid_t leader = std::stoi(show_value(machine_, "Leader"));
    auto r = machinectl({"set-property", machine_, "TasksMax=77", "CPUWeight=33"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
    std::string cg = unified_cgroup_of(leader);
    std::string pids = trim(read_file(cgroup2_root() + cg + "/pids.max"));
    if (pids.empty()) pids = trim(read_file("/sys/fs/cgroup/pids" + cg + "/pids.max"));
    EXPECT_EQ(pids, "77") << "pids.max of " << cg;
    // nspawn's option names work as keys too.
    r = machinectl({"set-property", machine_, "pids-max=infinity"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    pids = trim(read_file(cgroup2_root() + cg + "/pids.max"));
    if (pids.empty()) pids = trim(read_file("/sys/fs/cgroup/pids" + cg + "/pids.max"));
    EXPECT_EQ(pids, "max");
    // `sleep` as the machine's PID 1 ignores SIGTERM: SIGKILL ends it without terminate's grace period.
    EXPECT_TRUE(machinectl({"kill", "-s", "KILL", machine_}).exited(0));
    m.wait(60s);
}

TEST_F(MachinectlPool, StartBootsAPoolImage) {
    std::string name = "img-" + id_;
    make_pool_image(name);
    auto r = machinectl({"start", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
    ASSERT_TRUE(wait_listed(name));
    // Registered from nspawn's side as soon as the guest's PID 1 exists, which then still has to execute
    // /bin/init: until it has, its command line is nspawn's.
    RunResult st;
    EXPECT_TRUE(eventually([&] {
        st = machinectl({"status", name});
        return st.out.find("sleep 100000") != std::string::npos;
    })) << st.describe();
    // The nspawn machined started: the leader's parent. It cleans up after the guest before it exits.
    pid_t leader = std::stoi(show_value(name, "Leader"));
    std::string status = read_file("/proc/" + std::to_string(leader) + "/status");
    pid_t nspawn = std::stoi(status.substr(status.find("\nPPid:") + 6));
    ASSERT_GT(nspawn, 1);
    ASSERT_TRUE(machinectl({"terminate", name}).exited(0));
    EXPECT_TRUE(wait_unlisted(name));
    EXPECT_TRUE(eventually([&] { return process_dead(nspawn); }, 60s));
}

TEST_F(MachinectlPool, EnableAndDisable) {
    std::string name = "img-" + id_;
    make_pool_image(name);
    auto r = machinectl({"enable", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
    auto v = machinectl({"show", "-p", "EnabledMachines", "--value"});
    EXPECT_EQ(trim(v.out), name) << v.describe();
    r = machinectl({"disable", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    v = machinectl({"show", "-p", "EnabledMachines", "--value"});
    EXPECT_EQ(trim(v.out), "") << v.describe();
}

}  // namespace
}  // namespace berth::test
