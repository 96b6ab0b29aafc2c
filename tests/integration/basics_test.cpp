// The command in a busybox machine: who it is, what it sees of itself, how its end is reported.
#include <signal.h>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class Basics : public BusyboxTest {};

TEST_F(Basics, CommandRunsAsPid1) {
    auto r = sh("echo $$");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "1\n");
}

TEST_F(Basics, DefaultMachineNameIsDirectoryBasename) {
    auto r = sh("hostname");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, machine_ + "\n");
}

TEST_F(Basics, HostnameIsMachineName) {
    auto r = sh("hostname", {"-M", "named-" + id_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "named-" + id_ + "\n");
}

TEST_F(Basics, HostnameOptionOverridesMachineName) {
    auto r = sh("hostname", {"-M", "named-" + id_, "--hostname=other-" + id_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "other-" + id_ + "\n");
}

TEST_F(Basics, ExitStatusPropagates) {
    auto r = sh("exit 7");
    EXPECT_TRUE(r.exited(7)) << r.describe();
}

// PID 1 cannot be killed by its own signals, so the command runs as PID 2 under the stub init.
TEST_F(Basics, DeathBySignalGives128PlusSignal) {
    auto r = sh("kill -KILL $$", {"--as-pid2"});
    EXPECT_TRUE(r.exited(128 + 9)) << r.describe();
}

TEST_F(Basics, AsPid2RunsCommandAsPid2) {
    auto r = sh("echo $$", {"--as-pid2"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "2\n");
}

TEST_F(Basics, AsPid2PropagatesExitStatus) {
    auto r = sh("exit 5", {"--as-pid2"});
    EXPECT_TRUE(r.exited(5)) << r.describe();
}

// Started as a shell's background job or under nohup (SIGINT, SIGQUIT, SIGHUP ignored, signals blocked),
// nspawn still hands its payload every signal at its default and none blocked, as systemd-nspawn does:
// else `machinectl reboot` (SIGINT to a systemd guest's PID 1) is silently lost.
class InheritedSignals : public BusyboxTest {
protected:
    // A shell that ignores signals, then runs nspawn with `payload` in the machine.
    std::string command_with_signals_ignored(const std::vector<std::string>& payload,
                                             const std::vector<std::string>& opts = {}) const {
        std::string cmd = "trap '' INT QUIT HUP USR1 TERM; exec " + nspawn_path();
        auto args = base();
        args.insert(args.end(), opts.begin(), opts.end());
        args.insert(args.end(), payload.begin(), payload.end());
        for (auto& a : args) {
            cmd += " '";
            for (char c : a) cmd += c == '\'' ? std::string("'\\''") : std::string(1, c);
            cmd += "'";
        }
        return cmd;
    }
    RunResult run_with_signals_ignored(const std::vector<std::string>& payload,
                                       const std::vector<std::string>& opts = {}) const {
        return run("/bin/sh", {"-c", command_with_signals_ignored(payload, opts)});
    }
    // grep as the payload itself: a shell would change dispositions of its own (busybox sh ignores SIGQUIT).
    static std::vector<std::string> show(const std::string& pid) {
        return {"/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/" + pid + "/status"};
    }
    static constexpr const char* kNone = "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n";
};

TEST_F(InheritedSignals, PayloadHasEverySignalAtItsDefault) {
    auto r = run_with_signals_ignored(show("1"));
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, kNone);
}

TEST_F(InheritedSignals, AsPid2PayloadHasEverySignalAtItsDefaultAndTheStubInitIgnoresNone) {
    auto r = run_with_signals_ignored(show("self"), {"--as-pid2"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, kNone);
    r = run_with_signals_ignored(show("1"), {"--as-pid2"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("SigIgn:\t0000000000000000\n"), std::string::npos) << r.out;
}

// SIGINT to the machine's PID 1 from the host (what `machinectl reboot` sends) reaches the payload, which
// ends by it: PID 1 forwards it to PID 2, where it has its default action.
TEST_F(InheritedSignals, SigintToTheMachineEndsTheAsPid2Payload) {
    auto p = Process::start("/bin/sh", {"-c", command_with_signals_ignored(
                                                  {"/bin/sh", "-c", "touch /sync/up; exec sleep 60"},
                                                  {"--as-pid2", "--bind=" + sync_ + ":/sync:idmap"})},
                            {.timeout = 60s});
    ASSERT_TRUE(wait_for_file(sync_ + "/up", p, 20s)) << p.wait(0ms).describe();
    pid_t pid1 = guest_pid1(p.pid());
    ASSERT_GT(pid1, 0);
    ASSERT_EQ(::kill(pid1, SIGINT), 0);
    auto r = p.wait(30s);
    EXPECT_TRUE(r.exited(128 + SIGINT)) << r.describe();
}

TEST_F(Basics, StandardInputReachesCommandInPipeMode) {
    auto r = sh("cat", {"--console=pipe"}, {.input = "hello from the host\n"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "hello from the host\n");
}

TEST_F(Basics, SetenvIsVisible) {
    auto r = sh("echo \"$FOO\"", {"-E", "FOO=bar baz", "--setenv=OTHER=x"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "bar baz\n");
}

TEST_F(Basics, HostEnvironmentDoesNotLeakIn) {
    auto r = sh("echo \"[$BERTH_HOST_ONLY]\"", {}, {.env = {"BERTH_HOST_ONLY=secret"}});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "[]\n");
}

TEST_F(Basics, ContainerVariableIsSet) {
    auto r = sh("echo \"$container\"");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(trim(r.out), "");
}

TEST_F(Basics, ContainerUuidIsSet) {
    auto r = sh("echo \"$container_uuid\"");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::string hex;
    for (char c : trim(r.out))
        if (c != '-') hex += c;
    EXPECT_EQ(hex.size(), 32u) << r.out;
    EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << r.out;
}

// The busybox image has no /etc/machine-id, so --uuid is the machine's ID.
TEST_F(Basics, UuidOptionShowsInContainerUuid) {
    auto r = sh("echo \"$container_uuid\"; cat /run/host/container-uuid",
                {"--uuid=0123456789abcdef0123456789ABCDEF"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::string hex;
    for (char c : r.out)
        if (c != '-') hex += c;
    EXPECT_EQ(hex, "0123456789abcdef0123456789abcdef\n0123456789abcdef0123456789abcdef\n") << r.out;
}

TEST_F(Basics, ChdirSetsWorkingDirectory) {
    auto r = sh("pwd", {"--chdir=/etc"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "/etc\n");
}

TEST_F(Basics, UserOptionRunsAsThatUser) {
    auto r = sh("id -u; id -g", {"-u", "alice"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "1000\n1000\n");
}

TEST_F(Basics, UserStartsInHomeDirectory) {
    auto r = sh("pwd; echo \"$HOME\"", {"--user=alice"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "/home/alice\n/home/alice\n");
}

TEST_F(Basics, DefaultCommandIsTheShell) {
    auto r = nspawn(base(), {.input = "echo from the shell $$\n"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "from the shell 1\n");
}

// Only the machine's own processes: the shell globbing /proc is the one process there is.
TEST_F(Basics, NewPidNamespaceShowsOnlyMachineProcesses) {
    auto r = sh("for p in /proc/[0-9]*; do echo ${p#/proc/}; done");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "1\n");
}

TEST_F(Basics, PsSeesOnlyMachineProcesses) {
    // Not a pipeline: ps could read /proc before the shell had forked wc (2 or 3 processes by chance).
    auto r = sh("ps -o pid= > /tmp/pids; wc -l < /tmp/pids");  // sh and ps, nothing of the host's
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(trim(r.out), "2");
}

}  // namespace
}  // namespace berth::test
