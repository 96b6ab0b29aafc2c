// machined as a program: configuration errors, a second instance, clean exit.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "tests/integration/bus_fixture.hpp"

namespace berth::test {
namespace {

using Daemon = MachinedTest;

TEST_F(Daemon, MalformedConfigurationIsAnErrorNamingTheFile) {
    write_file(config_, "pool = \"relative/path\"\n");
    auto r = run(machined_path(), {"--state-dir=" + state_dir_, "--config=" + config_}, {.env = {bus_->env()}});
    EXPECT_TRUE(r.exited(1)) << r.describe();
    EXPECT_NE(r.err.find(config_), std::string::npos) << r.describe();
    write_file(config_, "colour = \"red\"\n");
    r = run(machined_path(), {"--state-dir=" + state_dir_, "--config=" + config_}, {.env = {bus_->env()}});
    EXPECT_TRUE(r.exited(1)) << r.describe();
    EXPECT_NE(r.err.find("colour"), std::string::npos) << r.describe();
}

TEST_F(Daemon, SecondInstanceDoesNotTakeOver) {
    start_machined();
    auto leader = start_leader();
    ASSERT_TRUE(register_leader("first-" + id_, leader.pid()).exited(0));
    auto r = run(machined_path(), {"--pool=" + pool_, "--state-dir=" + state_dir_, "--config=" + config_},
                 {.env = {bus_->env()}});
    EXPECT_TRUE(r.exited(1)) << r.describe();
    EXPECT_TRUE(machined_running());
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host", "first-" + id_}));
}

TEST_F(Daemon, NoBusIsAnError) {
    write_file(config_, "");
    auto r = run(machined_path(), {"--state-dir=" + state_dir_, "--config=" + config_},
                 {.env = {"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + tmp_ + "/no-such-socket"}});
    EXPECT_TRUE(r.exited(1)) << r.describe();
    EXPECT_NE(r.err.find("system bus"), std::string::npos) << r.describe();
}

// --daemon returns once machined owns its name: the next line of a shell script may call it, no wait.
TEST_F(Daemon, DaemonOptionReturnsOnceTheNameIsOwned) {
    write_file(config_, "");
    auto r = run(machined_path(), {"--daemon", "--pool=" + pool_, "--state-dir=" + state_dir_, "--config=" + config_},
                 {.env = {bus_->env()}});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto owner = busctl({"call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                         "GetConnectionUnixProcessID", "s", "org.freedesktop.machine1"});
    ASSERT_TRUE(owner.exited(0)) << "nobody owns the name right after --daemon returned: " << owner.describe();
    ASSERT_EQ(owner.out.rfind("u ", 0), 0u) << owner.out;
    pid_t pid = std::stoi(owner.out.substr(2));
    struct Stop {
        pid_t pid;
        ~Stop() { ::kill(pid, SIGTERM); }
    } stop{pid};
    EXPECT_EQ(::getsid(pid), pid) << "the daemon runs in a session of its own";
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host"}));
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    EXPECT_TRUE(eventually([&] { return ::kill(pid, 0) < 0 && errno == ESRCH; }));
}

// A daemon that cannot start makes --daemon fail with its error, not return 0 and vanish.
TEST_F(Daemon, DaemonOptionFailsWithTheDaemonsError) {
    start_machined();
    auto r = run(machined_path(), {"--daemon", "--pool=" + pool_, "--state-dir=" + state_dir_, "--config=" + config_},
                 {.env = {bus_->env()}});
    EXPECT_TRUE(r.exited(1)) << r.describe();
    EXPECT_NE(r.err.find("org.freedesktop.machine1"), std::string::npos) << r.describe();
    EXPECT_TRUE(machined_running());
}

}  // namespace
}  // namespace berth::test
