// Getting inside a busybox machine (no systemd, no bus) through machined: io.berth.Machine1's Execute and
// ExecutePTY, and systemd 252's OpenMachinePTY, OpenMachineShell and OpenMachineLogin, which machined
// serves here by entering the machine itself. Whatever runs inside has exactly the leader's namespaces,
// cgroup, capabilities, no_new_privs and system call filter.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "common/fd.hpp"
#include "tests/integration/bus_fixture.hpp"
#include "tests/integration/shell_client.hpp"

namespace berth::test {
namespace {

// alice's password is "wonderland" (busybox mkpasswd -m sha512), in passwd itself: busybox login needs no shadow.
constexpr const char* kAliceHash =
    "$6$berthtestsalt$Fl9b1MUhW6ckoI94MDV92q.vcWzgTrDXy/09M.81mzrxZVd6keok/8gnHd7/EtaGrOYVxcvYJPGOcj.2iUPyJ.";

// At the login prompt of `t`: logs in as alice, up to her shell's prompt (input is read from then on).
::testing::AssertionResult log_in_as_alice(Terminal& t) {
    if (!t.wait_for("login: ")) return ::testing::AssertionFailure() << "no login prompt: " << t.output();
    t.type("alice\n");
    if (!t.wait_for("Password: ")) return ::testing::AssertionFailure() << "no password prompt: " << t.output();
    t.type("wonderland\n");
    if (!t.wait_for("$ ")) return ::testing::AssertionFailure() << "no shell prompt: " << t.output();
    return ::testing::AssertionSuccess();
}

class Enter : public MachinedTest {
protected:
    void SetUp() override {
        MachinedTest::SetUp();
        if (HasFatalFailure()) return;
        std::filesystem::copy_file(BERTH_SYSCALL_PROBE, root_ + "/bin/syscall-probe");
        write_file(root_ + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                                          "alice:" + std::string(kAliceHash) + ":1000:1000:Alice:/home/alice:/bin/sh\n"
                                          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
        write_file(root_ + "/etc/group", "root:x:0:\nalice:x:1000:\nwheel:x:10:alice\nnogroup:x:65534:\n");
        start_machined(config_text_);
        if (HasFatalFailure()) return;
        // Process limits of its own, lower than machined's (ExecuteHasTheLeadersProcessLimits).
        machine_process_.emplace(
            start_registered("exec sleep 1000", {"--rlimit=NOFILE=321:654", "--rlimit=NPROC=4321:8765"}));
        ASSERT_TRUE(wait_up(*machine_process_)) << machine_process_->wait(0ms).describe();
        ASSERT_TRUE(eventually([&] { return machine_names().size() == 2; }));
    }
    void TearDown() override {
        machine_process_.reset();
        MachinedTest::TearDown();
    }
    Executed sh(const std::string& script, const std::string& user = "", const std::string& input = "") const {
        return execute(machine_, user, "/bin/sh", {"sh", "-c", script}, {}, input);
    }
    // A process inside the machine as the host sees it: its PID 1.
    pid_t leader() const {
        auto p = machine_property(machine_, "Leader");  // u 1234
        return std::stoi(p.substr(2));
    }

    std::string config_text_;
    std::optional<Process> machine_process_;
};

TEST_F(Enter, ExecuteReturnsTheCommandsExitStatus) {
    auto r = sh("exit 7");
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.status, "exited 7");
}

TEST_F(Enter, ExecuteReportsTheSignalThatEndedTheCommand) {
    auto r = sh("kill -9 $$");
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.status, "killed 9");
}

TEST_F(Enter, ExecuteKeepsStdoutAndStderrApart) {
    auto r = sh("echo to-out; echo to-err >&2");
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "to-out\n");
    EXPECT_EQ(r.err, "to-err\n");
    EXPECT_EQ(r.status, "exited 0");
}

TEST_F(Enter, ExecuteFeedsStdinToTheCommand) {
    auto r = execute(machine_, "", "/bin/cat", {}, {}, "line one\nline two\n");
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "line one\nline two\n");
    EXPECT_EQ(r.status, "exited 0");
}

