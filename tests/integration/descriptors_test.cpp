// Only standard input, output and error reach the machine: a descriptor nspawn inherited without
// close-on-exec (fd 7 here, as a careless caller would leave one) must not show up in the guest.
#include <fcntl.h>
#include <unistd.h>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class Descriptors : public BusyboxTest {
protected:
    void SetUp() override {
        BusyboxTest::SetUp();
        extra_ = ::open("/etc/hostname", O_RDONLY | O_CLOEXEC);
        ASSERT_GE(extra_, 0);
    }
    void TearDown() override {
        ::close(extra_);
        BusyboxTest::TearDown();
    }
    RunOptions with_fd7() const { return {.inherit_fds = {{7, extra_}}}; }

    int extra_ = -1;
};

// `ls` lists its own descriptors: 0, 1, 2 and the one it reads /proc/self/fd through (3).
TEST_F(Descriptors, CommandSeesOnlyStdio) {
    auto r = sh("ls /proc/self/fd", {}, with_fd7());
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "0\n1\n2\n3\n");
}

TEST_F(Descriptors, Pid1SeesOnlyStdio) {
    // The shell itself is PID 1: list its descriptors from outside it.
    auto r = sh("ls /proc/1/fd; true", {}, with_fd7());
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "0\n1\n2\n");
}

TEST_F(Descriptors, AsPid2CommandSeesOnlyStdio) {
    auto r = sh("ls /proc/self/fd", {"--as-pid2"}, with_fd7());
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "0\n1\n2\n3\n");
}

TEST_F(Descriptors, InteractiveConsoleCommandSeesOnlyStdio) {
    Pty pty;
    auto args = base();
    args.insert(args.end(), {"--console=interactive", "/bin/ls", "-1", "/proc/self/fd"});
    auto r = nspawn(args, {.tty = pty.slave(), .inherit_fds = {{7, extra_}}});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    pty.drain(200ms);
    EXPECT_EQ(pty.output(), "0\r\n1\r\n2\r\n3\r\n");
}

// The harness really passes fd 7 on: a program without nspawn in between sees it.
TEST_F(Descriptors, HarnessPassesFd7On) {
    auto r = run("/bin/ls", {"/proc/self/fd"}, with_fd7());
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("\n7\n"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace berth::test
