// What machined gives systemd's tools and the machine's own supervisor: the /run/systemd/machines files
// (here machines_dir_), the Unit a machine runs in, OpenMachineRootDirectory, and TerminateMachine asking
// the machine's supervisor. busybox guests and `sleep` leaders; the Debian guests are in
// machined_debian_test.cpp.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/bus_fixture.hpp"

namespace berth::test {
namespace {

class Runtime : public MachinedTest {
protected:
    std::string file_of(const std::string& name) const { return read_file(machines_dir_ + "/" + name); }

    // The descriptor OpenMachineRootDirectory answers, as (device, inode) of what it and `rel` below it
    // are; "" and the D-Bus error in `error` when the call fails.
    std::string root_identity(const std::string& name, const std::string& rel, std::string* error = nullptr) const {
        std::string out;
        std::string e = bus_error_of([&](sdbus::IProxy& px) {
            sdbus::UnixFd fd;
            px.callMethod("OpenMachineRootDirectory").onInterface("org.freedesktop.machine1.Manager")
                .withArguments(name).storeResultsTo(fd);
            int flags = ::fcntl(fd.get(), F_GETFL);
            struct stat st {};
            if ((flags & O_ACCMODE) != O_RDONLY || !(flags & O_DIRECTORY) ||
                ::fstatat(fd.get(), rel.c_str(), &st, AT_EMPTY_PATH) < 0)
                return;
            out = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
        });
        if (error) *error = e;
        return out;
    }
    static std::string identity(const std::string& path) {
        struct stat st {};
        if (::stat(path.c_str(), &st) < 0) return "missing " + path;
        return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    }
};

TEST_F(Runtime, RegisteredMachineHasAMachinesFileAsSystemdWritesIt) {
    start_machined();
    auto leader = start_leader();
    std::string name = "mf-" + id_;
    ASSERT_TRUE(manager("RegisterMachineWithNetwork",
                        {"sayssusai", name, "16", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
                         "14", "15", "16", "svc", "container", std::to_string(leader.pid()), "/srv/x", "2", "5", "7"})
                    .exited(0));
    std::string ts = machine_property(name, "Timestamp"), mono = machine_property(name, "TimestampMonotonic");
    EXPECT_EQ(file_of(name), "# This is private data. Do not parse.\n"
                             "NAME=" + name + "\n"
                             "SERVICE=svc\n"
                             "ROOT=/srv/x\n"
                             "ID=0102030405060708090a0b0c0d0e0f10\n"
                             "LEADER=" + std::to_string(leader.pid()) + "\n"
                             "CLASS=container\n"
                             "REALTIME=" + ts.substr(2) + "\n"
                             "MONOTONIC=" + mono.substr(2) + "\n"
                             "NETIF=5 7\n");
    leader.signal(SIGKILL);
    (void)leader.wait(10s);
    EXPECT_TRUE(eventually([&] { return !exists(machines_dir_ + "/" + name); })) << "the file outlived the machine";
}

TEST_F(Runtime, UnregisteredMachineLosesItsMachinesFile) {
    start_machined();
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("un-" + id_, leader.pid()).exited(0));
    ASSERT_TRUE(exists(machines_dir_ + "/un-" + id_));
    ASSERT_TRUE(manager("UnregisterMachine", {"s", "un-" + id_}).exited(0));
    EXPECT_FALSE(exists(machines_dir_ + "/un-" + id_));
}

TEST_F(Runtime, MachineInAUnitHasTheUnitAndALinkFromIt) {
    // A leader in a cgroup named as systemd names a scope (this host has no systemd to make one).
    std::string unit = "berth-test-" + id_ + ".scope", cg = cgroup2_root() + "/" + unit;
    make_dirs(cg);
    {
        start_machined();
        auto leader = start_leader();
        write_file(cg + "/cgroup.procs", std::to_string(leader.pid()));
        ASSERT_TRUE(register_leader("unit-" + id_, leader.pid()).exited(0));
        EXPECT_EQ(machine_property("unit-" + id_, "Unit"), "s \"" + unit + "\"");
        EXPECT_NE(file_of("unit-" + id_).find("\nSCOPE=" + unit + "\n"), std::string::npos) << file_of("unit-" + id_);
        EXPECT_EQ(read_link(machines_dir_ + "/unit:" + unit), "unit-" + id_);
        leader.signal(SIGKILL);
        (void)leader.wait(10s);
        EXPECT_TRUE(eventually([&] { return !exists(machines_dir_ + "/unit:" + unit); }));
    }
    EXPECT_TRUE(eventually([&] { return ::rmdir(cg.c_str()) == 0; }));
}

TEST_F(Runtime, MachinedRemovesStaleMachinesFilesAtStart) {
    make_dirs(machines_dir_);
    write_file(machines_dir_ + "/ghost-" + id_, "NAME=ghost\nLEADER=4242\nCLASS=container\n");
    ASSERT_EQ(::symlink(("ghost-" + id_).c_str(), (machines_dir_ + "/unit:ghost.scope").c_str()), 0);
    start_machined();
    EXPECT_EQ(list_dir(machines_dir_), std::vector<std::string>{});
}

TEST_F(Runtime, MachinesFilesSurviveMachinedRestartWhileTheMachineRuns) {
    start_machined();
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("rs-" + id_, leader.pid()).exited(0));
    std::string before = file_of("rs-" + id_);
    stop_machined();
    start_machined();
    EXPECT_EQ(file_of("rs-" + id_), before);
}

