// machinectl's pty forwarder with real pty pairs (openpty): one pair is the session inside the machine
// (the forwarder gets its master, the test plays the program on the slave), the other is the user's
// terminal (the forwarder's stdin/stdout is its slave, the test types into its master). The forwarder
// runs in a child process that owns that terminal, as machinectl would, so that signals (SIGWINCH from a
// resize, SIGTERM) reach it as they would reach machinectl.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "machinectl/pty_forward.hpp"

using namespace berth::machinectl;

namespace {

struct PtyPair {
    int master = -1, slave = -1;
    PtyPair() {
        EXPECT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
    }
    ~PtyPair() {
        close_slave();
        if (master >= 0) close(master);
    }
    void close_slave() {
        if (slave >= 0) close(slave);
        slave = -1;
    }
};

// Reads from fd until `needle` was seen (or EOF/error); bounded by a generous poll timeout per read so
// that a broken forwarder fails the test instead of hanging it.
std::string read_until(int fd, const std::string& needle) {
    std::string got;
    while (got.find(needle) == std::string::npos) {
        struct pollfd p {fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) break;
        char buf[256];
        ssize_t k = read(fd, buf, sizeof buf);
        if (k <= 0) break;
        got.append(buf, static_cast<size_t>(k));
    }
    return got;
}

void write_all(int fd, const std::string& s) { ASSERT_EQ(write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())); }

void make_raw(int fd) {
    struct termios t {};
    tcgetattr(fd, &t);
    cfmakeraw(&t);
    tcsetattr(fd, TCSANOW, &t);
}

struct Outcome {
    int end = -1;
    int last_char = -1;
    bool exited_cleanly = false;
};

// The forwarder in a child. `terminal`: the user's terminal slave becomes the child's controlling tty
// and its stdin/stdout; otherwise in/out are used as given. `close_in_child`: fds the child must not
// keep (the machine side's slave, so that closing it in the test hangs the master up).
class ForwarderProcess {
public:
    ForwarderProcess(int master, int in, int out, bool terminal, std::vector<int> close_in_child,
                     std::function<void(PtyForwarder&)> configure = {}, PtyForwardOptions options = {}) {
        int p[2];
        EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
        pid_ = fork();
        if (pid_ == 0) {
            close(p[0]);
            for (int fd : close_in_child) close(fd);
            if (terminal) {
                setsid();
                ioctl(in, TIOCSCTTY, 0);
            }
            options.in_fd = in;
            options.out_fd = out;
            PtyForwarder fwd(master, options);
            if (configure) configure(fwd);
            auto r = fwd.run();
            int msg[2] = {r ? static_cast<int>(r->end) : -2, r ? static_cast<unsigned char>(r->last_char) : -1};
            (void)!write(p[1], msg, sizeof msg);
            _exit(0);
        }
        close(p[1]);
        result_fd_ = p[0];
    }
    ~ForwarderProcess() {
        if (pid_ > 0 && !waited_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        close(result_fd_);
    }
    pid_t pid() const { return pid_; }
    Outcome wait() {
        Outcome o;
        int msg[2] = {-1, -1};
        struct pollfd p {result_fd_, POLLIN, 0};
        if (poll(&p, 1, 20000) > 0 && read(result_fd_, msg, sizeof msg) == sizeof msg) {
            o.end = msg[0];
            o.last_char = msg[1];
        }
        if (o.end == -1) kill(pid_, SIGKILL);  // it did not end: the assertion on `end` says so
        int status = 0;
        waitpid(pid_, &status, 0);
        waited_ = true;
        o.exited_cleanly = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        return o;
    }

private:
    pid_t pid_ = -1;
    int result_fd_ = -1;
    bool waited_ = false;
};

// The user's terminal and the machine's session, the forwarder between them, and proof that it runs:
// a byte typed on the terminal arrives in the session (the terminal is raw by then).
struct TerminalSession {
    PtyPair term, machine;
    std::unique_ptr<ForwarderProcess> fwd;

