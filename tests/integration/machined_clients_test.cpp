// Clients other than ours against machined: systemd's machinectl and systemd-nspawn, and our nspawn.
#include <signal.h>

#include <sstream>

#include "tests/integration/bus_fixture.hpp"

namespace berth::test {
namespace {

class Clients : public MachinedTest {};

TEST_F(Clients, SystemdMachinectlListStatusShow) {
    start_machined();
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("sd-" + id_, leader.pid()).exited(0));
    auto list = systemd_tool("machinectl", {"list", "--no-legend"});
    EXPECT_TRUE(list.exited(0)) << list.describe();
    EXPECT_NE(list.out.find("sd-" + id_), std::string::npos) << list.describe();
    auto status = systemd_tool("machinectl", {"status", "sd-" + id_});
    EXPECT_TRUE(status.exited(0)) << status.describe();
    EXPECT_NE(status.out.find("Leader: " + std::to_string(leader.pid())), std::string::npos) << status.describe();
    auto show = systemd_tool("machinectl", {"show", "sd-" + id_, "-p", "Class", "--value"});
    EXPECT_TRUE(show.exited(0)) << show.describe();
    EXPECT_EQ(show.out, "container\n");
}

TEST_F(Clients, SystemdMachinectlPoweroffRebootKillTerminate) {
    start_machined();
    auto a = start_leader(), b = start_leader(), c = start_leader(), d = start_leader();
    for (auto [name, p] : {std::pair{"off", &a}, {"reb", &b}, {"kil", &c}, {"ter", &d}})
        ASSERT_TRUE(register_leader(std::string(name) + "-" + id_, p->pid()).exited(0));
    EXPECT_TRUE(systemd_tool("machinectl", {"poweroff", "off-" + id_}).exited(0));
    EXPECT_EQ(a.wait(30s).term_signal, SIGRTMIN + 4);
    EXPECT_TRUE(systemd_tool("machinectl", {"reboot", "reb-" + id_}).exited(0));
    EXPECT_EQ(b.wait(30s).term_signal, SIGINT);
    EXPECT_TRUE(systemd_tool("machinectl", {"kill", "--kill-who=leader", "-s", "USR2", "kil-" + id_}).exited(0));
    EXPECT_EQ(c.wait(30s).term_signal, SIGUSR2);
    EXPECT_TRUE(systemd_tool("machinectl", {"terminate", "ter-" + id_}).exited(0));
    EXPECT_EQ(d.wait(30s).term_signal, SIGTERM);
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
}

TEST_F(Clients, OurNspawnRegistersAndUnregisters) {
    start_machined();
    auto p = start_registered("sleep 1000");
    ASSERT_TRUE(wait_up(p));
    ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", machine_}; }));
    EXPECT_EQ(machine_property(machine_, "Service"), "s \"nspawn\"");
    EXPECT_EQ(machine_property(machine_, "RootDirectory"), "s \"" + root_ + "\"");
    auto os = manager("GetMachineOSRelease", {"s", machine_});
    EXPECT_NE(os.out.find("\"busybox\""), std::string::npos) << os.describe();
    // Terminate: the guest's sh (PID 1) ignores SIGTERM, so the cgroup is killed after the timeout.
    EXPECT_TRUE(manager("TerminateMachine", {"s", machine_}).exited(0));
    auto r = p.wait(60s);
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
}

TEST_F(Clients, OurNspawnExitsQuietlyAfterMachinedDroppedTheMachine) {
    start_machined();
    // The guest ends, machined drops the machine on its leader's death, nspawn's UnregisterMachine then
    // finds nothing: that is the normal end, not worth a warning.
    auto r = nspawn({"-q", "--register=yes", "-D", root_, "/bin/sh", "-c", "echo ran"}, {.env = {bus_->env()}});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "ran\n");
    EXPECT_EQ(r.err, "");
}