// Another machined already owns org.freedesktop.machine1: this one writes nothing into that one's files.
TEST_F(Runtime, MachinedThatCannotOwnTheNameLeavesTheMachinesFilesAlone) {
    start_machined();
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("own-" + id_, leader.pid()).exited(0));
    std::string before = file_of("own-" + id_);
    auto second = run(machined_path(), {"--pool=" + pool_, "--state-dir=" + tmp_ + "/state2", "--config=" + config_},
                      {.env = {bus_->env()}});
    EXPECT_FALSE(second.exited(0)) << second.describe();
    EXPECT_EQ(list_dir(machines_dir_), std::vector<std::string>{"own-" + id_});
    EXPECT_EQ(file_of("own-" + id_), before);
}

TEST_F(Runtime, OpenMachineRootDirectoryIsTheRootAsTheMachineSeesIt) {
    start_machined();
    auto p = start_registered("sleep 1000");
    ASSERT_TRUE(wait_up(p));
    ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", machine_}; }));
    std::string leader = std::to_string(guest_pid1(p.pid()));
    // /sync is a bind mount in the guest's mount namespace only: seen through the descriptor, it is that mount.
    EXPECT_EQ(root_identity(machine_, ""), identity("/proc/" + leader + "/root"));
    EXPECT_EQ(root_identity(machine_, "sync"), identity(sync_));
    EXPECT_EQ(root_identity(".host", ""), identity("/"));
    std::string error;
    EXPECT_EQ(root_identity("nope-" + id_, "", &error), "");
    EXPECT_EQ(error, "org.freedesktop.machine1.NoSuchMachine");
    p.signal(SIGTERM);
    EXPECT_FALSE(p.wait(60s).timed_out);
}

TEST_F(Runtime, OpenRootDirectoryIsRefusedToUnprivilegedCallers) {
    start_machined("allowed_groups = [\"nogroup\"]");
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("rd-" + id_, leader.pid()).exited(0));
    EXPECT_EQ(bus_error_of(
                  [&](sdbus::IProxy& px) {
                      px.callMethod("OpenMachineRootDirectory").onInterface("org.freedesktop.machine1.Manager")
                          .withArguments("rd-" + id_);
                  },
                  true),
              "org.freedesktop.DBus.Error.AccessDenied");
    EXPECT_EQ(bus_error_of(
                  [&](sdbus::IProxy& px) {
                      px.callMethod("OpenRootDirectory").onInterface("org.freedesktop.machine1.Machine");
                  },
                  true, "/org/freedesktop/machine1/machine/rd_2d" + id_),
              "org.freedesktop.DBus.Error.AccessDenied");
}

