// The workflow every user runs, end to end: a Debian image in the pool with a root password,
// `machinectl enable`, `machinectl start`, `machinectl login` (prompt, log in, run a command, log out,
// leave with Ctrl-] three times), then poweroff and disable; with our machinectl and with systemd's.
// The image is a copy of the cached Debian rootfs in the test's pool; the machine is booted by machined's
// own nspawn, exactly as for /var/lib/machines.
#include <crypt.h>

#include "tests/integration/machinectl_fixture.hpp"

namespace berth::test {
namespace {

using Workflow = MachinectlTest;

constexpr const char* kPassword = "berth-test-password";

// The pool image NAME: a copy of the cached Debian rootfs (as a user puts one in /var/lib/machines), with
// root's password set. A plain directory on the host's filesystem, so that nspawn maps its owners with an
// idmapped mount as it does for /var/lib/machines (an overlay mounted here could not be idmapped, and
// nspawn would change the owner of every file first). Removed with the test's directory.
::testing::AssertionResult make_debian_pool_image(const std::string& pool, const std::string& name) {
    std::string dir = pool + "/" + name;
    auto r = run("/bin/cp", {"-a", debian_rootfs(), dir});
    if (!r.exited(0)) return ::testing::AssertionFailure() << "copying the Debian rootfs: " << r.describe();
    std::string shadow = read_file(dir + "/etc/shadow");
    if (shadow.rfind("root:", 0) != 0) return ::testing::AssertionFailure() << "no root in /etc/shadow";
    std::string hash = ::crypt(kPassword, "$6$berthtestsalt$");
    shadow.replace(5, shadow.find(':', 5) - 5, hash);
    write_file(dir + "/etc/shadow", shadow);
    return ::testing::AssertionSuccess();
}

// Logs in on a `machinectl login` session shown on `pty`, runs a command, logs out, and leaves.
void log_in_and_out(Pty& pty, const Process& client) {
    ASSERT_TRUE(pty.wait_for("login: ", 120s)) << "no login prompt; saw: " << pty.output();
    pty.clear_output();
    pty.type("root\r");
    ASSERT_TRUE(pty.wait_for("Password: ", 30s)) << pty.output();
    pty.type(std::string(kPassword) + "\r");
    ASSERT_TRUE(pty.wait_for("# ", 30s)) << "no shell prompt after logging in: " << pty.output();
    pty.clear_output();
    pty.type("echo answer-$((6*7)) $(id -un) $(cat /proc/1/comm)\r");
    EXPECT_TRUE(pty.wait_for("answer-42 root systemd", 30s)) << pty.output();
    pty.clear_output();
    pty.type("exit\r");
    // systemd's semantics: after logging out the getty comes back; the session stays until Ctrl-] x3.
    EXPECT_TRUE(pty.wait_for("login: ", 60s)) << "no new prompt after logging out: " << pty.output();
    EXPECT_TRUE(client.running());
    pty.type("\x1d\x1d\x1d");
}

TEST_F(Workflow, EnableStartLoginWithOurMachinectl) {
    std::string name = "wf-" + id_;
    ASSERT_TRUE(make_debian_pool_image(pool_, name));

    auto r = machinectl({"enable", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    r = machinectl({"start", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    ASSERT_TRUE(wait_listed(name));

    Pty pty;
    Process client =
        Process::start(machinectl_path(), {"login", name}, {.env = {bus_->env()}, .timeout = 300s, .tty = pty.slave()});
    ASSERT_TRUE(pty.wait_for("Press ^] three times within 1s to exit session.", 30s)) << pty.output();
    log_in_and_out(pty, client);
    auto ended = client.wait(30s);
    EXPECT_TRUE(ended.exited(0)) << ended.describe() << pty.output();
    EXPECT_TRUE(pty.wait_for("Connection to machine " + name + " terminated.", 10s)) << pty.output();

    r = machinectl({"poweroff", name});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_TRUE(wait_unlisted(name));
    r = machinectl({"disable", name});
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

TEST_F(Workflow, LoginWithSystemdsMachinectl) {
    if (!have_systemd_machinectl()) GTEST_SKIP() << "systemd's machinectl is not installed";
    std::string name = "wf-" + id_;
    ASSERT_TRUE(make_debian_pool_image(pool_, name));
    // Our machinectl starts it: systemd's `machinectl start` finds the image (GetImage) but then asks
    // systemd for systemd-nspawn@NAME.service (StartUnit), and this host has no systemd
    // (Images.SystemdMachinectlStartGetsPastTheImage).
    auto r = machinectl({"start", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    ASSERT_TRUE(wait_listed(name));

    Pty pty;
    Process client = start_systemd_tool_on(pty, "/usr/bin/machinectl", {"login", name}, 300s);
    ASSERT_TRUE(pty.wait_for("Press ^] three times within 1s to exit session.", 30s)) << pty.output();
    log_in_and_out(pty, client);
    auto ended = client.wait(30s);
    EXPECT_TRUE(ended.exited(0)) << ended.describe() << pty.output();

    r = systemd_machinectl({"poweroff", name});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_TRUE(wait_unlisted(name));
}

}  // namespace
}  // namespace berth::test
