// machinectl list, status and show against machined: registry-only machines (a `sleep` leader
// registered by busctl) and a busybox machine registered by nspawn --register=yes.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <sstream>

#include "tests/integration/machinectl_fixture.hpp"

namespace berth::test {
namespace {

using Json = nlohmann::json;

using MachinectlRegistry = MachinectlTest;

// ID and VERSION_ID of the host: a `sleep` leader runs in the host's mount namespace, so machined reads
// the host's os-release for it, as systemd's does.
std::pair<std::string, std::string> host_os() {
    std::string text = read_file("/etc/os-release");
    if (text.empty()) text = read_file("/usr/lib/os-release");
    std::string id, version;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        auto value = [&](size_t n) {
            std::string v = line.substr(n);
            if (v.size() >= 2 && (v[0] == '"' || v[0] == '\'')) v = v.substr(1, v.size() - 2);
            return v;
        };
        if (line.rfind("ID=", 0) == 0) id = value(3);
        if (line.rfind("VERSION_ID=", 0) == 0) version = value(11);
    }
    return {id.empty() ? "-" : id, version.empty() ? "-" : version};
}

std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < s.size()) {
        size_t nl = s.find('\n', start);
        if (nl == std::string::npos) nl = s.size();
        out.push_back(s.substr(start, nl - start));
        start = nl + 1;
    }
    return out;
}