// Our nspawn registers over a socket it connected itself, so machined knows it as the supervisor and
// asks it (SIGTERM) to stop the machine: nspawn ends it with the machine's kill signal and exits cleanly,
// long before the timeout would have machined kill the cgroup.
TEST_F(Runtime, TerminateAsksTheSupervisorThatRegisteredTheMachine) {
    start_machined("terminate_timeout_sec = 120");
    auto p = start_registered("trap 'exit 0' TERM; while :; do sleep 0.1; done", {"--kill-signal=SIGTERM"});
    ASSERT_TRUE(wait_up(p));
    ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", machine_}; }));
    EXPECT_TRUE(manager("TerminateMachine", {"s", machine_}).exited(0));
    auto r = p.wait(60s);
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
    auto log = stop_machined();
    EXPECT_NE(log.err.find("SIGTERM to its supervisor (PID " + std::to_string(p.pid()) + ")"), std::string::npos)
        << log.describe();
    EXPECT_EQ(log.err.find("killing it"), std::string::npos) << log.describe();
}

// A leader registered by someone else than its parent: machined signals the leader itself, with the
// signal that fits it, and never the parent (here the test itself).
TEST_F(Runtime, TerminateSignalsALeaderWhoseParentDidNotRegisterIt) {
    start_machined("terminate_timeout_sec = 120");
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("lt-" + id_, leader.pid()).exited(0));
    EXPECT_TRUE(manager("TerminateMachine", {"s", "lt-" + id_}).exited(0));
    EXPECT_EQ(leader.wait(30s).term_signal, SIGTERM);
}

TEST_F(Runtime, TerminateThawsAFrozenMachineFirst) {
    start_machined("terminate_timeout_sec = 120");
    auto p = start_registered("trap 'exit 0' TERM; while :; do sleep 0.1; done", {"--kill-signal=SIGTERM"});
    ASSERT_TRUE(wait_up(p));
    ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", machine_}; }));
    auto path = "/org/freedesktop/machine1/machine/bb_2d" + id_;
    ASSERT_TRUE(busctl({"call", "org.freedesktop.machine1", path, "io.berth.Machine1", "Freeze"}).exited(0));
    EXPECT_TRUE(manager("TerminateMachine", {"s", machine_}).exited(0));
    auto r = p.wait(60s);
    EXPECT_TRUE(r.exited(0)) << r.describe();
    auto log = stop_machined();
    EXPECT_EQ(log.err.find("killing it"), std::string::npos) << log.describe();
}

// Under systemd, a machine in its own unit is stopped through systemd (StopUnit), as systemd-machined
// does. This bus has no systemd: machined says so and asks the machine itself instead.
TEST_F(Runtime, UnderSystemdTerminateStopsTheMachinesUnitFirst) {
    std::string name = "su-" + id_, unit = "nspawn@" + name + ".service";
    std::string cg = cgroup2_root() + "/" + unit;
    make_dirs(cg);
    {
        start_machined("terminate_timeout_sec = 120", true);
        auto leader = start_leader();
        write_file(cg + "/cgroup.procs", std::to_string(leader.pid()));
        ASSERT_TRUE(register_leader(name, leader.pid()).exited(0));
        EXPECT_EQ(machine_property(name, "Unit"), "s \"" + unit + "\"");
        EXPECT_TRUE(manager("TerminateMachine", {"s", name}).exited(0));
        EXPECT_EQ(leader.wait(30s).term_signal, SIGTERM);
        EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
        auto log = stop_machined();
        EXPECT_NE(log.err.find("Failed to stop unit " + unit + " of machine \"" + name + "\""), std::string::npos)
            << log.describe();
    }
    EXPECT_TRUE(eventually([&] { return ::rmdir(cg.c_str()) == 0; }));
}

}  // namespace
}  // namespace berth::test
