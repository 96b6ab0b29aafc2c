// The interactive console: nspawn on a real terminal (a pty of ours, as a shell would start it) with an
// interactive busybox shell as the machine's PID 1. What we type reaches the guest, what it writes comes
// back; our terminal is raw while the machine runs and as before afterwards; window sizes are passed on;
// ^] three times within a second kills the machine.
#include <csignal>
#include <thread>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class Console : public BusyboxTest {
protected:
    // nspawn base() + opts + an interactive /bin/sh, on our terminal.
    Process start_shell(const std::vector<std::string>& opts = {"--console=interactive"}) {
        auto args = base();
        args.insert(args.end(), opts.begin(), opts.end());
        args.push_back("/bin/sh");
        return start_nspawn(args, {.timeout = 30s, .tty = pty_.slave()});
    }
    // Runs `command` in the guest's shell and waits for `expected` in what comes back.
    bool run_in_guest(const std::string& command, const std::string& expected, Millis timeout = 10s) {
        pty_.type(command + "\r");
        return pty_.wait_for(expected, timeout);
    }
    // The shell answers: it runs and reads our keys.
    bool wait_shell() { return run_in_guest("echo shell-$((40+2))-up", "shell-42-up"); }
    std::string seen() const { return "\n--- terminal ---\n" + pty_.output() + "\n---"; }

    Pty pty_;
};

bool raw(const termios& t) { return !(t.c_lflag & (ICANON | ECHO | ISIG)); }

TEST_F(Console, TypedInputReachesGuestAndOutputComesBack) {
    auto p = start_shell();
    // The sum proves a shell evaluated it: the echo of what we typed says $((6*7)), not 42.
    ASSERT_TRUE(run_in_guest("echo sum=$((6*7)) host=$(hostname)", "sum=42 host=" + machine_)) << seen();
    pty_.type("exit 7\r");
    auto r = p.wait(10s);
    EXPECT_TRUE(r.exited(7)) << r.describe() << seen();
}

TEST_F(Console, GuestShellRunsOnItsOwnConsolePty) {
    auto p = start_shell();
    // PID 1 talks to the guest's /dev/console (a pty of its own devpts), not to our terminal.
    ASSERT_TRUE(run_in_guest("echo fd0=$(readlink /proc/self/fd/0)", "fd0=/dev/console")) << seen();
    pty_.type("exit\r");
    EXPECT_TRUE(p.wait(10s).exited(0)) << seen();
}

TEST_F(Console, TerminalIsRawWhileMachineRunsAndRestoredAfter) {
    termios before = pty_.attrs();
    ASSERT_FALSE(raw(before));
    auto p = start_shell();
    ASSERT_TRUE(wait_shell()) << seen();
    EXPECT_TRUE(raw(pty_.attrs())) << "our terminal should be in raw mode while the machine runs";
    pty_.type("exit\r");
    auto r = p.wait(10s);
    EXPECT_TRUE(r.exited(0)) << r.describe() << seen();
    EXPECT_TRUE(same_terminal_settings(pty_.attrs(), before)) << "terminal settings not restored";
}

TEST_F(Console, TerminalIsRestoredAfterMachineIsKilled) {
    termios before = pty_.attrs();
    auto p = start_shell();
    ASSERT_TRUE(wait_shell()) << seen();
    p.signal(SIGTERM);  // no --boot: the kill signal is SIGKILL
    auto r = p.wait(10s);
    EXPECT_FALSE(r.timed_out) << seen();
    EXPECT_TRUE(same_terminal_settings(pty_.attrs(), before)) << "terminal settings not restored";
}

TEST_F(Console, ConsoleIsInteractiveByDefaultOnTerminal) {
    auto p = start_shell({});
    ASSERT_TRUE(wait_shell()) << seen();
    EXPECT_TRUE(raw(pty_.attrs())) << "no --console on a terminal should mean interactive (raw mode)";
    ASSERT_TRUE(run_in_guest("echo fd0=$(readlink /proc/self/fd/0)", "fd0=/dev/console")) << seen();
    pty_.type("exit\r");
    EXPECT_TRUE(p.wait(10s).exited(0)) << seen();
}

TEST_F(Console, InitialWindowSizeIsPassedOn) {
    pty_.set_size(31, 97);
    auto p = start_shell();
    EXPECT_TRUE(run_in_guest("echo size=$(stty size)", "size=31 97")) << seen();
    pty_.type("exit\r");
    EXPECT_TRUE(p.wait(10s).exited(0)) << seen();
}

TEST_F(Console, WindowSizeChangeIsPassedOn) {
    auto p = start_shell();
    ASSERT_TRUE(run_in_guest("echo size=$(stty size)", "size=24 80")) << seen();
    pty_.set_size(33, 111);
    p.signal(SIGWINCH);  // what the kernel sends a terminal's foreground process group anyway
    // The size change and our next keys travel separately: ask again until the guest sees it (or give up).
    bool passed_on = false;
    for (int i = 0; i < 10 && !passed_on; i++) passed_on = run_in_guest("echo size=$(stty size)", "size=33 111", 1s);
    EXPECT_TRUE(passed_on) << seen();
    pty_.type("exit\r");
    EXPECT_TRUE(p.wait(10s).exited(0)) << seen();
}

TEST_F(Console, ThreeCtrlBracketsWithinOneSecondKillMachine) {
    auto p = start_shell();
    ASSERT_TRUE(wait_shell()) << seen();
    pid_t pid1 = guest_pid1(p.pid());
    ASSERT_GT(pid1, 0);
    pty_.type("\x1d\x1d\x1d");
    auto r = p.wait(10s);
    EXPECT_FALSE(r.timed_out) << "^]^]^] did not end the machine" << seen();
    EXPECT_TRUE(r.exited(128 + SIGKILL)) << r.describe() << seen();  // the machine died of SIGKILL
    EXPECT_TRUE(process_dead(pid1)) << "the guest outlived nspawn";
}

TEST_F(Console, ThreeCtrlBracketsTypedOneByOneWithinOneSecondKillMachine) {
    auto p = start_shell();
    ASSERT_TRUE(wait_shell()) << seen();
    for (int i = 0; i < 3; i++) {
        pty_.type("\x1d");
        std::this_thread::sleep_for(150ms);
    }
    auto r = p.wait(10s);
    EXPECT_FALSE(r.timed_out) << "^] ^] ^] did not end the machine" << seen();
}

TEST_F(Console, TwoCtrlBracketsDoNotKillMachine) {
    auto p = start_shell();
    ASSERT_TRUE(wait_shell()) << seen();
    pty_.type("\x1d\x1d");
    pty_.drain(1500ms);
    EXPECT_TRUE(p.running()) << "two ^] ended the machine" << seen();
}

TEST_F(Console, ThreeCtrlBracketsSpreadOverMoreThanOneSecondDoNotKillMachine) {
    auto p = start_shell();
    ASSERT_TRUE(wait_shell()) << seen();
    pty_.type("\x1d\x1d");
    pty_.drain(1300ms);
    pty_.type("\x1d");
    pty_.drain(500ms);
    EXPECT_TRUE(p.running()) << "^]^] ... ^] over more than 1 s ended the machine" << seen();
}

}  // namespace
}  // namespace berth::test
