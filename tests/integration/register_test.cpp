// --register against a system bus where nobody owns org.freedesktop.machine1 (a private dbus-daemon of
// the test's own), and against no bus at all: `yes` must fail cleanly (one line naming the machine and
// machined, nothing left behind, the command never runs), `auto` must run the machine as if nothing
// happened. DBUS_SYSTEM_BUS_ADDRESS is set for nspawn only, never for the test process.
#include <optional>

#include "tests/integration/dbus_daemon.hpp"
#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

// A system bus of our own where everything is allowed and nobody owns org.freedesktop.machine1.
constexpr const char* kAllowAll =
    "  <policy context=\"default\">\n"
    "    <allow user=\"*\"/>\n"
    "    <allow own=\"*\"/>\n"
    "    <allow send_destination=\"*\"/>\n"
    "    <allow receive_sender=\"*\"/>\n"
    "  </policy>\n";

// Every test has the bus; the tests of the suite Register point nspawn at no bus instead (no_bus()).
class Register : public BusyboxTest {
protected:
    void SetUp() override {
        BusyboxTest::SetUp();
        bus_.emplace(tmp_, kAllowAll);
    }
    void TearDown() override {
        bus_.reset();
        BusyboxTest::TearDown();
    }

    // The machine runs `echo ran`, registering as `mode` says, with `env` for nspawn.
    RunResult attempt(const std::string& mode, const std::string& env) const {
        return nspawn({"-q", "--register=" + mode, "-D", root_, "/bin/sh", "-c", "echo ran"},
                      {.env = {env}, .timeout = 30s});
    }
    std::string no_bus() const { return "DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + tmp_ + "/no-such-socket"; }

    ::testing::AssertionResult refused_naming_machine_and_machined(const RunResult& r) const {
        auto a = refused_with(r, "\"" + machine_ + "\"");
        if (!a) return a;
        if (r.err.find("machined") == std::string::npos)
            return ::testing::AssertionFailure() << "the error does not name machined: " << r.describe();
        if (!r.out.empty()) return ::testing::AssertionFailure() << "the command ran: " << r.describe();
        return ::testing::AssertionSuccess();
    }

    std::optional<DbusDaemon> bus_;
};
using RegisterWithBus = Register;

TEST_F(RegisterWithBus, RegisterYesWithoutMachinedIsRefused) {
    EXPECT_TRUE(refused_naming_machine_and_machined(attempt("yes", bus_->env())));
}

TEST_F(RegisterWithBus, RegisterAutoWithoutMachinedRunsMachine) {
    auto r = attempt("auto", bus_->env());
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "ran\n");
    EXPECT_EQ(r.err, "") << "nothing to say when machined is simply not there";
}

TEST_F(Register, RegisterYesWithoutBusIsRefused) {
    EXPECT_TRUE(refused_naming_machine_and_machined(attempt("yes", no_bus())));
}

TEST_F(Register, RegisterAutoWithoutBusRunsMachine) {
    auto r = attempt("auto", no_bus());
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "ran\n");
    EXPECT_EQ(r.err, "") << "nothing to say when there is no bus";
}

}  // namespace
}  // namespace berth::test