TEST_F(Enter, ExecuteRunsAsTheGuestsUserWithItsGroupsHomeAndEnvironment) {
    auto r = sh("id; pwd; echo $HOME $USER $LOGNAME $SHELL; echo $PATH", "alice");
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "uid=1000(alice) gid=1000(alice) groups=10(wheel),1000(alice)\n/home/alice\n"
                     "/home/alice alice alice /bin/sh\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    EXPECT_EQ(r.status, "exited 0");
}

TEST_F(Enter, ExecuteAddsTheCallersEnvironment) {
    auto r = execute(machine_, "", "/bin/sh", {"sh", "-c", "echo $GREETING $TERM"}, {"GREETING=hello", "TERM=xterm"});
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "hello xterm\n");
}

TEST_F(Enter, ExecuteByUidWorksAndAHomeThatIsMissingMeansRoot) {
    auto r = execute(machine_, "65534", "/bin/sh", {"sh", "-c", "id -u; pwd"});
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "65534\n/\n");
}

TEST_F(Enter, ExecuteRefusesAUserTheGuestDoesNotKnow) {
    auto r = sh("true", "mallory");
    EXPECT_EQ(r.error, "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_NE(r.message.find("mallory"), std::string::npos) << r.message;
}

TEST_F(Enter, ExecuteLooksUpABareNameInTheGuestsPath) {
    auto r = execute(machine_, "", "id", {"id", "-u"});
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "0\n");
    EXPECT_EQ(execute(machine_, "", "no-such-command", {}).error, "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_EQ(execute(machine_, "", "bin/sh", {}).error, "org.freedesktop.DBus.Error.InvalidArgs");
}

TEST_F(Enter, ExecuteWithoutAPathRunsTheUsersShellAsALoginShell) {
    auto r = execute(machine_, "alice", "", {"ignored"}, {}, "echo $0\n");
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "-sh\n");
    EXPECT_EQ(r.status, "exited 0");
}

TEST_F(Enter, ExecuteOfAMissingProgramEndsWithStatus127AndSaysWhy) {
    auto r = execute(machine_, "", "/bin/no-such-program", {});
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.status, "exited 127");
    EXPECT_NE(r.err.find("/bin/no-such-program"), std::string::npos) << r.err;
}

TEST_F(Enter, ExecuteInAFrozenMachineIsRefusedSayingSo) {
    ASSERT_TRUE(berth_manager("FreezeMachine", {"s", machine_}).exited(0));
    auto r = sh("true");
    EXPECT_TRUE(berth_manager("ThawMachine", {"s", machine_}).exited(0));
    EXPECT_EQ(r.error, "org.freedesktop.DBus.Error.Failed");
    EXPECT_NE(r.message.find("frozen"), std::string::npos) << r.message;
}

