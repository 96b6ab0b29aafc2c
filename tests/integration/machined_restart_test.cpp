// machined killed and started again: live machines come back once, dead ones are dropped.
#include <signal.h>

#include "bus_fixture.hpp"

namespace berth::test {
namespace {

using Restart = MachinedTest;

TEST_F(Restart, SigkilledMachinedFindsLiveMachinesAgain) {
    start_machined();
    auto a = start_leader(), b = start_leader();
    ASSERT_TRUE(register_leader("a-" + id_, a.pid()).exited(0));
    ASSERT_TRUE(register_leader("b-" + id_, b.pid()).exited(0));
    stop_machined(SIGKILL);
    b.signal(SIGKILL);
    b.wait(5s);
    start_machined();
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host", "a-" + id_}));
    EXPECT_FALSE(exists(state_dir_ + "/machines/b-" + id_)) << "the dead machine's record stays";
    EXPECT_TRUE(a.running());
    // Restarting twice still lists it once.
    stop_machined(SIGKILL);
    start_machined();
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host", "a-" + id_}));
    // And it is still followed: its death is noticed.
    a.signal(SIGKILL);
    a.wait(5s);
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
}

TEST_F(Restart, NspawnMachineSurvivesMachinedRestartWithItsCgroup) {
    start_machined();
    auto p = start_nspawn({"-q", "--register=yes", "-D", root_, "--bind=" + sync_ + ":/sync:idmap", "/bin/sh", "-c",
                           "touch /sync/up; while :; do :; done"},
                          {.env = {bus_->env()}, .timeout = 120s});
    ASSERT_TRUE(wait_up(p));
    ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", machine_}; }));
    std::string leader = machine_property(machine_, "Leader");
    stop_machined(SIGKILL);
    EXPECT_TRUE(p.running()) << "killing machined must not stop machines";
    start_machined();
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host", machine_}));
    EXPECT_EQ(machine_property(machine_, "Leader"), leader);
    // The machine's cgroup came back with it: freezing still works.
    auto r = berth_manager("FreezeMachine", {"s", machine_});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_TRUE(berth_manager("ThawMachine", {"s", machine_}).exited(0));
    EXPECT_TRUE(manager("TerminateMachine", {"s", machine_}).exited(0));
    EXPECT_FALSE(p.wait(60s).timed_out);
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
}

TEST_F(Restart, ReusedPidIsNotTheSameMachine) {
    start_machined();
    auto a = start_leader();
    ASSERT_TRUE(register_leader("reuse-" + id_, a.pid()).exited(0));
    stop_machined(SIGKILL);
    // Pretend the record's leader started at another time: a different process now holds that pid.
    std::string path = state_dir_ + "/machines/reuse-" + id_;
    std::string text = read_file(path);
    auto at = text.find("leader_start_time = ");
    ASSERT_NE(at, std::string::npos) << text;
    text.insert(at + 21, "1");
    write_file(path, text);
    start_machined();
    EXPECT_EQ(machine_names(), std::vector<std::string>{".host"});
    EXPECT_FALSE(exists(path));
}

}  // namespace
}  // namespace berth::test