    explicit TerminalSession(PtyForwardOptions options = {}, std::function<void(PtyForwarder&)> configure = {}) {
        make_raw(machine.slave);
        fwd = std::make_unique<ForwarderProcess>(machine.master, term.slave, term.slave, true,
                                                 std::vector<int>{machine.slave, term.master}, configure, options);
    }
    // Raw first (else the terminal would echo what the test types), then a byte through.
    void wait_running() {
        struct termios t {};
        for (int i = 0; i < 1000; i++) {
            if (tcgetattr(term.slave, &t) == 0 && !(t.c_lflag & ICANON)) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        write_all(term.master, "+");
        EXPECT_EQ(read_until(machine.slave, "+"), "+");
    }
};

int as_int(PtyForwardEnd e) { return static_cast<int>(e); }

}  // namespace

TEST(MachinectlPtyForward, ForwardsTypedInputToTheSessionAndItsOutputBack) {
    TerminalSession s;
    s.wait_running();
    write_all(s.term.master, "ls -l\r");
    EXPECT_EQ(read_until(s.machine.slave, "\r"), "ls -l\r");
    // Byte for byte, as systemd's: the session's pty did its output processing already (here it is raw,
    // as a full-screen program makes it, so a bare \n stays one), ours does none on top.
    write_all(s.machine.slave, "total 0\n\r\n");
    EXPECT_EQ(read_until(s.term.master, "\r\n"), "total 0\n\r\n");
    s.machine.close_slave();
    auto o = s.fwd->wait();
    EXPECT_EQ(o.end, as_int(PtyForwardEnd::Hangup));
    EXPECT_EQ(o.last_char, '\n');
}

TEST(MachinectlPtyForward, TerminalIsRawWhileForwardingAndRestoredAfterTheSessionEnds) {
    PtyPair probe;  // a fresh pair: its modes are what the session's terminal had before the forwarder
    struct termios before {};
    ASSERT_EQ(tcgetattr(probe.slave, &before), 0);
    TerminalSession s;
    ASSERT_TRUE(before.c_lflag & ICANON);
    s.wait_running();
    struct termios during {};
    ASSERT_EQ(tcgetattr(s.term.slave, &during), 0);
    EXPECT_FALSE(during.c_lflag & (ICANON | ECHO | ISIG)) << "raw: no line editing, no echo, ^C is a byte";
    s.machine.close_slave();
    EXPECT_EQ(s.fwd->wait().end, as_int(PtyForwardEnd::Hangup));
    struct termios after {};
    ASSERT_EQ(tcgetattr(s.term.slave, &after), 0);
    EXPECT_EQ(after.c_lflag, before.c_lflag);
    EXPECT_EQ(after.c_iflag, before.c_iflag);
    EXPECT_EQ(after.c_oflag, before.c_oflag);
}

TEST(MachinectlPtyForward, SigtermEndsTheSessionAndRestoresTheTerminal) {
    PtyPair probe;
    struct termios before {};
    ASSERT_EQ(tcgetattr(probe.slave, &before), 0);
    TerminalSession s;
    s.wait_running();
    kill(s.fwd->pid(), SIGTERM);
    auto o = s.fwd->wait();
    EXPECT_EQ(o.end, as_int(PtyForwardEnd::Signal));
    EXPECT_TRUE(o.exited_cleanly);
    struct termios after {};
    ASSERT_EQ(tcgetattr(s.term.slave, &after), 0);
    EXPECT_EQ(after.c_lflag, before.c_lflag);
}

TEST(MachinectlPtyForward, WindowSizeIsPassedAtStartAndOnResize) {
    PtyPair term, machine;
    struct winsize ws {};
    ws.ws_row = 24;
    ws.ws_col = 80;
    ASSERT_EQ(ioctl(term.master, TIOCSWINSZ, &ws), 0);
    make_raw(machine.slave);
    ForwarderProcess fwd(machine.master, term.slave, term.slave, true, {machine.slave, term.master});
    struct termios t {};
    for (int i = 0; i < 1000; i++) {
        if (tcgetattr(term.slave, &t) == 0 && !(t.c_lflag & ICANON)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    write_all(term.master, "+");
    ASSERT_EQ(read_until(machine.slave, "+"), "+");
    struct winsize got {};
    ASSERT_EQ(ioctl(machine.slave, TIOCGWINSZ, &got), 0);
    EXPECT_EQ(got.ws_row, 24);
    EXPECT_EQ(got.ws_col, 80);

    // The kernel sends SIGWINCH to the terminal's foreground process group: the forwarder's.
    ws.ws_row = 50;
    ws.ws_col = 132;
    ASSERT_EQ(ioctl(term.master, TIOCSWINSZ, &ws), 0);
    bool resized = false;
    for (int i = 0; i < 1000 && !resized; i++) {  // the signal is asynchronous: wait for its effect
        ioctl(machine.slave, TIOCGWINSZ, &got);
        resized = got.ws_row == 50 && got.ws_col == 132;
        if (!resized) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(resized) << got.ws_row << "x" << got.ws_col;
    machine.close_slave();
    EXPECT_EQ(fwd.wait().end, as_int(PtyForwardEnd::Hangup));
}

TEST(MachinectlPtyForward, CtrlBracketThreeTimesWithinASecondLeaves) {
    PtyForwardOptions opt;
    opt.clock = [] { return uint64_t{5000000}; };  // all three in the same instant
    TerminalSession s(opt);
    s.wait_running();
    write_all(s.term.master, "\x1d\x1d\x1d");
    EXPECT_EQ(s.fwd->wait().end, as_int(PtyForwardEnd::Escape));
}

TEST(MachinectlPtyForward, CtrlBracketsMoreThanASecondApartAreForwarded) {
    PtyForwardOptions opt;
    auto t = std::make_shared<uint64_t>(0);
    opt.clock = [t] { return *t += 1500000; };  // 1.5 s between presses
    TerminalSession s(opt);
    s.wait_running();
    write_all(s.term.master, "\x1d\x1d\x1d");
    EXPECT_EQ(read_until(s.machine.slave, "\x1d\x1d\x1d"), "\x1d\x1d\x1d");
    s.machine.close_slave();
    EXPECT_EQ(s.fwd->wait().end, as_int(PtyForwardEnd::Hangup));
}

TEST(MachinectlPtyForward, AnotherKeyBetweenCtrlBracketsStartsTheCountAgain) {
    PtyForwardOptions opt;
    opt.clock = [] { return uint64_t{5000000}; };
    TerminalSession s(opt);
    s.wait_running();
    write_all(s.term.master, "\x1d\x1dx\x1d");
    EXPECT_EQ(read_until(s.machine.slave, "x\x1d"), "\x1d\x1dx\x1d");
    write_all(s.term.master, "\x1d\x1d");
    EXPECT_EQ(s.fwd->wait().end, as_int(PtyForwardEnd::Escape));
}

TEST(MachinectlPtyForward, HangupIgnoringSessionSurvivesTheTtyBeingClosedAndOpenedAgain) {
    PtyForwardOptions opt;
    opt.ignore_hangup = true;
    opt.clock = [] { return uint64_t{5000000}; };
    TerminalSession s(opt);
    s.wait_running();
    std::string path = ptsname(s.machine.master);
    s.machine.close_slave();  // the getty's vhangup(): EIO on the master
    write_all(s.term.master, "a");
    int again = open(path.c_str(), O_RDWR | O_NOCTTY);  // the next getty
    ASSERT_GE(again, 0);
    write_all(again, "login: ");
    EXPECT_EQ(read_until(s.term.master, "login: "), "login: ");
    write_all(s.term.master, "\x1d\x1d\x1d");
    EXPECT_EQ(s.fwd->wait().end, as_int(PtyForwardEnd::Escape));
    close(again);
}

TEST(MachinectlPtyForward, StopIgnoringHangupEndsAHungUpSession) {
    PtyForwardOptions opt;
    opt.ignore_hangup = true;
    int gone[2];
    ASSERT_EQ(pipe2(gone, O_NONBLOCK), 0);
    // The watch stands for the bus: a MachineRemoved signal makes the session end at the next hangup.
    TerminalSession s(opt, [&](PtyForwarder& f) {
        f.add_watch({gone[0], [&f, fd = gone[0]] {
                         char c;
                         if (read(fd, &c, 1) != 1) return true;
                         f.stop_ignoring_hangup();
                         return false;
                     }});
    });
    s.wait_running();
    write_all(s.machine.slave, "last words\r\n");
    EXPECT_EQ(read_until(s.term.master, "\n"), "last words\r\n");
    s.machine.close_slave();
    write_all(gone[1], "x");
    auto o = s.fwd->wait();
    EXPECT_EQ(o.end, as_int(PtyForwardEnd::Hangup));
    close(gone[0]);
    close(gone[1]);
}

TEST(MachinectlPtyForward, EndOfInputThatIsNotATerminalIsAnEndOfFileInTheSession) {
    PtyPair machine;  // cooked: the session's line discipline turns VEOF into end of file
    int in[2], out[2];
    ASSERT_EQ(pipe(in), 0);
    ASSERT_EQ(pipe(out), 0);
    struct termios t {};
    tcgetattr(machine.slave, &t);
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(machine.slave, TCSANOW, &t);
    ForwarderProcess fwd(machine.master, in[0], out[1], false, {machine.slave, in[1], out[0]});
    close(in[0]);
    close(out[1]);
    write_all(in[1], "one\ntwo");  // the last line unterminated: two VEOFs, one for the line, one for EOF
    close(in[1]);
    EXPECT_EQ(read_until(machine.slave, "one\n"), "one\n");
    EXPECT_EQ(read_until(machine.slave, "two"), "two");
    char c;
    EXPECT_EQ(read(machine.slave, &c, 1), 0) << "end of file";
    write_all(machine.slave, "done\n");
    machine.close_slave();
    EXPECT_EQ(read_until(out[0], "done\r\n"), "done\r\n");
    EXPECT_EQ(fwd.wait().end, as_int(PtyForwardEnd::Hangup));
    close(out[0]);
}
