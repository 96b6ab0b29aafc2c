// The options systemd's machinectl has on the verbs we ship, against machined: --max-addresses and the
// -o modes on list (the same bytes as systemd's machinectl on the same bus), -o help, -M for the local
// host, -n on status.
#include <nlohmann/json.hpp>

#include "tests/integration/machinectl_fixture.hpp"

namespace berth::test {
namespace {

using MachinectlOptionsTest = MachinectlTest;

}  // namespace

TEST_F(MachinectlOptionsTest, ListOptionsPrintWhatSystemdsMachinectlPrints) {
    if (!have_systemd_machinectl()) GTEST_SKIP() << "systemd-container is not installed";
    // A leader in the host's network namespace: the host's addresses, several of them.
    auto a = start_registered_leader("mc-a-" + id_, "svc-a");
    auto b = start_registered_leader("mc-b-" + id_, "svc-b");
    for (auto args : std::vector<std::vector<std::string>>{{"list", "--max-addresses=0"},
                                                          {"list", "--max-addresses=2"},
                                                          {"list", "--max-addresses=all"},
                                                          {"list", "--max-addresses=0", "-o", "json"},
                                                          {"list", "-o", "json-sse"},
                                                          {"list", "-o", "json-seq"},
                                                          {"list", "-o", "short-iso"},
                                                          {"list", "-o", "verbose", "--no-legend"},
                                                          {"list", "-o", "cat", "-a"}}) {
        auto ours = machinectl(args), theirs = systemd_machinectl(args);
        ASSERT_TRUE(theirs.exited(0)) << theirs.describe();
        ASSERT_TRUE(ours.exited(0)) << ours.describe();
        EXPECT_EQ(ours.out, theirs.out) << ::testing::PrintToString(args);
    }
}

TEST_F(MachinectlOptionsTest, OutputHelpListsSystemdsModes) {
    auto ours = machinectl({"-o", "help"});
    ASSERT_TRUE(ours.exited(0)) << ours.describe();
    EXPECT_EQ(ours.out,
              "short\nshort-full\nshort-iso\nshort-iso-precise\nshort-precise\nshort-monotonic\nshort-delta\n"
              "short-unix\nverbose\nexport\njson\njson-pretty\njson-sse\njson-seq\ncat\nwith-unit\n");
    if (have_systemd_machinectl()) {
        EXPECT_EQ(ours.out, systemd_machinectl({"-o", "help"}).out);
    }
}

TEST_F(MachinectlOptionsTest, MachineOptionNamingTheLocalHostTalksToTheSameMachined) {
    auto a = start_registered_leader("mc-" + id_);
    auto plain = machinectl({"list", "--no-legend", "--max-addresses=0"});
    ASSERT_TRUE(plain.exited(0)) << plain.describe();
    for (auto m : {"root@", ".host", "root@.host"}) {
        auto r = machinectl({"-M", m, "list", "--no-legend", "--max-addresses=0"});
        ASSERT_TRUE(r.exited(0)) << m << ": " << r.describe();
        EXPECT_EQ(r.out, plain.out) << m;
    }
}

TEST_F(MachinectlOptionsTest, MachineOptionNamingAnotherMachineIsRefused) {
    auto a = start_registered_leader("mc-" + id_);
    expect_refused({"-M", "mc-" + id_, "list"}, "-M/--machine");
}

TEST_F(MachinectlOptionsTest, StatusOfAMachineWithoutJournalEndsWithTheProcessTree) {
    auto m = start_registered_up("sleep 100000");
    for (auto n : {"0", "10"}) {
        auto r = machinectl({"status", machine_, "-n", n});
        ASSERT_TRUE(r.exited(0)) << r.describe();
        EXPECT_EQ(r.err, "");
        ASSERT_GE(r.out.size(), 2u);
        EXPECT_NE(r.out.substr(r.out.size() - 2), "\n\n") << "no empty line for a journal that is not there: " << r.out;
        EXPECT_NE(r.out.find("sleep 100000"), std::string::npos) << r.out;
    }
    auto j = machinectl({"status", machine_, "-o", "json"});
    ASSERT_TRUE(j.exited(0)) << j.describe();
    auto doc = nlohmann::json::parse(j.out);
    EXPECT_EQ(doc["Journal"], nlohmann::json::array()) << j.out;
    EXPECT_TRUE(machinectl({"terminate", machine_}).exited(0));
    m.wait(60s);
}

TEST_F(MachinectlOptionsTest, BadOptionValuesAreRefusedAsSystemdRefusesThem) {
    expect_refused({"-n", "many", "status", ".host"}, "Failed to parse lines 'many'");
    expect_refused({"--max-addresses=-1", "list"}, "Invalid number of addresses: -1");
    expect_refused({"-o", "yaml", "list"}, "Unknown output 'yaml'.");
    expect_refused({"--uid=root", "login", ".host"}, "--setenv= and --uid= are not supported for 'login'.");
}

}  // namespace berth::test
