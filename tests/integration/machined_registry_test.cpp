// The registry through the bus: registration, lookups, properties, object paths, signals, leader death.
#include <signal.h>

#include "tests/integration/bus_fixture.hpp"

namespace berth::test {
namespace {

using Registry = MachinedTest;

TEST_F(Registry, HostMachineAlwaysExists) {
    start_machined();
    EXPECT_EQ(machine_names(), std::vector<std::string>{".host"});
    auto path = manager("GetMachine", {"s", ".host"});
    EXPECT_EQ(path.out, "o \"/org/freedesktop/machine1/machine/_2ehost\"\n") << path.describe();
    EXPECT_EQ(machine_property(".host", "Class"), "s \"host\"");
    EXPECT_EQ(machine_property(".host", "Leader"), "u 1");
    EXPECT_EQ(machine_property(".host", "RootDirectory"), "s \"/\"");
}

TEST_F(Registry, RegisteredMachineIsListedWithItsProperties) {
    start_machined();
    auto leader = start_leader();
    auto r = manager("RegisterMachineWithNetwork",
                     {"sayssusai", "web-" + id_, "16", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
                      "13", "14", "15", "16", "nspawn", "container", std::to_string(leader.pid()), "/srv/web", "1", "7"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "o \"/org/freedesktop/machine1/machine/web_2d" + id_ + "\"\n");
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host", "web-" + id_}));
    EXPECT_EQ(machine_property("web-" + id_, "Name"), "s \"web-" + id_ + "\"");
    EXPECT_EQ(machine_property("web-" + id_, "Leader"), "u " + std::to_string(leader.pid()));
    EXPECT_EQ(machine_property("web-" + id_, "Service"), "s \"nspawn\"");
    EXPECT_EQ(machine_property("web-" + id_, "Class"), "s \"container\"");
    EXPECT_EQ(machine_property("web-" + id_, "RootDirectory"), "s \"/srv/web\"");
    EXPECT_EQ(machine_property("web-" + id_, "NetworkInterfaces"), "ai 1 7");
    EXPECT_EQ(machine_property("web-" + id_, "Id"), "ay 16 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16");
    EXPECT_EQ(machine_property("web-" + id_, "State"), "s \"running\"");
    EXPECT_EQ(machine_property("web-" + id_, "Frozen", "io.berth.Machine1"), "b false");
    EXPECT_TRUE(exists(state_dir_ + "/machines/web-" + id_));
    EXPECT_TRUE(manager("UnregisterMachine", {"s", "web-" + id_}).exited(0));
    EXPECT_EQ(machine_names(), std::vector<std::string>{".host"});
    EXPECT_FALSE(exists(state_dir_ + "/machines/web-" + id_));
    EXPECT_TRUE(leader.running()) << "unregistering must not stop the machine";
}

TEST_F(Registry, ObjectPathsEscapeLabels) {
    start_machined();
    auto a = start_leader(), b = start_leader();
    ASSERT_TRUE(register_leader("9x" + id_, a.pid()).exited(0));
    ASSERT_TRUE(register_leader("deb-1" + id_, b.pid()).exited(0));
    EXPECT_EQ(manager("GetMachine", {"s", "9x" + id_}).out, "o \"/org/freedesktop/machine1/machine/_39x" + id_ + "\"\n");
    EXPECT_EQ(manager("GetMachine", {"s", "deb-1" + id_}).out,
              "o \"/org/freedesktop/machine1/machine/deb_2d1" + id_ + "\"\n");
    // Node enumeration: the machines are children of .../machine in the introspection.
    auto intro = busctl({"introspect", "--xml-interface", "org.freedesktop.machine1", "/org/freedesktop/machine1/machine"});
    EXPECT_NE(intro.out.find("<node name=\"_39x" + id_ + "\""), std::string::npos) << intro.out;
    EXPECT_NE(intro.out.find("<node name=\"deb_2d1" + id_ + "\""), std::string::npos) << intro.out;
    EXPECT_NE(intro.out.find("<node name=\"_2ehost\""), std::string::npos) << intro.out;
}

TEST_F(Registry, LeaderDeathRemovesMachine) {
    start_machined();
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("dies-" + id_, leader.pid()).exited(0));
    leader.signal(SIGKILL);
    leader.wait(5s);
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
    EXPECT_FALSE(exists(state_dir_ + "/machines/dies-" + id_));
}

TEST_F(Registry, SignalsAnnounceNewAndRemovedMachines) {
    start_machined();
    auto connection = sdbus::createSystemBusConnection();
    auto proxy = sdbus::createProxy(*connection, "org.freedesktop.machine1", "/org/freedesktop/machine1");
    std::vector<std::string> seen;
    proxy->uponSignal("MachineNew").onInterface("org.freedesktop.machine1.Manager").call(
        [&](const std::string& name, const sdbus::ObjectPath& path) { seen.push_back("new " + name + " " + path); });
    proxy->uponSignal("MachineRemoved").onInterface("org.freedesktop.machine1.Manager").call(
        [&](const std::string& name, const sdbus::ObjectPath&) { seen.push_back("removed " + name); });
    proxy->finishRegistration();
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("sig-" + id_, leader.pid()).exited(0));
    leader.signal(SIGKILL);
    leader.wait(5s);
    EXPECT_TRUE(eventually([&] {
        while (connection->processPendingRequest()) {
        }
        return seen.size() >= 2;
    }));
    EXPECT_EQ(seen, (std::vector<std::string>{"new sig-" + id_ + " /org/freedesktop/machine1/machine/sig_2d" + id_,
                                              "removed sig-" + id_}));
}

TEST_F(Registry, GetMachineByPidFindsLeaderHostAndNothingElse) {
    start_machined();
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("bypid-" + id_, leader.pid()).exited(0));
    EXPECT_EQ(manager("GetMachineByPID", {"u", std::to_string(leader.pid())}).out,
              "o \"/org/freedesktop/machine1/machine/bypid_2d" + id_ + "\"\n");
    EXPECT_EQ(manager("GetMachineByPID", {"u", "1"}).out, "o \"/org/freedesktop/machine1/machine/_2ehost\"\n");
    EXPECT_EQ(bus_error_of([](sdbus::IProxy& p) {
                  p.callMethod("GetMachineByPID").onInterface("org.freedesktop.machine1.Manager").withArguments(
                      static_cast<uint32_t>(::getpid()));
              }),
              "org.freedesktop.machine1.NoMachineForPID");
}

