// Hostile input: every bad call gets a D-Bus error, machined stays up, the registry is unchanged.
#include <signal.h>
#include <unistd.h>

#include "tests/integration/bus_fixture.hpp"

namespace berth::test {
namespace {

class Hostile : public MachinedTest {
protected:
    void SetUp() override {
        MachinedTest::SetUp();
        start_machined();
        leader_.emplace(start_leader());
        ASSERT_TRUE(register_leader("good-" + id_, leader_->pid()).exited(0));
        before_ = machine_names();
    }
    void TearDown() override {
        if (leader_) {
            EXPECT_TRUE(machined_running()) << "machined died";
            EXPECT_EQ(machine_names(), before_) << "the registry changed";
            leader_.reset();
        }
        MachinedTest::TearDown();
    }
    // RegisterMachine with these arguments; the D-Bus error name.
    std::string attempt(const std::string& name, const std::vector<uint8_t>& id, uint32_t leader,
                        const std::string& klass = "container", const std::string& root = "/") const {
        return bus_error_of([&](sdbus::IProxy& p) {
            p.callMethod("RegisterMachine").onInterface("org.freedesktop.machine1.Manager")
                .withArguments(name, id, std::string("test"), klass, leader, root);
        });
    }
    uint32_t spare() {
        spare_.emplace_back(start_leader());
        return static_cast<uint32_t>(spare_.back().pid());
    }
    std::optional<Process> leader_;
    std::vector<Process> spare_;
    std::vector<std::string> before_;
};

constexpr const char* kInvalid = "org.freedesktop.DBus.Error.InvalidArgs";

TEST_F(Hostile, BadNamesAreRefused) {
    EXPECT_EQ(attempt("", {}, spare()), kInvalid);
    EXPECT_EQ(attempt(std::string(65, 'a'), {}, spare()), kInvalid);
    EXPECT_EQ(attempt("../etc", {}, spare()), kInvalid);
    EXPECT_EQ(attempt("a/b", {}, spare()), kInvalid);
    EXPECT_EQ(attempt(".host", {}, spare()), kInvalid);
    EXPECT_EQ(attempt("-dash", {}, spare()), kInvalid);
}

TEST_F(Hostile, NonUtf8NameNeverReachesTheRegistry) {
    // D-Bus itself refuses strings that are not UTF-8: the client library or the bus rejects the call.
    auto r = register_leader(std::string("bad\xff") + id_, spare());
    EXPECT_FALSE(r.exited(0)) << r.describe();
}

// A million interface indexes: refused, and machined's memory does not stay grown.
TEST_F(Hostile, AMillionInterfacesAreRefusedAndCostNothingLasting) {
    auto rss = [&] {
        std::string status = read_file("/proc/" + std::to_string(machined_->pid()) + "/status");
        auto at = status.find("VmRSS:");
        return at == std::string::npos ? 0ul : std::stoul(status.substr(at + 6));
    };
    unsigned long before = rss();
    uint32_t leader = spare();
    std::string error = bus_error_of([&](sdbus::IProxy& p) {
        p.callMethod("RegisterMachineWithNetwork").onInterface("org.freedesktop.machine1.Manager")
            .withArguments("many-" + id_, std::vector<uint8_t>{}, std::string("test"), std::string("container"), leader,
                           std::string("/"), std::vector<int32_t>(1000000, 1));
    });
    EXPECT_EQ(error, kInvalid);
    if (kMemoryFiguresMeaningful) {
        EXPECT_LT(rss(), before + 24 * 1024) << "kB before: " << before;
    }
}

// Terminate and Kill of a "machine" led by machined, the bus daemon or one of their ancestors would stop
// them: such leaders are refused.
TEST_F(Hostile, MachinedTheBusDaemonAndTheirAncestorsAreNoLeaders) {
    auto bus = busctl({"call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "GetConnectionUnixProcessID", "s", "org.freedesktop.DBus"});
    ASSERT_TRUE(bus.exited(0)) << bus.describe();
    uint32_t bus_pid = static_cast<uint32_t>(std::stoul(bus.out.substr(2)));
    EXPECT_EQ(attempt("self-" + id_, {}, static_cast<uint32_t>(machined_->pid())), kInvalid);
    EXPECT_EQ(attempt("bus-" + id_, {}, bus_pid), kInvalid);
    EXPECT_EQ(attempt("parent-" + id_, {}, static_cast<uint32_t>(::getpid())), kInvalid) << "machined's parent";
}

TEST_F(Hostile, DuplicateNameIsMachineExists) {
    EXPECT_EQ(attempt("good-" + id_, {}, spare()), "org.freedesktop.machine1.MachineExists");
}

TEST_F(Hostile, IdOfWrongLengthIsRefused) {
    EXPECT_EQ(attempt("id-" + id_, std::vector<uint8_t>(15, 1), spare()), kInvalid);
    EXPECT_EQ(attempt("id-" + id_, std::vector<uint8_t>(17, 1), spare()), kInvalid);
}

TEST_F(Hostile, BadLeadersAreRefused) {
    EXPECT_EQ(attempt("l1-" + id_, {}, 1), kInvalid);
    auto dead = start_leader();
    uint32_t pid = dead.pid();
    dead.signal(SIGKILL);
    dead.wait(5s);
    EXPECT_EQ(attempt("dead-" + id_, {}, pid), kInvalid);
    EXPECT_EQ(attempt("huge-" + id_, {}, 0x7fffffffu), kInvalid);
    EXPECT_EQ(attempt("same-" + id_, {}, static_cast<uint32_t>(leader_->pid())), "org.freedesktop.machine1.MachineExists");
}

TEST_F(Hostile, BadClassAndRootAreRefused) {
    EXPECT_EQ(attempt("c-" + id_, {}, spare(), "host"), kInvalid);
    EXPECT_EQ(attempt("c-" + id_, {}, spare(), "toaster"), kInvalid);
    EXPECT_EQ(attempt("r-" + id_, {}, spare(), "container", "relative/path"), kInvalid);
}

TEST_F(Hostile, UnknownSignalsAndWhoAreRefused) {
    auto kill = [&](const std::string& who, int32_t sig) {
        return bus_error_of([&](sdbus::IProxy& p) {
            p.callMethod("KillMachine").onInterface("org.freedesktop.machine1.Manager").withArguments("good-" + id_, who, sig);
        });
    };
    EXPECT_EQ(kill("leader", 0), kInvalid);
    EXPECT_EQ(kill("leader", -1), kInvalid);
    EXPECT_EQ(kill("leader", 65), kInvalid);
    EXPECT_EQ(kill("everyone", SIGTERM), kInvalid);
    EXPECT_EQ(kill("../leader", SIGTERM), kInvalid);
    EXPECT_TRUE(leader_->running());
}

TEST_F(Hostile, UnknownMachinesAreNoSuchMachine) {
    for (const char* method : {"GetMachine", "UnregisterMachine", "TerminateMachine", "GetMachineOSRelease",
                               "GetMachineAddresses", "GetMachineUIDShift"}) {
        EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                      p.callMethod(method).onInterface("org.freedesktop.machine1.Manager").withArguments(
                          std::string("nope-") + id_);
                  }),
                  "org.freedesktop.machine1.NoSuchMachine")
            << method;
    }
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("FreezeMachine").onInterface("io.berth.Manager1").withArguments(std::string("nope"));
              }),
              "org.freedesktop.machine1.NoSuchMachine");
}