// Read inside: the command's own view and the guest's PID 1's, field by field.
TEST_F(Enter, ExecuteRunsWithTheLeadersNamespacesCgroupCapabilitiesAndFilter) {
    auto r = sh(confinement_script({"CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"},
                                   {"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "user", "uts"}));
    ASSERT_EQ(r.error, "") << r.message;
    ASSERT_EQ(r.status, "exited 0") << r.err;
    auto c = parse_confinement(r.out);
    EXPECT_EQ(c.own_cgroups, c.leader_cgroups);
    for (auto& [name, ours, theirs] : c.fields) {
        EXPECT_EQ(ours, theirs) << name;
        EXPECT_FALSE(ours.empty()) << name;
        if (name == "Seccomp") {
            EXPECT_EQ(ours, "2");
        }
    }
    EXPECT_EQ(c.lines, 18);
}

// Limits the leader has that machined has not (nspawn --rlimit): the command has them, and all others.
TEST_F(Enter, ExecuteHasTheLeadersProcessLimits) {
    // Not what machined has (it inherits the test's).
    ASSERT_EQ(read_file("/proc/self/limits").find("Max open files            321 "), std::string::npos);
    auto r = sh("cat /proc/self/limits; echo ---; cat /proc/1/limits");
    ASSERT_EQ(r.error, "") << r.message;
    ASSERT_EQ(r.status, "exited 0") << r.err;
    auto cut = r.out.find("---\n");
    ASSERT_NE(cut, std::string::npos) << r.out;
    EXPECT_EQ(r.out.substr(0, cut), r.out.substr(cut + 4));
    EXPECT_NE(r.out.find("Max open files            321                  654"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Max processes             4321                 8765"), std::string::npos) << r.out;
}

// keyctl works for anyone on the host; the machine's filter makes it EPERM, for the shell as for PID 1.
TEST_F(Enter, ExecuteIsBoundByTheLeadersSystemCallFilter) {
    EXPECT_EQ(run(BERTH_SYSCALL_PROBE, {"keyctl"}).out, "keyctl ok\n");
    auto r = execute(machine_, "", "/bin/syscall-probe", {"syscall-probe", "keyctl"});
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "keyctl EPERM\n");
}

TEST_F(Enter, ExecutePTYRunsTheCommandOnATerminalInsideAndReportsItsStatus) {
    auto o = execute_pty(machine_, "", "/bin/sh", {"sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo on-a-tty; exit 3"});
    ASSERT_EQ(o.error, "") << o.message;
    EXPECT_EQ(o.terminal.path().rfind("/dev/pts/", 0), 0u) << o.terminal.path();
    auto out = o.terminal.read_to_end();
    EXPECT_NE(out.find(o.terminal.path() + "\r\non-a-tty"), std::string::npos) << out;
    EXPECT_EQ(read_status(o.status), "exited 3");
}

// /proc/PID/stat: field 6 the session, 7 the controlling terminal (0: none).
TEST_F(Enter, ExecutePTYMakesTheTerminalTheControllingOneOfANewSession) {
    auto o = execute_pty(machine_, "alice", "/bin/sh",
                         {"sh", "-c", "set -- $(cat /proc/$$/stat); [ $6 = $$ ] && [ $7 != 0 ] && echo leader-with-tty"});
    ASSERT_EQ(o.error, "") << o.message;
    EXPECT_NE(o.terminal.read_to_end().find("leader-with-tty"), std::string::npos) << o.terminal.output();
    EXPECT_EQ(read_status(o.status), "exited 0");
}

TEST_F(Enter, OpenMachinePTYReturnsATerminalOfTheMachinesDevpts) {
    auto o = open_pty(machine_);
    ASSERT_EQ(o.error, "") << o.message;
    ASSERT_EQ(o.terminal.path().rfind("/dev/pts/", 0), 0u) << o.terminal.path();
    auto r = sh("test -c " + o.terminal.path() + " && echo there");
    EXPECT_EQ(r.out, "there\n");
}

TEST_F(Enter, OpenMachineShellRunsTheCommandOnATerminalInside) {
    auto o = open_shell(machine_, "alice", "/bin/sh", {"sh", "-c", "echo shell-says $(id -un) $(tty)"});
    ASSERT_EQ(o.error, "") << o.message;
    auto out = o.terminal.read_to_end();
    EXPECT_NE(out.find("shell-says alice " + o.terminal.path()), std::string::npos) << out;
}

TEST_F(Enter, OpenMachineShellWithoutAPathIsTheUsersLoginShell) {
    auto o = open_shell(machine_, "", "", {});
    ASSERT_EQ(o.error, "") << o.message;
    o.terminal.type("echo I am $0; exit\n");
    EXPECT_TRUE(o.terminal.wait_for("I am -sh")) << o.terminal.output();
}

TEST_F(Enter, OpenMachineShellRefusesARelativePathAsSystemdDoes) {
    auto o = open_shell(machine_, "", "sh", {});
    EXPECT_EQ(o.error, "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_EQ(o.message, "Specified path 'sh' is not absolute");
}

TEST_F(Enter, OpenMachineLoginRunsTheGuestsLoginOnATerminal) {
    auto o = open_login(machine_);
    ASSERT_EQ(o.error, "") << o.message;
    ASSERT_TRUE(log_in_as_alice(o.terminal));
    o.terminal.type("echo logged-in-as-$(id -un); exit\n");
    EXPECT_TRUE(o.terminal.wait_for("logged-in-as-alice")) << o.terminal.output();
}

// As container-getty@.service (Restart=always) does in a guest with systemd: a new prompt after a logout,
// for as long as the client holds the terminal; once it lets go, nothing of the login stays in the machine.
TEST_F(Enter, OpenMachineLoginPromptsAgainAfterALogoutUntilTheTerminalIsClosed) {
    auto count_logins = [&] {
        auto r = sh("ps -o comm | grep -c '^login$'");
        return trim(r.out);
    };
    {
        auto o = open_login(machine_);
        ASSERT_EQ(o.error, "") << o.message;
        ASSERT_TRUE(log_in_as_alice(o.terminal));
        o.terminal.type("echo first-$((6*7)); exit\n");
        ASSERT_TRUE(o.terminal.wait_for("first-42")) << o.terminal.output();
        size_t after_first = o.terminal.output().rfind("first-42");
        ASSERT_TRUE(o.terminal.wait_for_from("login: ", after_first))
            << "no new prompt after the logout: " << o.terminal.output();
        EXPECT_EQ(count_logins(), "1");
    }
    // The master is closed: the login waiting at the prompt is hung up, and none is started again.
    EXPECT_TRUE(eventually([&] { return count_logins() == "0"; })) << count_logins();
}

TEST_F(Enter, UnprivilegedCallersAreRefused) {
    auto as_nobody = [&](const char* interface, const char* method, const std::string& path, auto... args) {
        return bus_error_of(
            [&](sdbus::IProxy& p) { p.callMethod(method).onInterface(interface).withArguments(args...); }, true, path);
    };
    const std::string obj = machine_object(machine_), mgr = "/org/freedesktop/machine1";
    const std::vector<std::string> none;
    const char* denied = "org.freedesktop.DBus.Error.AccessDenied";
    EXPECT_EQ(as_nobody("org.freedesktop.machine1.Manager", "OpenMachinePTY", mgr, machine_), denied);
    EXPECT_EQ(as_nobody("org.freedesktop.machine1.Manager", "OpenMachineLogin", mgr, machine_), denied);
    EXPECT_EQ(as_nobody("org.freedesktop.machine1.Manager", "OpenMachineShell", mgr, machine_, std::string(),
                        std::string(), none, none),
              denied);
    EXPECT_EQ(as_nobody("org.freedesktop.machine1.Machine", "OpenPTY", obj), denied);
    EXPECT_EQ(as_nobody("org.freedesktop.machine1.Machine", "OpenShell", obj, std::string(), std::string(), none, none),
              denied);
    EXPECT_EQ(as_nobody("io.berth.Machine1", "ExecutePTY", obj, std::string(), std::string(), none, none), denied);
    sdbus::UnixFd null(::open("/dev/null", O_RDWR | O_CLOEXEC), sdbus::adopt_fd);
    EXPECT_EQ(as_nobody("io.berth.Machine1", "Execute", obj, std::string(), std::string(), none, none, null, null, null),
              denied);
}

// 252's polkit default lets local users log in (login asks for the password): here the allowed groups.
TEST_F(Enter, OpenMachineLoginIsAllowedToTheAllowedGroupsOnly) {
    auto login_as_nobody = [&] {
        return bus_error_of([&](sdbus::IProxy& p) {
            p.callMethod("OpenMachineLogin").onInterface("org.freedesktop.machine1.Manager").withArguments(machine_);
        }, true);
    };
    EXPECT_EQ(login_as_nobody(), "org.freedesktop.DBus.Error.AccessDenied");
    ASSERT_TRUE(stop_machined().exited(0));
    start_machined("allowed_groups = [\"nogroup\"]");  // nobody's group; the machine is taken back
    ASSERT_TRUE(eventually([&] { return machine_names().size() == 2; }));
    EXPECT_EQ(login_as_nobody(), "");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("OpenMachinePTY").onInterface("org.freedesktop.machine1.Manager").withArguments(machine_);
              }, true),
              "org.freedesktop.DBus.Error.AccessDenied");
}

// systemd's machinectl against our machined: the same calls, the same terminal handling.
TEST_F(Enter, SystemdMachinectlLoginLogsInToABusyboxMachine) {
    Pty pty;
    auto p = start_systemd_tool_on(pty, "/usr/bin/machinectl", {"login", machine_});
    ASSERT_TRUE(pty.wait_for("login: ", 30s)) << pty.output();
    pty.type("alice\n");
    ASSERT_TRUE(pty.wait_for("Password: ", 30s)) << pty.output();
    pty.type("wonderland\n");
    ASSERT_TRUE(pty.wait_for("$ ", 30s)) << pty.output();
    pty.type("echo logged-in-as-$(id -un)\n");
    EXPECT_TRUE(pty.wait_for("logged-in-as-alice", 30s)) << pty.output();
    pty.type("exit\n");
    pty.type("\x1d\x1d\x1d");  // Ctrl-] three times: machinectl leaves
    auto r = p.wait(30s);
    EXPECT_TRUE(r.exited(0)) << r.describe() << pty.output();
}

TEST_F(Enter, SystemdMachinectlShellRunsACommandInTheMachine) {
    auto r = systemd_tool("/usr/bin/machinectl", {"-q", "shell", "alice@" + machine_, "/bin/sh", "-c", "echo from $(id -un)"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("from alice"), std::string::npos) << r.describe();
}

TEST_F(Enter, OnTheHostExecuteRunsAsTheHostsUser) {
    auto r = execute(".host", "", "/bin/sh", {"sh", "-c", "id -u; exit 4"});
    ASSERT_EQ(r.error, "") << r.message;
    EXPECT_EQ(r.out, "0\n");
    EXPECT_EQ(r.status, "exited 4");
}

}  // namespace
}  // namespace berth::test

namespace berth::test {
namespace {

// A guest whose PID 1 is named systemd and whose /run/dbus/system_bus_socket leads to a socket the test
// holds (test side: listening, then accepting and saying nothing): machined asks "the guest's systemd"
// in a worker, so a silent guest bus holds up the login alone, never machined.
class EnterSilentGuestBus : public MachinedTest {
protected:
    void SetUp() override {
        MachinedTest::SetUp();
        if (HasFatalFailure()) return;
        write_file(root_ + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        make_dirs(root_ + "/sbin");
        write_file(root_ + "/sbin/systemd", "#!/bin/sh\n"
                                            "mkdir -p /run/dbus && ln -s /srv/bus.sock /run/dbus/system_bus_socket\n"
                                            "touch /sync/ready\n"
                                            "sleep 1000 & wait\n");
        ASSERT_EQ(::chmod((root_ + "/sbin/systemd").c_str(), 0755), 0);
        make_dirs(root_ + "/srv");
        listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::string path = root_ + "/srv/bus.sock";
        ASSERT_LT(path.size(), sizeof addr.sun_path);
        std::memcpy(addr.sun_path, path.c_str(), path.size());
        ASSERT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << strerror(errno);
        ASSERT_EQ(::chmod(path.c_str(), 0777), 0);
        ASSERT_EQ(::listen(listener_.get(), 4), 0);
        start_machined();
        if (HasFatalFailure()) return;
        machine_process_.emplace(start_registered("exec /sbin/systemd"));
        ASSERT_TRUE(wait_for_file(sync_ + "/ready", *machine_process_, 20s)) << machine_process_->wait(0ms).describe();
        ASSERT_TRUE(eventually([&] { return machine_names().size() == 2; }));
        ASSERT_EQ(trim(read_file("/proc/" + machine_property(machine_, "Leader").substr(2) + "/comm")), "systemd");
    }
    void TearDown() override {
        machine_process_.reset();
        MachinedTest::TearDown();
    }
    berth::UniqueFd listener_;
    std::optional<Process> machine_process_;
};

TEST_F(EnterSilentGuestBus, MachinedServesOthersWhileTheGuestsBusIsSilentThenLogsInItself) {
    Process login = Process::start("/usr/bin/busctl", {"--system", "call", "org.freedesktop.machine1",
                                                       "/org/freedesktop/machine1", "org.freedesktop.machine1.Manager",
                                                       "OpenMachineLogin", "s", machine_},
                                   {.env = {bus_->env()}, .timeout = 60s});
    // machined's worker has connected to "the guest's bus", and waits for its handshake's answer.
    pollfd p{listener_.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 30000), 1) << "nothing connected to the guest's bus socket";
    berth::UniqueFd silent(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(silent.valid()) << strerror(errno);
    // Meanwhile machined answers everyone else, and the login waits.
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host", machine_}));
    EXPECT_TRUE(login.running()) << login.wait(0ms).describe();
    // The guest's bus goes away without a word: machined runs login(1) in the machine itself.
    silent.reset();
    auto r = login.wait(30s);
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("/dev/pts/"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace berth::test
