// io.berth.Manager1 and io.berth.Machine1: freeze/thaw, live limits, start/enable of pool images.
#include <signal.h>
#include <sys/stat.h>

#include <thread>

#include "tests/integration/bus_fixture.hpp"

namespace berth::test {
namespace {

// io.berth.Manager1.StartMachine(name) through sdbus-c++: "" if it succeeded, else "ERROR: MESSAGE".
std::string start_machine_error(const std::string& name) {
    try {
        auto proxy = sdbus::createProxy(sdbus::createSystemBusConnection(), "org.freedesktop.machine1",
                                        "/org/freedesktop/machine1");
        proxy->callMethod("StartMachine").onInterface("io.berth.Manager1").withArguments(name);
    } catch (const sdbus::Error& e) {
        return e.getName() + ": " + e.getMessage();
    }
    return "";
}

class Berth : public MachinedTest {
protected:
    // The nspawn running a machine: the parent of its leader.
    pid_t supervisor_of(const std::string& name) const {
        std::string leader = machine_property(name, "Leader");  // "u PID"
        if (leader.size() < 3) return -1;
        std::string status = read_file("/proc/" + leader.substr(2) + "/status");
        auto at = status.find("\nPPid:");
        return at == std::string::npos ? -1 : std::stoi(status.substr(at + 6));
    }
    std::string events() const { return read_file(cgroup2_root() + "/berth/" + machine_ + "/cgroup.events"); }
    // An image in the pool whose init loops, writing a line per boot to /boots, and reboots once when
    // /reboot-once exists.
    std::string make_bootable_image(const std::string& name) const {
        std::string image = pool_ + "/" + name;
        auto r = make_busybox_rootfs(image);
        EXPECT_TRUE(r.exited(0)) << r.describe();
        write_file(image + "/bin/init",
                   "#!/bin/sh\necho boot >> /boots\n"
                   "if [ -e /reboot-once ]; then rm /reboot-once; reboot -f; fi\n"
                   "exec sleep 1000\n");
        ::chmod((image + "/bin/init").c_str(), 0755);
        return image;
    }
};

TEST_F(Berth, FreezeAndThawBusyGuest) {
    start_machined();
    auto p = start_registered("while :; do :; done");
    ASSERT_TRUE(wait_up(p));
    ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", machine_}; }));
    auto r = berth_manager("FreezeMachine", {"s", machine_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(events().find("frozen 1"), std::string::npos) << events();
    EXPECT_EQ(machine_property(machine_, "Frozen", "io.berth.Machine1"), "b true");
    r = berth_manager("ThawMachine", {"s", machine_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(events().find("frozen 0"), std::string::npos) << events();
    EXPECT_EQ(machine_property(machine_, "Frozen", "io.berth.Machine1"), "b false");
    // Frozen, it can still be terminated.
    ASSERT_TRUE(berth_manager("FreezeMachine", {"s", machine_}).exited(0));
    EXPECT_TRUE(manager("TerminateMachine", {"s", machine_}).exited(0));
    auto end = p.wait(60s);
    EXPECT_FALSE(end.timed_out) << end.describe();
}

TEST_F(Berth, SetMachineLimitsWritesTheCgroup) {
    start_machined();
    auto p = start_registered("sleep 1000");
    ASSERT_TRUE(wait_up(p));
    ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", machine_}; }));
    auto r = berth_manager("SetMachineLimits", {"sa(ss)", machine_, "2", "TasksMax", "77", "memory-max", "300M"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    // Wherever the pids controller is (v2, or v1 on hybrid hosts), the machine's processes are limited.
    std::string v2 = cgroup2_root() + "/berth/" + machine_ + "/pids.max";
    std::string v1 = "/sys/fs/cgroup/pids/berth/" + machine_ + "/pids.max";
    EXPECT_EQ(trim(read_file(exists(v2) ? v2 : v1)), "77");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& px) {
                  px.callMethod("SetMachineLimits").onInterface("io.berth.Manager1")
                      .withArguments(machine_, std::vector<sdbus::Struct<std::string, std::string>>{{"TasksMax", "lots"}});
              }),
              "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& px) {
                  px.callMethod("SetMachineLimits").onInterface("io.berth.Manager1")
                      .withArguments(machine_, std::vector<sdbus::Struct<std::string, std::string>>{{"Colour", "red"}});
              }),
              "org.freedesktop.DBus.Error.InvalidArgs");
    p.signal(SIGTERM);
    p.wait(60s);
}

// A request with one bad value changes nothing: no limit written, no v1 cgroup made, InvalidArgs.
TEST_F(Berth, SetMachineLimitsWithOneBadValueChangesNothing) {
    start_machined();
    auto p = start_registered("sleep 1000");
    ASSERT_TRUE(wait_up(p));
    ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", machine_}; }));
    auto v1_dirs = [&] {
        std::vector<std::string> found;
        for (auto* ctrl : {"cpuset", "memory", "pids", "cpu,cpuacct", "blkio"})
            if (exists(std::string("/sys/fs/cgroup/") + ctrl + "/berth/" + machine_))
                found.push_back(ctrl);
        return found;
    };
    std::string pids_v2 = cgroup2_root() + "/berth/" + machine_ + "/pids.max";
    std::string before = exists(pids_v2) ? read_file(pids_v2) : "";
    for (std::string cpus : {"0-9999", "1-0", "0,,1", "x"}) {
        EXPECT_EQ(bus_error_of([&](sdbus::IProxy& px) {
                      px.callMethod("SetMachineLimits").onInterface("io.berth.Manager1")
                          .withArguments(machine_, std::vector<sdbus::Struct<std::string, std::string>>{
                                                       {"MemoryMax", "100M"}, {"TasksMax", "7"}, {"AllowedCPUs", cpus}});
                  }),
                  "org.freedesktop.DBus.Error.InvalidArgs")
            << cpus;
    }
    EXPECT_EQ(v1_dirs(), std::vector<std::string>{}) << "cgroups made for a refused request";
    EXPECT_EQ(exists(pids_v2) ? read_file(pids_v2) : "", before);
    // A good one is applied, and what it made goes with the machine (the fixture checks no cgroup stays).
    auto r = berth_manager("SetMachineLimits", {"sa(ss)", machine_, "2", "TasksMax", "70", "AllowedCPUs", "0"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    p.signal(SIGTERM);
    p.wait(60s);
}

TEST_F(Berth, StartMachineBootsPoolImageAndRebootComesBack) {
    start_machined();
    std::string name = "boot-" + id_;
    std::string image = make_bootable_image(name);
    write_file(image + "/reboot-once", "");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& px) {
                  px.callMethod("StartMachine").onInterface("io.berth.Manager1").withArguments(std::string("nope-") + id_);
              }),
              "org.freedesktop.machine1.NoSuchImage");
    auto r = berth_manager("StartMachine", {"s", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_TRUE(eventually([&] { return read_file(image + "/boots") == "boot\nboot\n"; }, 60s))
        << "boots: " << read_file(image + "/boots");
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", name}; }));
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& px) {
                  px.callMethod("StartMachine").onInterface("io.berth.Manager1").withArguments(name);
              }),
              "org.freedesktop.machine1.MachineExists");
    pid_t nspawn = supervisor_of(name);
    ASSERT_GT(nspawn, 1);
    EXPECT_TRUE(manager("TerminateMachine", {"s", name}).exited(0));
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }, 60s));
    // nspawn cleans up after its guest (locks, cgroups) before it exits.
    EXPECT_TRUE(eventually([&] { return process_dead(nspawn); }, 60s));
}