// The words of a table line.
std::vector<std::string> words(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

TEST_F(MachinectlRegistry, ListWithoutMachinesSaysSo) {
    auto r = machinectl({"list"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "No machines.\n") << ".host is hidden without --all";
    EXPECT_EQ(r.err, "");
}

TEST_F(MachinectlRegistry, ListIsTheDefaultVerb) {
    auto a = start_registered_leader("mc-" + id_);
    auto r = machinectl({});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, machinectl({"list"}).out);
}

TEST_F(MachinectlRegistry, ListShowsColumnsRowsSortedAndFooter) {
    auto b = start_registered_leader("mc-b-" + id_, "svc-b");
    auto a = start_registered_leader("mc-a-" + id_, "svc-a");
    auto r = machinectl({"list"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto l = lines(r.out);
    ASSERT_GE(l.size(), 5u) << r.out;
    EXPECT_EQ(words(l[0]), (std::vector<std::string>{"MACHINE", "CLASS", "SERVICE", "OS", "VERSION", "ADDRESSES"}));
    auto [os, version] = host_os();
    auto row_a = words(l[1]), row_b = words(l[2]);
    ASSERT_GE(row_a.size(), 6u) << r.out;
    ASSERT_GE(row_b.size(), 6u) << r.out;
    EXPECT_EQ(std::vector<std::string>(row_a.begin(), row_a.begin() + 5),
              (std::vector<std::string>{"mc-a-" + id_, "container", "svc-a", os, version}));
    EXPECT_EQ(std::vector<std::string>(row_b.begin(), row_b.begin() + 5),
              (std::vector<std::string>{"mc-b-" + id_, "container", "svc-b", os, version}));
    EXPECT_EQ(l[l.size() - 2], "");
    EXPECT_EQ(l.back(), "2 machines listed.");
    EXPECT_EQ(l[0].find("MACHINE"), 0u);
    EXPECT_EQ(l[1].find("CLASS"), std::string::npos);
    EXPECT_EQ(l[0].find("CLASS"), l[1].find("container")) << "columns line up:\n" << r.out;
}

TEST_F(MachinectlRegistry, ListNoLegendHasOnlyRows) {
    auto a = start_registered_leader("mc-" + id_);
    auto r = machinectl({"list", "--no-legend", "--no-pager"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto l = lines(r.out);
    ASSERT_EQ(l.size(), 1u) << r.out;
    EXPECT_EQ(words(l[0])[0], "mc-" + id_);
    auto empty = machinectl({"list", "--no-legend", "--all"});
    EXPECT_NE(empty.out.find(".host"), std::string::npos) << "--all shows .host: " << empty.describe();
}

TEST_F(MachinectlRegistry, ListAsJson) {
    auto a = start_registered_leader("mc-" + id_, "svc-j");
    for (auto mode : {"json", "json-pretty"}) {
        auto r = machinectl({"list", "-o", mode});
        ASSERT_TRUE(r.exited(0)) << r.describe();
        Json j = Json::parse(r.out);
        ASSERT_TRUE(j.is_array()) << r.out;
        ASSERT_EQ(j.size(), 1u) << r.out;
        EXPECT_EQ(j[0]["machine"], "mc-" + id_);
        EXPECT_EQ(j[0]["class"], "container");
        EXPECT_EQ(j[0]["service"], "svc-j");
        auto [os, version] = host_os();
        EXPECT_EQ(j[0]["os"], os);
        EXPECT_EQ(j[0]["version"], version);
        EXPECT_TRUE(j[0].contains("addresses"));
    }
}

TEST_F(MachinectlRegistry, ShowPrintsTheMachinesProperties) {
    std::string name = "mc-" + id_;
    auto a = start_registered_leader(name);
    auto r = machinectl({"show", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    for (const std::string& line : std::vector<std::string>{"Name=" + name, "Class=container", "Service=test-svc", "Leader=" + std::to_string(a.pid()),
                      "RootDirectory=" + tmp_, "State=running"})
        EXPECT_NE(("\n" + r.out).find("\n" + line + "\n"), std::string::npos) << line << " in\n" << r.out;
    EXPECT_NE(r.out.find("\nTimestamp="), std::string::npos) << r.out;
}

TEST_F(MachinectlRegistry, ShowPropertyValueAndAll) {
    std::string name = "mc-" + id_;
    auto a = start_registered_leader(name);
    auto r = machinectl({"show", name, "-p", "Leader", "--value"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, std::to_string(a.pid()) + "\n");
    // In the order the object sends them (systemd's Name first, ours alphabetical): both, nothing else.
    r = machinectl({"show", name, "--property=Class,Name"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(lines(r.out).size(), 2u) << r.out;
    EXPECT_NE(("\n" + r.out).find("\nName=" + name + "\n"), std::string::npos) << r.out;
    EXPECT_NE(("\n" + r.out).find("\nClass=container\n"), std::string::npos) << r.out;
    auto all = machinectl({"show", "-a", name});
    ASSERT_TRUE(all.exited(0)) << all.describe();
    EXPECT_NE(all.out.find("\nUnit=\n"), std::string::npos) << "empty ones with -a:\n" << all.out;
    EXPECT_EQ(machinectl({"show", name}).out.find("Unit="), std::string::npos);
}

TEST_F(MachinectlRegistry, ShowSeveralMachinesSeparatedByABlankLine) {
    auto a = start_registered_leader("mc-a-" + id_);
    auto b = start_registered_leader("mc-b-" + id_);
    auto r = machinectl({"show", "-p", "Name", "mc-b-" + id_, "mc-a-" + id_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "Name=mc-b-" + id_ + "\n\nName=mc-a-" + id_ + "\n");
}

TEST_F(MachinectlRegistry, ShowWithoutNameShowsTheManager) {
    auto r = machinectl({"show"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("PoolPath=" + pool_ + "\n"), std::string::npos) << r.out;
    auto v = machinectl({"show", "-p", "PoolPath", "--value"});
    EXPECT_EQ(v.out, pool_ + "\n") << v.describe();
}

TEST_F(MachinectlRegistry, ShowAsJson) {
    std::string name = "mc-" + id_;
    auto a = start_registered_leader(name);
    auto r = machinectl({"show", "-o", "json", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    Json j = Json::parse(r.out);
    EXPECT_EQ(j["Name"], name);
    EXPECT_EQ(j["Leader"], a.pid());
    EXPECT_EQ(j["Class"], "container");
    EXPECT_EQ(j["Frozen"], false) << "our own io.berth.Machine1 property is there too";
}

TEST_F(MachinectlRegistry, ShowTheHostMachine) {
    auto r = machinectl({"show", ".host", "-p", "Name,Class,Leader,RootDirectory"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto l = lines(r.out);
    std::sort(l.begin(), l.end());
    EXPECT_EQ(l, (std::vector<std::string>{"Class=host", "Leader=1", "Name=.host", "RootDirectory=/"})) << r.out;
}

TEST_F(MachinectlRegistry, StatusOfARegisteredLeader) {
    std::string name = "mc-" + id_;
    auto a = start_registered_leader(name);
    auto r = machinectl({"status", name});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto l = lines(r.out);
    ASSERT_GE(l.size(), 4u) << r.out;
    EXPECT_EQ(l[0].rfind(name, 0), 0u) << r.out;
    EXPECT_NE(r.out.find("\n\t   Since: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n\t  Leader: " + std::to_string(a.pid()) + " (sleep)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n\t Service: test-svc; class container\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n\t    Root: " + tmp_ + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("─" + std::to_string(a.pid()) + " /bin/sleep 1000\n"), std::string::npos)
        << "the leader in the process tree:\n" << r.out;
}

TEST_F(MachinectlRegistry, StatusOfABusyboxMachineShowsItsProcessTree) {
    auto m = start_registered_up("sleep 100000 & sleep 200000; wait");
    auto leader = machinectl({"show", machine_, "-p", "Leader", "--value"});
    ASSERT_TRUE(leader.exited(0)) << leader.describe();
    std::string pid = trim(leader.out);
    auto r = machinectl({"status", machine_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out.rfind(machine_ + "(", 0), 0u) << "name(id):\n" << r.out;
    EXPECT_NE(r.out.find("\n\t Service: nspawn; class container\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n\t    Root: " + root_ + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n\t      OS: BusyBox test image\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n\t  CGroup: " + unified_cgroup_of(std::stoi(pid)) + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n\t\t  ├─" + pid + " /bin/sh -c "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(" sleep 100000\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n\t\t  └─"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(" sleep 200000\n"), std::string::npos) << r.out;

    auto j = machinectl({"status", "-o", "json", machine_});
    ASSERT_TRUE(j.exited(0)) << j.describe();
    Json doc = Json::parse(j.out);
    EXPECT_EQ(doc["Name"], machine_);
    EXPECT_EQ(doc["OSPrettyName"], "BusyBox test image");
    ASSERT_TRUE(doc["Processes"].is_object()) << j.out;
    EXPECT_EQ(doc["Processes"]["processes"].size(), 3u) << j.out;

    m.signal(SIGTERM);
    m.wait(60s);
}

TEST_F(MachinectlRegistry, InterfaceAndAddressesOfAMachineWithItsOwnNetwork) {
    // No IPv6 on host0: a link-local address appearing between two listings would make them differ.
    auto m = start_registered_up("echo 1 >/proc/sys/net/ipv6/conf/host0/disable_ipv6 && "
                              "ip addr add 10.231.7.2/24 dev host0 && ip addr add 10.231.7.3/24 dev host0 && "
                              "ip link set host0 up && touch /sync/net && "
                              "sleep 100000",
                              {"--network-veth"});
    ASSERT_TRUE(wait_for_file(sync_ + "/net", m, 20s)) << "the guest did not configure host0";
    auto r = machinectl({"status", machine_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::string veth = ("ve-" + machine_).substr(0, 15);
    EXPECT_NE(r.out.find("\n\t   Iface: " + veth + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n\t Address: 10.231.7.2\n\t          10.231.7.3\n"), std::string::npos) << r.out;
    // The table shows the first address and "…", all of them with -l.
    auto l = machinectl({"list", "--no-legend"});
    ASSERT_TRUE(l.exited(0)) << l.describe();
    EXPECT_NE(l.out.find(" 10.231.7.2…\n"), std::string::npos) << l.out;
    l = machinectl({"list", "--no-legend", "-l"});
    EXPECT_NE(l.out.find(" 10.231.7.2\n"), std::string::npos) << l.out;
    EXPECT_NE(l.out.find(" 10.231.7.3\n"), std::string::npos) << l.out;
    if (have_systemd_machinectl()) {
        for (auto args : std::vector<std::vector<std::string>>{{"list"}, {"list", "-l"}, {"list", "-o", "json"}}) {
            auto theirs = systemd_machinectl(args);
            EXPECT_EQ(machinectl(args).out, theirs.out) << theirs.describe();
        }
    }
    EXPECT_TRUE(machinectl({"kill", "-s", "KILL", machine_}).exited(0));
    m.wait(60s);
}

TEST_F(MachinectlRegistry, StatusOfSeveralMachines) {
    auto a = start_registered_leader("mc-a-" + id_);
    auto b = start_registered_leader("mc-b-" + id_);
    auto r = machinectl({"status", "mc-a-" + id_, "mc-b-" + id_});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out.rfind("mc-a-" + id_, 0), 0u) << r.out;
    EXPECT_NE(r.out.find("\n\nmc-b-" + id_), std::string::npos) << r.out;
}

TEST_F(MachinectlRegistry, ListPrintsWhatSystemdsMachinectlPrints) {
    if (!have_systemd_machinectl()) GTEST_SKIP() << "systemd-container is not installed";
    auto b = start_registered_leader("mc-b-" + id_, "svc-b");
    auto a = start_registered_leader("mc-a-" + id_, "svc-a");
    for (auto args : std::vector<std::vector<std::string>>{{"list"},
                                                          {"list", "--no-legend"},
                                                          {"list", "-o", "json"},
                                                          {"list", "--output=json-pretty"}}) {
        auto ours = machinectl(args), theirs = systemd_machinectl(args);
        ASSERT_TRUE(theirs.exited(0)) << theirs.describe();
        ASSERT_TRUE(ours.exited(0)) << ours.describe();
        EXPECT_EQ(ours.out, theirs.out) << ::testing::PrintToString(args);
    }
}

TEST_F(MachinectlRegistry, ShowPrintsWhatSystemdsMachinectlPrints) {
    if (!have_systemd_machinectl()) GTEST_SKIP() << "systemd-container is not installed";
    std::string name = "mc-" + id_;
    auto a = start_registered_leader(name);
    for (auto args : std::vector<std::vector<std::string>>{{"show", name}, {"show", "-a", name},
                                                           {"show", name, "-p", "Leader", "-p", "Name", "--value"}}) {
        auto ours = machinectl(args), theirs = systemd_machinectl(args);
        ASSERT_TRUE(theirs.exited(0)) << theirs.describe();
        ASSERT_TRUE(ours.exited(0)) << ours.describe();
        EXPECT_EQ(ours.out, theirs.out) << ::testing::PrintToString(args);
    }
}

TEST_F(MachinectlRegistry, ErrorsNameWhatSystemdsNames) {
    if (!have_systemd_machinectl()) GTEST_SKIP() << "systemd-container is not installed";
    std::string ghost = "ghost-" + id_;
    auto theirs = systemd_machinectl({"terminate", ghost});
    auto ours = machinectl({"terminate", ghost});
    EXPECT_TRUE(refused_with(ours, ghost));
    // systemd: "Could not terminate machine: No machine 'ghost-...' known"; ours adds the name.
    ASSERT_FALSE(theirs.exited(0)) << theirs.describe();
    std::string reason = trim(theirs.err).substr(trim(theirs.err).find(": ") + 2);
    EXPECT_NE(ours.err.find(reason), std::string::npos) << "ours: " << ours.err << "theirs: " << theirs.err;
}

// Every line systemd's status prints, ours prints too, in the same order (ours adds State, CGroup and
// the process tree; systemd gets those from the unit and the journal). "Since" up to the relative time.
TEST_F(MachinectlRegistry, StatusHasSystemdsLinesInItsOrder) {
    if (!have_systemd_machinectl()) GTEST_SKIP() << "systemd-container is not installed";
    auto m = start_registered_up("sleep 100000");
    auto ours = machinectl({"status", machine_}), theirs = systemd_machinectl({"status", machine_});
    ASSERT_TRUE(ours.exited(0)) << ours.describe();
    ASSERT_TRUE(theirs.exited(0)) << theirs.describe();
    auto cut = [](std::string line) {
        if (line.rfind("\t   Since: ", 0) == 0) line = line.substr(0, line.find(';'));
        return line;
    };
    auto mine = lines(ours.out);
    size_t at = 0;
    for (auto& line : lines(theirs.out)) {
        if (line.empty()) continue;
        while (at < mine.size() && cut(mine[at]) != cut(line)) at++;
        EXPECT_LT(at, mine.size()) << "systemd's line \"" << line << "\" missing or out of order in ours:\n"
                                   << ours.out << "systemd's:\n" << theirs.out;
    }
    EXPECT_TRUE(machinectl({"kill", "-s", "KILL", machine_}).exited(0));
    m.wait(60s);
}

}  // namespace
}  // namespace berth::test
