// ChildProcess: the supervisor's hold on the machine's PID 1. A start that fails at any step leaves no
// process behind: the owner going kills and reaps it.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "nspawn/child_process.hpp"

namespace berth::nspawn {
namespace {

// A child that runs until killed (or exits with `status` at once when `status` >= 0).
ChildProcess spawn(int status = -1) {
    pid_t pid = ::fork();
    if (pid == 0) {
        if (status >= 0) ::_exit(status);
        for (;;) ::pause();
    }
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    return ChildProcess(pid, UniqueFd(fd));
}

bool exists(pid_t pid) { return ::kill(pid, 0) == 0; }

TEST(ChildProcess, ItsOwnerGoingKillsAndReapsIt) {
    pid_t pid = 0;
    {
        auto child = spawn();
        pid = child.pid();
        ASSERT_GT(child.pidfd(), 0);
        EXPECT_TRUE(exists(pid));
    }
    // Reaped too: no zombie left under this pid.
    EXPECT_FALSE(exists(pid));
    EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
}

TEST(ChildProcess, EndReportsAnExitOfItsOwnWithinTheGrace) {
    auto child = spawn(7);
    auto how = child.end(5000);
    ASSERT_TRUE(how);
    EXPECT_EQ(how->si_code, CLD_EXITED);
    EXPECT_EQ(how->si_status, 7);
    EXPECT_LT(child.pidfd(), 0);  // reaped: it owns nothing now
}

TEST(ChildProcess, EndKillsOneThatDoesNotStop) {
    auto child = spawn();
    pid_t pid = child.pid();
    EXPECT_FALSE(child.end(0));
    EXPECT_FALSE(exists(pid));
}

TEST(ChildProcess, TryReapSaysNothingWhileItRuns) {
    auto child = spawn();
    EXPECT_FALSE(child.try_reap());
    child.signal(SIGTERM);
    std::optional<siginfo_t> how;
    for (int i = 0; i < 500 && !how; i++) {
        how = child.try_reap();
        if (!how) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(how);
    EXPECT_EQ(how->si_code, CLD_KILLED);
    EXPECT_EQ(how->si_status, SIGTERM);
}

TEST(ChildProcess, MovingHandsTheProcessOver) {
    auto a = spawn();
    pid_t pid = a.pid();
    ChildProcess b = std::move(a);
    EXPECT_LT(a.pidfd(), 0);
    EXPECT_TRUE(exists(pid));
    b = ChildProcess();  // the old one is ended as its owner replaces it
    EXPECT_FALSE(exists(pid));
}

}  // namespace
}  // namespace berth::nspawn
