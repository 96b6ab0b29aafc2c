// machined killed and started again: live machines come back once, dead ones are dropped.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "tests/integration/bus_fixture.hpp"

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
    auto end = p.wait(60s);
    EXPECT_FALSE(end.timed_out) << end.describe();
    EXPECT_TRUE(end.exited(128 + SIGKILL)) << "the guest ignores SIGTERM: killed after the timeout" << end.describe();
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

// Records in the state directory are untrusted input: a FIFO, a huge file, a forged cgroup path and a
// second record of a leader are dropped; machined starts, adopts only the honest record, and removes
// nothing that is not its own when the forged record's leader exits.
TEST_F(Restart, HostileStateFilesAreDroppedAndChangeNothing) {
    start_machined();
    auto a = start_leader(), c = start_leader();
    ASSERT_TRUE(register_leader("a-" + id_, a.pid()).exited(0));
    ASSERT_TRUE(register_leader("c-" + id_, c.pid()).exited(0));
    stop_machined(SIGKILL);
    std::string dir = state_dir_ + "/machines/";
    ASSERT_EQ(::mkfifo((dir + "fifo-" + id_).c_str(), 0644), 0);
    {
        int fd = ::open((dir + "big-" + id_).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::ftruncate(fd, off_t{100} << 20), 0);
        ::close(fd);
    }
    // c's record now claims a "cgroup" machined made that is a host directory.
    std::string victim = tmp_ + "/victim";
    make_dirs(victim);
    std::string forged;
    std::istringstream in(read_file(dir + "c-" + id_));
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("cgroup =", 0) == 0) line = "cgroup = \"/../../../../../.." + victim + "\"";
        if (line.rfind("cgroup_created =", 0) == 0) line = "cgroup_created = true";
        forged += line + "\n";
    }
    write_file(dir + "c-" + id_, forged);
    // A second record of a's leader under another name.
    std::string dup = read_file(dir + "a-" + id_);
    auto at = dup.find("name = ");
    ASSERT_NE(at, std::string::npos);
    dup.replace(at, dup.find('\n', at) - at, "name = 'dup-" + id_ + "'");
    write_file(dir + "dup-" + id_, dup);

    start_machined();
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host", "a-" + id_}));
    for (auto* gone : {"fifo-", "big-", "c-", "dup-"})
        EXPECT_FALSE(exists(dir + gone + id_)) << gone << " record kept";
    c.signal(SIGKILL);
    c.wait(5s);
    EXPECT_TRUE(exists(victim)) << "machined removed a host directory a record named";
    std::string status = read_file("/proc/" + std::to_string(machined_->pid()) + "/status");
    auto hwm = status.find("VmHWM:");
    ASSERT_NE(hwm, std::string::npos);
    if (kMemoryFiguresMeaningful) {
        EXPECT_LT(std::stoul(status.substr(hwm + 6)), 64u * 1024) << status.substr(hwm, 30);
    }
    a.signal(SIGKILL);
    a.wait(5s);
}

}  // namespace
}  // namespace berth::test
