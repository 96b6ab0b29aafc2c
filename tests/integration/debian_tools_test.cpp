// systemd's own tools (and our machinectl status) reaching into a Debian 12 guest of our nspawn,
// registered with our machined on the test's private bus: they find the machine through the machines file machined writes (bound at
// /run/systemd/machines in the tools' mount namespace), enter the leader's namespaces and talk to the
// guest's own bus. And TerminateMachine shutting such a guest down cleanly. Each test boots its own guest
// on an ephemeral overlay of the cached rootfs (as DebianTest does) and waits for multi-user.target
// through the probe unit (tests/fixtures/berth-probe.service, told to stay up).
#include <signal.h>

#include <algorithm>

#include "tests/integration/bus_fixture.hpp"
#include "tests/integration/machinectl_fixture.hpp"

namespace berth::test {
namespace {

class DebianGuest : public MachinedTest {
protected:
    void SetUp() override {
        MachinedTest::SetUp();
        if (HasFatalFailure() || !require_debian_rootfs()) return;
        name_ = "deb-" + id_;
        probe_ = tmp_ + "/probe";
    }

    // Boots the guest, registered with machined, and waits until multi-user.target is reached.
    void boot(const std::string& machined_config = "") {
        start_machined(machined_config);
        guest_.emplace(boot_registered_debian(name_, probe_));
    }

    void TearDown() override {
        if (guest_ && guest_->running()) {
            guest_->signal(SIGTERM);
            (void)guest_->wait(60s);
        }
        guest_.reset();
        MachinedTest::TearDown();
    }

    RunResult tool(const std::string& path, std::vector<std::string> args, Millis timeout = 60s) const {
        return systemd_tool(path, args, timeout);
    }

    std::string name_, probe_;
    std::optional<Process> guest_;
};

TEST_F(DebianGuest, SystemctlMachineIsSystemRunning) {
    boot();
    auto r = tool("/usr/bin/systemctl", {"-M", name_, "is-system-running", "--wait"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "running\n") << r.describe();
}

TEST_F(DebianGuest, JournalctlMachineShowsTheGuestsJournal) {
    boot();
    auto r = tool("/usr/bin/journalctl", {"-M", name_, "-n", "5", "--no-pager", "-o", "cat"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 5) << r.describe();
    // The guest's own journal (its /run/log/journal, a mount only the guest sees): this boot's systemd.
    auto boot = tool("/usr/bin/journalctl", {"-M", name_, "--no-pager", "-o", "cat", "_PID=1"});
    EXPECT_NE(boot.out.find("Reached target multi-user.target"), std::string::npos) << boot.describe();
}

TEST_F(DebianGuest, HostnamectlMachineShowsTheGuestsHostname) {
    boot();
    auto r = tool("/usr/bin/hostnamectl", {"-M", name_, "status"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    // hostnamed of the guest answers: the guest's own hostname (its /etc/hostname), its OS, a container.
    std::string hostname = trim(read_file(debian_rootfs() + "/etc/hostname"));
    EXPECT_NE(r.out.find("Static hostname: " + hostname + "\n"), std::string::npos) << r.describe();
    EXPECT_NE(r.out.find("Operating System: Debian GNU/Linux 12"), std::string::npos) << r.describe();
    EXPECT_NE(r.out.find("Chassis: container"), std::string::npos) << r.describe();
}

TEST_F(DebianGuest, LoginctlMachineListsTheGuestsSessions) {
    boot();
    auto r = tool("/usr/bin/loginctl", {"-M", name_, "list-sessions"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    // logind of the guest answers; nobody has logged in there.
    EXPECT_EQ(r.out, "No sessions.\n") << r.describe();
}

TEST_F(DebianGuest, SystemdRunMachineWaitPipeReturnsTheCommandsExitStatus) {
    boot();
    auto r = tool("/usr/bin/systemd-run", {"-M", name_, "--wait", "--pipe", "-q", "/bin/sh", "-c", "exit 7"});
    EXPECT_EQ(r.exit_code, 7) << r.describe();
}

TEST_F(DebianGuest, SystemdRunMachinePipesStdinAndStdout) {
    boot();
    auto r = systemd_tool("/usr/bin/systemd-run",
                          {"-M", name_, "--wait", "--pipe", "-q", "/bin/sh", "-c", "cat; cat /etc/hostname"}, 60s,
                          "hello from the host\n");
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "hello from the host\n" + read_file(debian_rootfs() + "/etc/hostname")) << r.describe();
}

TEST_F(DebianGuest, BusctlMachineListsTheGuestsBus) {
    boot();
    auto r = tool("/usr/bin/busctl", {"-M", name_, "list", "--no-pager"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("org.freedesktop.systemd1"), std::string::npos) << r.describe();
}

// SIGTERM to a booted guest's systemd means "re-execute": machined asks nspawn (the supervisor that
// registered it) instead, which sends SIGRTMIN+3; the guest halts cleanly and nspawn exits 0 (a guest
// killed by SIGKILL makes it exit 137). With a timeout far beyond the test's wait, a SIGKILL could only
// come from machined, whose log would say "killing it".
TEST_F(DebianGuest, TerminateShutsABootedGuestDownCleanly) {
    boot("terminate_timeout_sec = 600");
    auto r = manager("TerminateMachine", {"s", name_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto ended = guest_->wait(120s);
    EXPECT_TRUE(ended.exited(0)) << ended.describe();
    EXPECT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
    auto log = stop_machined();
    EXPECT_NE(log.err.find("SIGTERM to its supervisor (PID " + std::to_string(guest_->pid()) + ")"), std::string::npos)
        << log.describe();
    EXPECT_EQ(log.err.find("killing it"), std::string::npos) << log.describe();
}

// A booted guest's systemd moves itself into init.scope: machinectl status shows the machine's whole
// cgroup, the services the guest runs included.
TEST_F(DebianGuest, MachinectlStatusShowsTheWholeCgroupTree) {
    boot();
    auto r = run(machinectl_path(), {"status", name_, "--no-pager"}, {.env = {bus_->env()}});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("CGroup: /berth/" + name_ + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("init.scope"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("system.slice"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("systemd-journald.service"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace berth::test