// machined starts pool images with nspawn -D, which is not told it is a pool: machined closes the pool
// as nspawn -M does (its images' set-user-ID programs belong to host root).
TEST_F(Berth, StartMachineClosesAPoolOtherUsersCanEnter) {
    start_machined();
    std::string name = "open-" + id_;
    make_bootable_image(name);
    ASSERT_EQ(::chmod(pool_.c_str(), 0755), 0);
    EXPECT_EQ(start_machine_error(name), "");
    struct stat st {};
    ASSERT_EQ(::stat(pool_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    EXPECT_TRUE(manager("TerminateMachine", {"s", name}).exited(0));
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
}

TEST_F(Berth, StartMachineReportsAnImageThatDoesNotBoot) {
    start_machined();
    // The plain busybox image has no init: nspawn -b fails, and StartMachine says so.
    std::string name = "noinit-" + id_;
    auto r = make_busybox_rootfs(pool_ + "/" + name);
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::string error = start_machine_error(name);
    EXPECT_NE(error.find("org.freedesktop.DBus.Error.Failed"), std::string::npos) << error;
    EXPECT_NE(error.find("did not start"), std::string::npos) << error;
    EXPECT_EQ(machine_names(), std::vector<std::string>{".host"});
}

// An nspawn that neither registers its machine nor exits (a stand-in that only sleeps): StartMachine
// fails after start_timeout_sec instead of never answering, and that nspawn is stopped.
class StuckStart : public MachinedTest {
protected:
    void SetUp() override {
        MachinedTest::SetUp();
        name_ = "stuck-" + id_;
        fake_ = tmp_ + "/stuck-nspawn";
        pid_file_ = tmp_ + "/stuck.pid";
        write_file(fake_, "#!/bin/sh\necho $$ > " + pid_file_ + "\nexec sleep 1000\n");
        ::chmod(fake_.c_str(), 0755);
        auto r = make_busybox_rootfs(pool_ + "/" + name_);
        ASSERT_TRUE(r.exited(0)) << r.describe();
    }
    pid_t stuck_pid() const {
        std::string text = read_file(pid_file_);
        return text.empty() ? -1 : std::stoi(text);
    }
    std::string fake_, pid_file_, name_;
};

TEST_F(StuckStart, StartMachineFailsWhenNspawnNeverRegistersAndStopsIt) {
    start_machined("start_timeout_sec = 1\nnspawn = \"" + fake_ + "\"\n");
    std::string error = start_machine_error(name_);
    EXPECT_NE(error.find("did not register it within 1 s"), std::string::npos) << error;
    pid_t pid = stuck_pid();
    ASSERT_GT(pid, 0);
    EXPECT_TRUE(eventually([&] { return process_dead(pid); })) << "the stuck nspawn was not stopped";
    EXPECT_EQ(machine_names(), std::vector<std::string>{".host"});
}

TEST_F(StuckStart, TerminateStopsAnNspawnThatHasNotRegistered) {
    start_machined("start_timeout_sec = 0\nnspawn = \"" + fake_ + "\"\n");
    std::string error = "unanswered";
    std::thread caller([&] { error = start_machine_error(name_); });
    bool started = eventually([&] { return stuck_pid() > 0; });
    pid_t pid = stuck_pid();
    auto r = manager("TerminateMachine", {"s", name_});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    caller.join();
    ASSERT_TRUE(started);
    EXPECT_NE(error.find("did not start"), std::string::npos) << error;
    EXPECT_TRUE(eventually([&] { return process_dead(pid); })) << "the stuck nspawn was not stopped";
}

TEST_F(Berth, UnderSystemdEnableLinksTheUnitAndStartAsksSystemd) {
    std::string name = "sd-" + id_;
    make_bootable_image(name);
    start_machined("", true);
    std::string wants = "/proc/" + std::to_string(machined_->pid()) +
                        "/root/etc/systemd/system/machines.target.wants/nspawn@" + name + ".service";
    auto r = berth_manager("EnableMachine", {"s", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_link(wants), "/etc/systemd/system/nspawn@.service");
    EXPECT_TRUE(exists(enabled_dir_ + "/" + name));
    // Enabled machines are systemd's to start at boot, not machined's.
    EXPECT_EQ(machine_names(), std::vector<std::string>{".host"});
    // StartMachine goes to systemd's StartUnit; this bus has no systemd, and the error says which unit.
    std::string error = start_machine_error(name);
    EXPECT_NE(error.find("nspawn@" + name + ".service"), std::string::npos) << error;
    EXPECT_TRUE(berth_manager("DisableMachine", {"s", name}).exited(0));
    EXPECT_FALSE(exists(wants));
    EXPECT_FALSE(exists(enabled_dir_ + "/" + name));
}

TEST_F(Berth, EnabledMachinesStartWithMachined) {
    std::string name = "auto-" + id_;
    std::string image = make_bootable_image(name);
    start_machined();
    EXPECT_TRUE(berth_manager("EnableMachine", {"s", name}).exited(0));
    EXPECT_TRUE(exists(enabled_dir_ + "/" + name));
    auto prop = busctl({"get-property", "org.freedesktop.machine1", "/org/freedesktop/machine1", "io.berth.Manager1",
                        "EnabledMachines"});
    EXPECT_EQ(trim(prop.out), "as 1 \"" + name + "\"");
    stop_machined();
    start_machined();
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host", name}; }, 60s));
    EXPECT_EQ(machine_property(name, "Enabled", "io.berth.Machine1"), "b true");
    EXPECT_TRUE(berth_manager("DisableMachine", {"s", name}).exited(0));
    EXPECT_FALSE(exists(enabled_dir_ + "/" + name));
    pid_t nspawn = supervisor_of(name);
    ASSERT_GT(nspawn, 1);
    EXPECT_TRUE(manager("TerminateMachine", {"s", name}).exited(0));
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }, 60s));
    EXPECT_TRUE(eventually([&] { return process_dead(nspawn); }, 60s));
}

}  // namespace
}  // namespace berth::test