TEST_F(Hostile, UnprivilegedCallersMayReadButNotChange) {
    // Reading is allowed.
    EXPECT_EQ(bus_error_of([](sdbus::IProxy& p) { p.callMethod("ListMachines").onInterface("org.freedesktop.machine1.Manager"); },
                           true),
              "");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("GetMachine").onInterface("org.freedesktop.machine1.Manager").withArguments("good-" + id_);
              },
                           true),
              "");
    auto r = busctl_as_nobody({"get-property", "org.freedesktop.machine1",
                               "/org/freedesktop/machine1/machine/good_2d" + id_, "org.freedesktop.machine1.Machine", "Leader"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    // Changing is not.
    constexpr const char* kDenied = "org.freedesktop.DBus.Error.AccessDenied";
    std::string name = "good-" + id_;
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("TerminateMachine").onInterface("org.freedesktop.machine1.Manager").withArguments(name);
              },
                           true),
              kDenied);
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("KillMachine").onInterface("org.freedesktop.machine1.Manager").withArguments(name, std::string("all"), SIGKILL);
              },
                           true),
              kDenied);
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("UnregisterMachine").onInterface("org.freedesktop.machine1.Manager").withArguments(name);
              },
                           true),
              kDenied);
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("RegisterMachine").onInterface("org.freedesktop.machine1.Manager")
                      .withArguments("x-" + id_, std::vector<uint8_t>{}, std::string(""), std::string("container"), uint32_t{0}, std::string("/"));
              },
                           true),
              kDenied);
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("FreezeMachine").onInterface("io.berth.Manager1").withArguments(name);
              },
                           true),
              kDenied);
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) { p.callMethod("Terminate").onInterface("org.freedesktop.machine1.Machine"); },
                           true, "/org/freedesktop/machine1/machine/good_2d" + id_),
              kDenied);
    EXPECT_TRUE(leader_->running());
}