TEST_F(Clients, AddressesAndIdMappingsComeFromInsideTheMachine) {
    start_machined();
    // A veth link whose guest end gets an address; the guest's user namespace maps its ids.
    auto p = start_nspawn({"-q", "--register=yes", "-n", "-D", root_, "--bind=" + sync_ + ":/sync:idmap", "/bin/sh",
                           "-c", "ip link set host0 up && ip addr add 10.251.7.2/24 dev host0 && touch /sync/up; sleep 1000"},
                          {.env = {bus_->env()}, .timeout = 120s});
    ASSERT_TRUE(wait_up(p));
    ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", machine_}; }));
    auto addresses = manager("GetMachineAddresses", {"s", machine_});
    EXPECT_NE(addresses.out.find("2 4 10 251 7 2"), std::string::npos) << addresses.describe();
    EXPECT_NE(machine_property(machine_, "NetworkInterfaces"), "ai 0");

    pid_t leader = guest_pid1(p.pid());
    std::istringstream map(read_file("/proc/" + std::to_string(leader) + "/uid_map"));
    uint64_t inner = 0, outer = 0, count = 0;
    map >> inner >> outer >> count;
    ASSERT_EQ(inner, 0u);
    EXPECT_EQ(manager("GetMachineUIDShift", {"s", machine_}).out, "u " + std::to_string(outer) + "\n");
    EXPECT_EQ(manager("MapFromMachineUser", {"su", machine_, "1000"}).out, "u " + std::to_string(outer + 1000) + "\n");
    EXPECT_EQ(manager("MapToMachineUser", {"u", std::to_string(outer + 1000)}).out,
              "sou \"" + machine_ + "\" \"/org/freedesktop/machine1/machine/bb_2d" + id_ + "\" 1000\n");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& px) {
                  px.callMethod("MapFromMachineUser").onInterface("org.freedesktop.machine1.Manager")
                      .withArguments(machine_, uint32_t{4000000000u});
              }),
              "org.freedesktop.machine1.NoSuchUserMapping");
    p.signal(SIGTERM);
    EXPECT_FALSE(p.wait(60s).timed_out);
}

TEST_F(Clients, SystemdNspawnRegistersWithKeepUnit) {
    start_machined();
    // With --keep-unit systemd-nspawn splits "its unit's" cgroup into payload/ and supervisor/: give it a
    // cgroup of the test's own (in the unified and the name=systemd hierarchies), removed afterwards.
    std::string unit = "/berth-test-" + id_;
    std::vector<std::string> roots = {cgroup2_root()};
    if (exists("/sys/fs/cgroup/systemd/cgroup.procs")) roots.push_back("/sys/fs/cgroup/systemd");
    std::string enter;
    for (auto& r : roots) {
        make_dirs(r + unit);
        enter += "echo $$ > " + r + unit + "/cgroup.procs && ";
    }
    {
        auto p = Process::start("/usr/bin/unshare",
                                {"-m", "--propagation", "private", "/bin/sh", "-c",
                                 enter + "mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && exec \"$@\"",
                                 "sh", "/usr/bin/systemd-nspawn", "-q", "--keep-unit", "--register=yes", "-D", root_, "-M",
                                 "sdn-" + id_, "--bind=" + sync_ + ":/sync", "/bin/sh", "-c", "touch /sync/up; sleep 1000"},
                                {.env = {bus_->env()}, .timeout = 120s});
        EXPECT_TRUE(wait_up(p)) << "systemd-nspawn did not start the machine";
        EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", "sdn-" + id_}; }));
        EXPECT_EQ(machine_property("sdn-" + id_, "Service"), "s \"systemd-nspawn\"");
        EXPECT_EQ(machine_property("sdn-" + id_, "Leader"), "u " + std::to_string(guest_pid1(p.pid())));
        EXPECT_TRUE(manager("KillMachine", {"ssi", "sdn-" + id_, "leader", std::to_string(SIGKILL)}).exited(0));
        auto r = p.wait(60s);
        EXPECT_FALSE(r.timed_out) << r.describe();
        EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
    }
    for (auto& r : roots) {
        for (const char* sub : {"/payload", "/supervisor", ""}) ::rmdir((r + unit + sub).c_str());
        EXPECT_FALSE(exists(r + unit)) << r + unit << " still in use";
    }
}

}  // namespace
}  // namespace berth::test
