// machined as a program: configuration errors, a second instance, clean exit.
#include <signal.h>

#include "bus_fixture.hpp"

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

}  // namespace
}  // namespace berth::test