TEST_F(Hostile, HostCannotBeUnregisteredTerminatedOrKilled) {
    auto call = [&](const char* method, auto... args) {
        return bus_error_of([&](sdbus::IProxy& p) {
            p.callMethod(method).onInterface("org.freedesktop.machine1.Manager").withArguments(std::string(".host"), args...);
        });
    };
    EXPECT_EQ(call("UnregisterMachine"), kInvalid);
    EXPECT_EQ(call("TerminateMachine"), kInvalid);
    EXPECT_EQ(call("KillMachine", std::string("all"), int32_t{SIGKILL}), kInvalid);
    EXPECT_EQ(bus_error_of([](sdbus::IProxy& p) {
                  p.callMethod("FreezeMachine").onInterface("io.berth.Manager1").withArguments(std::string(".host"));
              }),
              kInvalid);
}

TEST_F(Hostile, QueriesThatHaveNoAnswerSaySo) {
    // The leader shares the host's network namespace and user namespace.
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("GetMachineAddresses").onInterface("org.freedesktop.machine1.Manager").withArguments("good-" + id_);
              }),
              "org.freedesktop.machine1.NoPrivateNetworking");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("MapToMachineUser").onInterface("org.freedesktop.machine1.Manager").withArguments(uint32_t{4000000000u});
              }),
              "org.freedesktop.machine1.NoSuchUserMapping");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("MapToMachineGroup").onInterface("org.freedesktop.machine1.Manager").withArguments(uint32_t{4000000000u});
              }),
              "org.freedesktop.machine1.NoSuchGroupMapping");
    // Freezing needs a cgroup of the machine's own; this leader sits in the test's.
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("FreezeMachine").onInterface("io.berth.Manager1").withArguments("good-" + id_);
              }),
              "org.freedesktop.DBus.Error.NotSupported");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("StartMachine").onInterface("io.berth.Manager1").withArguments(std::string("../etc"));
              }),
              kInvalid);
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("EnableMachine").onInterface("io.berth.Manager1").withArguments(std::string("nope-") + id_);
              }),
              "org.freedesktop.machine1.NoSuchImage");
}

// Limits and cleaning refuse what they cannot do, naming it: .host is never limited (EROFS), a mode
// CleanPool does not know is InvalidArgs (as 252).
TEST_F(Hostile, LimitsAndCleaningRefuseWhatTheyCannotDo) {
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("SetImageLimit").onInterface("org.freedesktop.machine1.Manager").withArguments(std::string(".host"), uint64_t{1});
              }),
              "System.Error.EROFS");
    EXPECT_EQ(bus_error_of([](sdbus::IProxy& p) {
                  p.callMethod("CleanPool").onInterface("org.freedesktop.machine1.Manager").withArguments(std::string("../all"));
              }),
              "org.freedesktop.DBus.Error.InvalidArgs");
}

}  // namespace
}  // namespace berth::test
