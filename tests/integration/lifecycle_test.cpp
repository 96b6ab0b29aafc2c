// Stopping a running machine from the host: SIGTERM/SIGINT to nspawn, --kill-signal, the second signal.
#include <csignal>
#include <thread>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class Lifecycle : public BusyboxTest {
protected:
    // nspawn must handle the signal and clean up, so it exits rather than dying of it.
    void expect_stops_cleanly(Process& p, Millis within = 10s) {
        auto r = p.wait(within);
        EXPECT_FALSE(r.timed_out) << r.describe();
        EXPECT_EQ(r.term_signal, 0) << "nspawn died of a signal instead of stopping the machine: " << r.describe();
    }
};

// Without --boot the default kill signal is SIGKILL, which even a PID 1 cannot ignore.
TEST_F(Lifecycle, SigtermStopsNonBootMachine) {
    auto p = start_sh("while :; do sleep 1; done");
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    pid_t pid1 = guest_pid1(p.pid());
    p.signal(SIGTERM);
    expect_stops_cleanly(p);
    if (pid1 > 0) {
        EXPECT_FALSE(exists("/proc/" + std::to_string(pid1))) << "the machine outlived nspawn";
    }
}

TEST_F(Lifecycle, SigintStopsNonBootMachine) {
    auto p = start_sh("while :; do sleep 1; done");
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    p.signal(SIGINT);
    expect_stops_cleanly(p);
}

TEST_F(Lifecycle, KillSignalIsSentToPid1) {
    // Signalled only once the trap is in place: PID 1 of a namespace ignores a signal it has no handler for.
    auto p = start_sh("trap 'exit 3' USR1; touch /sync/armed; while :; do sleep 0.1; done", {"--kill-signal=SIGUSR1"});
    ASSERT_TRUE(wait_for_file(sync_ + "/armed", p, 20s)) << p.wait(0ms).describe();
    p.signal(SIGTERM);
    auto r = p.wait(10s);
    EXPECT_TRUE(r.exited(3)) << "the guest's trap decides the exit status: " << r.describe();
}

// A PID 1 without a handler ignores SIGUSR1 from the host; only the second SIGTERM (a kill) ends it.
TEST_F(Lifecycle, SecondSigtermKillsMachineThatIgnoresKillSignal) {
    auto p = start_sh("while :; do sleep 1; done", {"--kill-signal=SIGUSR1"});
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    p.signal(SIGTERM);
    std::this_thread::sleep_for(500ms);
    EXPECT_TRUE(p.running()) << "the first SIGTERM should only have asked";
    p.signal(SIGTERM);
    expect_stops_cleanly(p);
}

TEST_F(Lifecycle, MachineStopsWhenCommandEndsEvenWithBackgroundChildren) {
    // The command (PID 1) exits while a child still runs: the machine ends, the child with it.
    auto r = sh("sleep 1000 & echo started", {}, {.timeout = 20s});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "started\n");
}

}  // namespace
}  // namespace berth::test
