// Getting inside a Debian machine booted with systemd by our nspawn and registered with machined: login
// and shell go through the guest's own systemd on its own bus (container-getty@N.service, a transient
// container-shell@N.service), as with systemd-machined; Execute enters the machine directly and returns
// the command's status, with the confinement of the guest's PID 1.
#include <csignal>

#include "tests/integration/bus_fixture.hpp"
#include "tests/integration/shell_client.hpp"

namespace berth::test {
namespace {

class EnterDebian : public MachinedTest {
protected:
    void SetUp() override {
        MachinedTest::SetUp();
        if (HasFatalFailure()) return;
        if (!require_debian_rootfs()) return;
        name_ = "deb-" + id_;
        start_machined();
        if (HasFatalFailure()) return;
        nspawn_.emplace(start_nspawn({"-q", "--register=yes", "-D", debian_rootfs(), "-M", name_, "-x", "-b"},
                                     {.env = {bus_->env()}, .timeout = 600s}));
        // Booted: the guest's systemd says so (asked through Execute, which needs no bus in the guest).
        bool up = eventually(
            [&] {
                auto r = execute(name_, "", "/bin/systemctl", {"systemctl", "is-system-running"});
                return r.out == "running\n" || r.out == "degraded\n" || !nspawn_->running();
            },
            120s);
        ASSERT_TRUE(up && nspawn_->running()) << nspawn_->wait(0ms).describe();
        auto pw = execute(name_, "", "/usr/sbin/chpasswd", {}, {}, "root:debian-secret\n");
        ASSERT_EQ(pw.status, "exited 0") << pw.message << pw.err;
    }
    void TearDown() override {
        if (nspawn_) {
            nspawn_->signal(SIGTERM);
            nspawn_->wait(60s);
            nspawn_.reset();
        }
        MachinedTest::TearDown();
    }
    Executed sh(const std::string& script, const std::string& user = "") const {
        return execute(name_, user, "/bin/sh", {"sh", "-c", script});
    }

    std::string name_;
    std::optional<Process> nspawn_;
};

TEST_F(EnterDebian, ExecuteReturnsTheStatusAndKeepsTheStreamsApart) {
    auto r = sh("echo to-out; echo to-err >&2; exit 5");
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "to-out\n");
    EXPECT_EQ(r.err, "to-err\n");
    EXPECT_EQ(r.status, "exited 5");
}

TEST_F(EnterDebian, ExecuteRunsAsAUserCreatedInTheGuest) {
    ASSERT_EQ(execute(name_, "", "/usr/sbin/useradd", {"useradd", "-m", "-s", "/bin/bash", "bob"}).status, "exited 0");
    auto r = sh("id -un; pwd; echo $SHELL", "bob");
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "bob\n/home/bob\n/bin/bash\n");
    EXPECT_EQ(sh("true", "carol").error, "org.freedesktop.DBus.Error.InvalidArgs");
}

TEST_F(EnterDebian, ExecuteRunsWithTheConfinementOfTheGuestsSystemd) {
    auto r = sh(confinement_script({"CapBnd", "CapEff", "NoNewPrivs", "Seccomp", "Seccomp_filters"},
                                   {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}));
    ASSERT_EQ(r.error, "") << r.message;
    auto c = parse_confinement(r.out);
    EXPECT_EQ(c.own_cgroups, c.leader_cgroups);
    EXPECT_NE(c.own_cgroups.find("0::/init.scope"), std::string::npos) << c.own_cgroups;
    for (auto& [name, ours, theirs] : c.fields) {
        EXPECT_EQ(ours, theirs) << name;
        if (name == "Seccomp") {
            EXPECT_EQ(ours, "2");
        }
    }
    EXPECT_EQ(c.lines, 14) << r.out << r.err;
}

TEST_F(EnterDebian, OpenMachineLoginStartsContainerGettyOfTheGuestsSystemd) {
    auto o = open_login(name_);
    ASSERT_EQ(o.error, "") << o.message;
    ASSERT_TRUE(o.terminal.wait_for("login: ", 60s)) << o.terminal.output();
    std::string unit = "container-getty@" + o.terminal.path().substr(9) + ".service";
    EXPECT_EQ(sh("systemctl is-active " + unit).out, "active\n");
    o.terminal.type("root\n");
    ASSERT_TRUE(o.terminal.wait_for("Password: ")) << o.terminal.output();
    o.terminal.type("debian-secret\n");
    ASSERT_TRUE(o.terminal.wait_for("# ")) << o.terminal.output();  // the shell's prompt: input is read now
    // Not "; exit" on the same line: the getty that comes back vhangup()s the terminal, which may drop
    // what the shell wrote last before this end read it.
    o.terminal.type("echo logged-in-$((6*7))\n");
    EXPECT_TRUE(o.terminal.wait_for("logged-in-42")) << o.terminal.output();
    o.terminal.type("exit\n");
}

TEST_F(EnterDebian, OpenMachineShellRunsATransientContainerShellUnit) {
    auto o = open_shell(name_, "", "/bin/sh", {"sh", "-c", "echo in $(cat /proc/self/cgroup) as $(id -un) in $(pwd)"});
    ASSERT_EQ(o.error, "") << o.message;
    std::string unit = "container-shell@" + o.terminal.path().substr(9) + ".service";
    EXPECT_TRUE(o.terminal.wait_for("as root in /root")) << o.terminal.output();
    EXPECT_NE(o.terminal.output().find("/system.slice/system-container\\x2dshell.slice/" + unit), std::string::npos)
        << o.terminal.output();
}

TEST_F(EnterDebian, SystemdMachinectlShellRunsACommandThroughTheGuestsSystemd) {
    auto r = systemd_tool("/usr/bin/machinectl", {"-q", "shell", name_, "/bin/sh", "-c", "echo hello from $(cat /proc/1/comm)"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("hello from systemd"), std::string::npos) << r.describe();
}

TEST_F(EnterDebian, SystemdMachinectlLoginLogsIn) {
    Pty pty;
    auto p = start_systemd_tool_on(pty, "/usr/bin/machinectl", {"login", name_});
    ASSERT_TRUE(pty.wait_for("login: ", 60s)) << pty.output();
    pty.type("root\n");
    ASSERT_TRUE(pty.wait_for("Password: ", 30s)) << pty.output();
    pty.type("debian-secret\n");
    ASSERT_TRUE(pty.wait_for("# ", 30s)) << pty.output();  // the shell's prompt: input is read now
    pty.type("echo logged-in-$((6*7))\n");
    EXPECT_TRUE(pty.wait_for("logged-in-42", 30s)) << pty.output();
    pty.type("exit\n");
    pty.type("\x1d\x1d\x1d");  // Ctrl-] three times: machinectl leaves
    auto r = p.wait(30s);
    EXPECT_TRUE(r.exited(0)) << r.describe() << pty.output();
}

}  // namespace
}  // namespace berth::test
