// Our machinectl's `shell` and `login`, end to end against our machined: with pipes (the command's own
// stdin, stdout and stderr through io.berth.Machine1.Execute, its exit status ours), on a terminal (a Pty
// of the harness as stdin, stdout and stderr: ExecutePTY and OpenMachineLogin forwarded in raw mode), in a
// busybox machine registered by our nspawn, on the host (`USER@`, Ansible's become plugin), and `status`
// showing a booted Debian guest's own journal as systemd's journalctl shows it.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "tests/integration/machinectl_fixture.hpp"

namespace berth::test {
namespace {

// alice's password is "wonderland" (busybox mkpasswd -m sha512), in passwd itself: busybox login needs no shadow.
constexpr const char* kAliceHash =
    "$6$berthtestsalt$Fl9b1MUhW6ckoI94MDV92q.vcWzgTrDXy/09M.81mzrxZVd6keok/8gnHd7/EtaGrOYVxcvYJPGOcj.2iUPyJ.";
constexpr const char* kEscape = "\x1d\x1d\x1d";  // Ctrl-] three times, typed at once: well within a second

class MachinectlShell : public MachinectlTest {
protected:
    void SetUp() override {
        MachinectlTest::SetUp();
        if (HasFatalFailure()) return;
        // bob is this test's user: not in the image as busybox-rootfs.sh builds it.
        write_file(root_ + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                                          "alice:" + std::string(kAliceHash) + ":1000:1000:Alice:/home/alice:/bin/sh\n"
                                          "bob:x:1001:1001:Bob:/:/bin/sh\n"
                                          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
        write_file(root_ + "/etc/group", "root:x:0:\nalice:x:1000:\nbob:x:1001:\nnogroup:x:65534:\n");
        machine_process_.emplace(start_registered_up("exec sleep 1000"));
        ASSERT_TRUE(wait_listed(machine_));
    }
    void TearDown() override {
        machine_process_.reset();
        MachinectlTest::TearDown();
    }

    // Our machinectl with pipes: `input` on stdin, `env` added to our environment.
    RunResult piped(const std::vector<std::string>& args, const std::string& input = "",
                    std::vector<std::string> env = {}) const {
        env.push_back(bus_->env());
        return run(machinectl_path(), args, {.input = input, .env = env, .timeout = 60s});
    }
    // Our machinectl on `pty` as its controlling terminal, with TERM=vt102.
    Process on_terminal(const Pty& pty, const std::vector<std::string>& args) const {
        return Process::start(machinectl_path(), args,
                              {.env = {bus_->env(), "TERM=vt102"}, .timeout = 120s, .tty = pty.slave()});
    }
    // Types `command` at the shell on `pty` and waits for `answer`, which the typed line's echo must not contain.
    static ::testing::AssertionResult answers(Pty& pty, const std::string& command, const std::string& answer) {
        pty.clear_output();
        pty.type(command + "\r");
        if (pty.wait_for(answer, 30s)) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "`" << command << "` did not answer " << answer << "; saw: " << pty.output();
    }
    std::string inside(const std::string& script) const {
        auto r = piped({"-q", "shell", machine_, "/bin/sh", "-c", script});
        EXPECT_TRUE(r.exited(0)) << r.describe();
        return trim(r.out);
    }
    std::string terminated() const { return "Connection to machine " + machine_ + " terminated."; }

    std::optional<Process> machine_process_;
};

// --- with pipes ---

TEST_F(MachinectlShell, PipedCommandKeepsStdoutAndStderrApartAndReturnsItsStatus) {
    auto r = piped({"shell", machine_, "/bin/sh", "-c", "echo out; echo err >&2; exit 7"});
    EXPECT_TRUE(r.exited(7)) << r.describe();
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
}

TEST_F(MachinectlShell, PipedCommandKilledBySignalGives128PlusTheSignal) {
    auto r = piped({"shell", machine_, "/bin/sh", "-c", "kill -9 $$"});
    EXPECT_TRUE(r.exited(137)) << r.describe();
}

TEST_F(MachinectlShell, PipedStdinReachesTheCommand) {
    auto r = piped({"shell", machine_, "/bin/cat"}, "x\nsecond line without end");
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "x\nsecond line without end");
}

TEST_F(MachinectlShell, QuietPipedCommandPrintsOnlyTheCommandsOutput) {
    auto r = piped({"-q", "shell", machine_, "/bin/sh", "-c", "echo out; echo err >&2"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
}

TEST_F(MachinectlShell, UserAtNameRunsTheCommandAsThatUser) {
    auto r = piped({"shell", "bob@" + machine_, "/usr/bin/id", "-un"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "bob\n");
}

TEST_F(MachinectlShell, UidOptionRunsTheCommandAsThatUser) {
    auto r = piped({"shell", "--uid=bob", machine_, "/bin/sh", "-c", "id -u; id -un"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "1001\nbob\n");
}

TEST_F(MachinectlShell, SetenvReachesTheCommandsEnvironment) {
    auto r = piped({"shell", "-E", "A=1", "-E", "B", machine_, "/bin/sh", "-c", "echo \"A=$A B=$B\""}, "",
                   {"B=from-our-environment", "A=not-this"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "A=1 B=from-our-environment\n");
}

// `machinectl shell NAME /CMD` on pipes is run by the launcher itself over the bus (machinectl/launcher.cpp):
// while the command runs, machinectl has loaded neither libsystemd, sdbus-c++ nor the C++ runtime, nor
// machinectl proper (berth-machinectl.so), whose loading would cost more than the rest of the round trip.
TEST_F(MachinectlShell, PipedShellRunsWithoutLoadingLibsystemdOrTheCxxRuntime) {
    std::string marker = root_ + "/running";
    for (std::vector<std::string> args : {std::vector<std::string>{"shell", machine_}, {"-q", "shell", machine_}}) {
        args.insert(args.end(), {"/bin/sh", "-c", "touch /running; while [ -e /running ]; do sleep 0.05; done; exit 4"});
        Process p = Process::start(machinectl_path(), args, {.env = {bus_->env()}, .timeout = 60s});
        for (int i = 0; i < 600 && !exists(marker) && p.running(); i++) std::this_thread::sleep_for(50ms);
        ASSERT_TRUE(exists(marker)) << p.wait(1s).describe();
        std::string maps = read_file("/proc/" + std::to_string(p.pid()) + "/maps");
        std::remove(marker.c_str());
        EXPECT_NE(maps.find("libc.so"), std::string::npos) << maps;
        std::vector<std::string> absent = {"libsystemd", "libsdbus-c++", "berth-machinectl.so"};
        // gcc's sanitizer runtimes (tests/sanitize.sh) bring libstdc++ themselves; the launcher's own
        // needs are checked by the build (machinectl/check_launcher.cmake).
        if (maps.find("libasan") == std::string::npos && maps.find("libubsan") == std::string::npos)
            absent.push_back("libstdc++");
        for (auto& lib : absent) EXPECT_EQ(maps.find(lib), std::string::npos) << lib << " is loaded:\n" << maps;
        auto r = p.wait(30s);
        EXPECT_TRUE(r.exited(4)) << r.describe();
        EXPECT_EQ(r.err, "");
    }
}

// Anything the launcher's call cannot do is done by machinectl proper, which says why as before.
TEST_F(MachinectlShell, PipedShellOfAMachineThatIsNotThereSaysSo) {
    for (std::string name : {"nope", "self", "no-such.one"}) {
        auto r = piped({"shell", name, "/bin/true"});
        EXPECT_TRUE(r.exited(1)) << r.describe();
        EXPECT_EQ(r.out, "");
        EXPECT_EQ(r.err, "Could not get path to machine \"" + name + "\": No machine \"" + name + "\" known\n");
    }
}

TEST_F(MachinectlShell, PipedShellOnTheHostByItsName) {
    auto r = piped({"shell", ".host", "/bin/sh", "-c", "cat /proc/1/comm; exit 3"});
    EXPECT_TRUE(r.exited(3)) << r.describe();
    EXPECT_EQ(r.out, read_file("/proc/1/comm"));
    EXPECT_EQ(r.err, "");
}

// What Ansible's machinectl become plugin runs: `machinectl -q shell USER@ CMD`, on the host.
TEST_F(MachinectlShell, QuietShellUserAtNothingRunsOnTheHostAsThatUser) {
    auto r = piped({"-q", "shell", "nobody@", "/usr/bin/id", "-un"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "nobody\n");
    EXPECT_EQ(r.err, "");
    r = piped({"-q", "shell", "root@", "/bin/sh", "-c", "id -un; cat /proc/1/comm; exit 5"});
    EXPECT_TRUE(r.exited(5)) << r.describe();
    EXPECT_EQ(r.out, "root\n" + read_file("/proc/1/comm"));  // the host's PID 1, not a machine's
}

// --- on a terminal ---

TEST_F(MachinectlShell, ShellOnATerminalRunsTheLoginShellWithOurTermAndWindowSize) {
    Pty pty;
    pty.set_size(50, 132);
    termios before = pty.attrs();
    Process client = on_terminal(pty, {"shell", machine_});
    ASSERT_TRUE(pty.wait_for("Connected to machine " + machine_ + ". Press ^] three times within 1s to exit session.",
                             30s))
        << pty.output();
    ASSERT_TRUE(pty.wait_for("# ", 30s)) << "no prompt: " << pty.output();
    EXPECT_TRUE(answers(pty, "echo I am $0, answer $((6*7))", "I am -sh, answer 42"));
    EXPECT_TRUE(answers(pty, "echo term=$TERM.", "term=vt102."));
    EXPECT_TRUE(answers(pty, "stty size", "50 132"));
    pty.clear_output();
    pty.type("exit 3\r");
    auto ended = client.wait(30s);
    EXPECT_TRUE(ended.exited(3)) << ended.describe() << pty.output();
    EXPECT_TRUE(pty.wait_for(terminated(), 10s)) << pty.output();
    EXPECT_TRUE(same_terminal_settings(before, pty.attrs())) << "our terminal is left as it was";
}

TEST_F(MachinectlShell, ShellCommandOnATerminalFollowsAResizeWhileConnected) {
    Pty pty;
    termios before = pty.attrs();
    Process client = on_terminal(pty, {"shell", machine_, "/bin/sh"});
    ASSERT_TRUE(pty.wait_for("# ", 30s)) << "no prompt: " << pty.output();
    EXPECT_TRUE(answers(pty, "stty size", "24 80"));
    pty.set_size(33, 111);  // SIGWINCH to machinectl, the terminal's foreground process
    EXPECT_TRUE(answers(pty, "stty size", "33 111"));
    EXPECT_TRUE(answers(pty, "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-on-a-tty", "all-on-a-tty"));
    pty.type("exit 3\r");
    auto ended = client.wait(30s);
    EXPECT_TRUE(ended.exited(3)) << ended.describe() << pty.output();
    EXPECT_TRUE(pty.wait_for(terminated(), 10s)) << pty.output();
    EXPECT_TRUE(same_terminal_settings(before, pty.attrs())) << "our terminal is left as it was";
}

// systemd's machinectl exits 0 when left with ^]; the shell, whose terminal is hung up, does not stay.
TEST_F(MachinectlShell, EscapeLeavesARunningShellWithExitStatusZero) {
    Pty pty;
    termios before = pty.attrs();
    Process client = on_terminal(pty, {"shell", machine_});
    ASSERT_TRUE(pty.wait_for("# ", 30s)) << "no prompt: " << pty.output();
    ASSERT_TRUE(answers(pty, "echo $$ >/tmp/session-pid && echo saved-$((6*7))", "saved-42"));
    std::string pid = inside("cat /tmp/session-pid");
    ASSERT_FALSE(pid.empty());
    pty.type(kEscape);
    auto ended = client.wait(30s);
    EXPECT_TRUE(ended.exited(0)) << ended.describe() << pty.output();
    EXPECT_TRUE(pty.wait_for(terminated(), 10s)) << pty.output();
    EXPECT_TRUE(same_terminal_settings(before, pty.attrs())) << "our terminal is left as it was";
    EXPECT_TRUE(eventually([&] { return inside("[ -d /proc/" + pid + " ] && echo alive || echo gone") == "gone"; }))
        << "the session's shell stays in the machine";
}

// Nothing but the session's bytes, as they left its pty (which turned \n into \r\n): our terminal does no
// output processing on top, as systemd's machinectl does none (it gives "only-this\r\n" here too).
TEST_F(MachinectlShell, QuietShellOnATerminalPrintsNothingOfOursAndTheSessionsBytesUnchanged) {
    Pty pty;
    Process client = on_terminal(pty, {"-q", "shell", machine_, "/bin/sh", "-c", "echo only-this; exit 4"});
    auto ended = client.wait(30s);
    EXPECT_TRUE(ended.exited(4)) << ended.describe() << pty.output();
    pty.drain(200ms);
    EXPECT_EQ(pty.output(), "only-this\r\n");
}

// --- login ---

TEST_F(MachinectlShell, LoginLogsInAndPromptsAgainAfterALogout) {
    Pty pty;
    termios before = pty.attrs();
    Process client = on_terminal(pty, {"login", machine_});
    ASSERT_TRUE(pty.wait_for("Press ^] three times within 1s to exit session.", 30s)) << pty.output();
    ASSERT_TRUE(pty.wait_for("login: ", 30s)) << pty.output();
    pty.clear_output();
    pty.type("alice\r");
    ASSERT_TRUE(pty.wait_for("Password: ", 30s)) << pty.output();
    pty.clear_output();
    pty.type("wonderland\r");
    ASSERT_TRUE(pty.wait_for("$ ", 30s)) << "no shell prompt after logging in: " << pty.output();
    EXPECT_TRUE(answers(pty, "echo logged-in-as-$(id -un)-$((6*7))", "logged-in-as-alice-42"));
    pty.clear_output();
    pty.type("exit\r");
    EXPECT_TRUE(pty.wait_for("login: ", 30s)) << "no new prompt after logging out: " << pty.output();
    EXPECT_TRUE(client.running());
    pty.type(kEscape);
    auto ended = client.wait(30s);
    EXPECT_TRUE(ended.exited(0)) << ended.describe() << pty.output();
    EXPECT_TRUE(pty.wait_for(terminated(), 10s)) << pty.output();
    EXPECT_TRUE(same_terminal_settings(before, pty.attrs())) << "our terminal is left as it was";
}

// systemd 252's machinectl: "Machine NAME terminated." when the machine goes away under a login session,
// and exit status 0 (process_forward() returns 0 whatever ended the session).
TEST_F(MachinectlShell, TerminatingTheMachineEndsTheLoginSayingSo) {
    Pty pty;
    termios before = pty.attrs();
    Process client = on_terminal(pty, {"login", machine_});
    ASSERT_TRUE(pty.wait_for("login: ", 30s)) << pty.output();
    pty.type("alice\r");
    ASSERT_TRUE(pty.wait_for("Password: ", 30s)) << pty.output();
    pty.type("wonderland\r");
    ASSERT_TRUE(pty.wait_for("$ ", 30s)) << "no shell prompt after logging in: " << pty.output();
    auto r = piped({"terminate", machine_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto ended = client.wait(60s);
    EXPECT_TRUE(ended.exited(0)) << ended.describe() << pty.output();
    EXPECT_TRUE(pty.wait_for("Machine " + machine_ + " terminated.", 10s)) << pty.output();
    EXPECT_EQ(pty.output().find(terminated()), std::string::npos) << pty.output();
    EXPECT_TRUE(same_terminal_settings(before, pty.attrs())) << "our terminal is left as it was";
    EXPECT_TRUE(wait_unlisted(machine_));
}

// --- status of a booted Debian guest ---

// A Debian 12 guest of our nspawn, registered with machined on the private bus and booted to
// multi-user.target (the probe unit, told to stay up), on an ephemeral overlay of the cached rootfs.
class MachinectlDebianStatus : public MachinectlTest {
protected:
    void SetUp() override {
        MachinectlTest::SetUp();
        if (HasFatalFailure()) return;
        if (!require_debian_rootfs()) return;
        name_ = "deb-" + id_;
        guest_.emplace(boot_registered_debian(name_, tmp_ + "/probe"));
    }
    void TearDown() override {
        if (guest_ && guest_->running()) {
            guest_->signal(SIGTERM);
            (void)guest_->wait(60s);
        }
        guest_.reset();
        MachinectlTest::TearDown();
    }

    std::string name_;
    std::optional<Process> guest_;
};

// The journal lines of `status` are those after its last empty line.
std::string journal_part(const std::string& status) {
    auto at = status.rfind("\n\n");
    return at == std::string::npos ? "" : status.substr(at + 2);
}

// The guest keeps logging: compared once its journal held still around our status (journalctl the same
// before and after), which a booted guest soon does.
TEST_F(MachinectlDebianStatus, StatusShowsTheLastLinesOfTheGuestsOwnJournalAsJournalctlDoes) {
    auto journalctl = [&] {
        return systemd_tool("/usr/bin/journalctl", {"-M", name_, "-q", "-n", "5", "-o", "short", "--no-pager"}).out;
    };
    std::string ours, before, after;
    bool still = eventually(
        [&] {
            before = journalctl();
            auto r = machinectl({"status", name_, "-n", "5", "-o", "short"});
            EXPECT_TRUE(r.exited(0)) << r.describe();
            ours = journal_part(r.out);
            after = journalctl();
            return before == after && ours == before;
        },
        60s);
    EXPECT_TRUE(still) << "ours:\n" << ours << "journalctl -M before:\n" << before << "after:\n" << after;
    EXPECT_EQ(std::count(ours.begin(), ours.end(), '\n'), 5) << ours;
}

}  // namespace
}  // namespace berth::test