TEST_F(Registry, CreateMachineMovesLeaderIntoItsOwnCgroupAndTerminateStopsIt) {
    start_machined();
    auto leader = start_leader();
    std::string name = "made-" + id_;
    auto r = manager("CreateMachine", {"sayssusa(sv)", name, "0", "test", "container", std::to_string(leader.pid()), "/", "0"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(unified_cgroup_of(leader.pid()), "/berth/" + name);
    // A child of the leader is in the machine too.
    EXPECT_TRUE(manager("TerminateMachine", {"s", name}).exited(0));
    EXPECT_EQ(leader.wait(30s).term_signal, SIGTERM);
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
    EXPECT_FALSE(exists(cgroup2_root() + "/berth/" + name));
}

TEST_F(Registry, KillMachineSignalsLeader) {
    start_machined();
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("kill-" + id_, leader.pid()).exited(0));
    EXPECT_TRUE(manager("KillMachine", {"ssi", "kill-" + id_, "leader", std::to_string(SIGUSR1)}).exited(0));
    EXPECT_EQ(leader.wait(30s).term_signal, SIGUSR1);
}

TEST_F(Registry, KillAllReachesEveryProcessOfTheMachine) {
    start_machined();
    std::string pidfile = tmp_ + "/child";
    auto leader = Process::start("/bin/sh", {"-c", "sleep 1000 & echo $! > " + pidfile + "; wait"}, {.timeout = 600s});
    ASSERT_TRUE(wait_for_file(pidfile, leader, 10s));
    ASSERT_TRUE(eventually([&] { return !trim(read_file(pidfile)).empty(); }));
    pid_t child = std::stoi(read_file(pidfile));
    std::string name = "all-" + id_;
    ASSERT_TRUE(manager("CreateMachine", {"sayssusa(sv)", name, "0", "test", "container", std::to_string(leader.pid()), "/", "0"})
                    .exited(0));
    // The child was forked before the leader moved: move it too, as a machine's processes would be.
    write_file(cgroup2_root() + "/berth/" + name + "/cgroup.procs", std::to_string(child));
    EXPECT_TRUE(manager("KillMachine", {"ssi", name, "all", std::to_string(SIGKILL)}).exited(0));
    EXPECT_EQ(leader.wait(30s).term_signal, SIGKILL);
    EXPECT_TRUE(eventually([&] { return process_dead(child); }));
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
}

TEST_F(Registry, HostQueries) {
    start_machined();
    auto os = manager("GetMachineOSRelease", {"s", ".host"});
    EXPECT_TRUE(os.exited(0)) << os.describe();
    EXPECT_NE(os.out.find("\"ID\""), std::string::npos) << os.out;
    EXPECT_EQ(manager("GetMachineUIDShift", {"s", ".host"}).out, "u 0\n");
    EXPECT_EQ(manager("MapFromMachineUser", {"su", ".host", "1000"}).out, "u 1000\n");
    EXPECT_TRUE(manager("GetMachineAddresses", {"s", ".host"}).exited(0));
}

TEST_F(Registry, SelfIsTheCallersMachine) {
    start_machined();
    auto name = busctl({"get-property", "org.freedesktop.machine1", "/org/freedesktop/machine1/machine/self",
                        "org.freedesktop.machine1.Machine", "Name"});
    EXPECT_EQ(name.out, "s \".host\"\n") << name.describe();
}

TEST_F(Registry, SelfAndPidZeroFromInsideAMachine) {
    start_machined();
    auto leader = start_leader();
    std::string name = "inside-" + id_;
    ASSERT_TRUE(manager("CreateMachine", {"sayssusa(sv)", name, "0", "test", "container", std::to_string(leader.pid()),
                                          "/", "0"})
                    .exited(0));
    // busctl joins the machine's cgroup first: machined knows it by that, not by its pid.
    std::string join = "echo $$ > " + cgroup2_root() + "/berth/" + name + "/cgroup.procs && exec \"$@\"";
    auto self = run("/bin/sh", {"-c", join, "sh", "/usr/bin/busctl", "--system", "get-property",
                                "org.freedesktop.machine1", "/org/freedesktop/machine1/machine/self",
                                "org.freedesktop.machine1.Machine", "Name"},
                    {.env = {bus_->env()}});
    EXPECT_EQ(self.out, "s \"" + name + "\"\n") << self.describe();
    auto by_pid = run("/bin/sh", {"-c", join, "sh", "/usr/bin/busctl", "--system", "call", "org.freedesktop.machine1",
                                  "/org/freedesktop/machine1", "org.freedesktop.machine1.Manager", "GetMachineByPID",
                                  "u", "0"},
                      {.env = {bus_->env()}});
    EXPECT_EQ(by_pid.out, "o \"/org/freedesktop/machine1/machine/inside_2d" + id_ + "\"\n") << by_pid.describe();
    EXPECT_TRUE(manager("TerminateMachine", {"s", name}).exited(0));
    leader.wait(30s);
}

TEST_F(Registry, AllowedGroupMayChangeMachines) {
    start_machined("allowed_groups = [\"nogroup\"]");
    // Their own process: root's would be refused (see below).
    auto leader = Process::start("/usr/bin/setpriv", {"--reuid=65534", "--regid=65534", "--clear-groups", "--",
                                                      "/bin/sleep", "1000"},
                                 {.timeout = 600s});
    ASSERT_TRUE(eventually([&] { return trim(read_file("/proc/" + std::to_string(leader.pid()) + "/comm")) == "sleep"; }));
    auto roots = start_leader();
    std::string name = "grp-" + id_;
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("RegisterMachine").onInterface("org.freedesktop.machine1.Manager")
                      .withArguments(name, std::vector<uint8_t>{}, std::string("t"), std::string("container"),
                                     static_cast<uint32_t>(roots.pid()), std::string("/"));
              },
                           true),
              "org.freedesktop.DBus.Error.AccessDenied");
    // User nobody, group nogroup: allowed by the configuration.
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("RegisterMachine").onInterface("org.freedesktop.machine1.Manager")
                      .withArguments(name, std::vector<uint8_t>{}, std::string("t"), std::string("container"),
                                     static_cast<uint32_t>(leader.pid()), std::string("/"));
              },
                           true),
              "");
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host", name}));
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("UnregisterMachine").onInterface("org.freedesktop.machine1.Manager").withArguments(name);
              },
                           true),
              "");
    EXPECT_EQ(machine_names(), std::vector<std::string>{".host"});
}

TEST_F(Registry, SigtermLeavesMachinesRunning) {
    start_machined();
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("stays-" + id_, leader.pid()).exited(0));
    auto r = stop_machined();
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_TRUE(leader.running());
    EXPECT_TRUE(exists(state_dir_ + "/machines/stays-" + id_));
    start_machined();
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host", "stays-" + id_}));
}

}  // namespace
}  // namespace berth::test
