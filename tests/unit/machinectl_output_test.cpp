// machinectl's output: tables and JSON as systemd's format-table, `show` properties as systemd's
// bus_print_property(), `status` in systemd's layout, and the process tree from a cgroup directory.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <limits>

#include "common/cgroup.hpp"
#include "machinectl/output_json.hpp"
#include "machinectl/output_status.hpp"
#include "machinectl/output_table.hpp"
#include "machinectl/process_tree.hpp"
#include "machinectl/properties.hpp"
#include "tests/unit/temp_tree.hpp"

using namespace berth::machinectl;

namespace {

constexpr uint64_t kUnset = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kSec = 1000000;

// Timestamps in UTC, whatever the machine running the tests says.
class Utc : public ::testing::Test {
protected:
    void SetUp() override {
        const char* tz = std::getenv("TZ");
        if (tz) saved_ = tz;
        had_ = tz != nullptr;
        setenv("TZ", "UTC", 1);
        tzset();
    }
    void TearDown() override {
        if (had_) setenv("TZ", saved_.c_str(), 1);
        else unsetenv("TZ");
        tzset();
    }

private:
    std::string saved_;
    bool had_ = false;
};

Table machines() {
    Table t({"machine", "class", "service", "os", "version", "addresses"});
    t.add_row({"web", "container", "nspawn", "debian", "12", "10.0.0.2\nfe80::1"});
    t.add_row({"db", "container", "nspawn", std::nullopt, "", std::nullopt});
    t.sort_by_first_column();
    return t;
}

std::vector<Property> props(std::vector<std::pair<std::string, sdbus::Variant>> list) {
    std::vector<Property> out;
    for (auto& [name, value] : list) out.push_back(make_property(name, value));
    return out;
}

}  // namespace

TEST(MachinectlTable, HeaderColumnsAndDashesForEmptyCells) {
    EXPECT_EQ(machines().render(true, 1),
              "MACHINE CLASS     SERVICE OS     VERSION ADDRESSES\n"
              "db      container nspawn  -      -       -\n"
              "web     container nspawn  debian 12      10.0.0.2…\n");
}

TEST(MachinectlTable, FullShowsEveryLineOfACell) {
    EXPECT_EQ(machines().render(false, 0),
              "db  container nspawn -      -  -\n"
              "web container nspawn debian 12 10.0.0.2\n"
              "                               fe80::1\n");
}

TEST(MachinectlTable, JsonHasTheColumnNamesAndNullForEmptyCells) {
    EXPECT_EQ(dump_json(machines().to_json(), OutputMode::Json),
              R"([{"machine":"db","class":"container","service":"nspawn","os":null,"version":null,"addresses":null},)"
              R"({"machine":"web","class":"container","service":"nspawn","os":"debian","version":"12",)"
              R"("addresses":"10.0.0.2\nfe80::1"}])"
              "\n");
}

TEST(MachinectlTable, EmptyTableIsAnEmptyJsonArray) {
    Table t({"machine"});
    EXPECT_EQ(t.rows(), 0u);
    EXPECT_EQ(dump_json(t.to_json(), OutputMode::Json), "[]\n");
}

TEST(MachinectlTable, PrettyJsonAsSystemdIndentsIt) {
    Table t({"machine", "os"});
    t.add_row({"web", std::nullopt});
    EXPECT_EQ(dump_json(t.to_json(), OutputMode::JsonPretty),
              "[\n"
              "\t{\n"
              "\t\t\"machine\" : \"web\",\n"
              "\t\t\"os\" : null\n"
              "\t}\n"
              "]\n");
    auto text = dump_json(machines().to_json(), OutputMode::JsonPretty);
    EXPECT_EQ(nlohmann::ordered_json::parse(text), machines().to_json());
}

TEST(MachinectlJson, PrettyNestedAndEmptyContainers) {
    nlohmann::ordered_json j = {{"a", nlohmann::ordered_json::array()}, {"b", {1, 2}}, {"c", nlohmann::ordered_json::object()}};
    EXPECT_EQ(dump_json(j, OutputMode::JsonPretty),
              "{\n\t\"a\" : [],\n\t\"b\" : [\n\t\t1,\n\t\t2\n\t],\n\t\"c\" : {}\n}\n");
    EXPECT_EQ(dump_json(j, OutputMode::Json), "{\"a\":[],\"b\":[1,2],\"c\":{}}\n");
}

TEST(MachinectlTable, JsonReplacesBytesThatAreNotUtf8) {
    Table t({"os"});
    t.add_row({std::string("bad\xff")});
    EXPECT_EQ(dump_json(t.to_json(), OutputMode::Json), "[{\"os\":\"bad\xef\xbf\xbd\"}]\n");
}

TEST(MachinectlTable, WidthCountsCharactersNotBytes) {
    EXPECT_EQ(display_width("ab…"), 3u);
    EXPECT_EQ(display_width("├─1"), 3u);
}

TEST_F(Utc, PropertiesAsSystemdPrintsThem) {
    auto p = props({{"Name", sdbus::Variant(std::string("web"))},
                    {"Id", sdbus::Variant(std::vector<uint8_t>{0xab, 0x01, 0x00, 0xff})},
                    {"Timestamp", sdbus::Variant(uint64_t{1764543360} * kSec)},
                    {"TimestampMonotonic", sdbus::Variant(uint64_t{123456})},
                    {"Leader", sdbus::Variant(uint32_t{4242})},
                    {"NetworkInterfaces", sdbus::Variant(std::vector<int32_t>{3, 7})},
                    {"Frozen", sdbus::Variant(false)},
                    {"Enabled", sdbus::Variant(true)},
                    {"EnabledMachines", sdbus::Variant(std::vector<std::string>{"a", "b c"})},
                    {"PoolUsage", sdbus::Variant(kUnset)},
                    {"MemoryMax", sdbus::Variant(kUnset)},
                    {"Unit", sdbus::Variant(std::string(""))}});
    EXPECT_EQ(format_properties(p, {}),
              "Name=web\n"
              "Id=ab0100ff\n"
              "Timestamp=Sun 2025-11-30 22:56:00 UTC\n"
              "TimestampMonotonic=123456\n"
              "Leader=4242\n"
              "Frozen=no\n"
              "Enabled=yes\n"
              "EnabledMachines=a \"b c\"\n"
              "PoolUsage=18446744073709551615\n"
              "MemoryMax=infinity\n");
}

TEST(MachinectlProperties, EmptyOnesOnlyWithAll) {
    auto p = props({{"Name", sdbus::Variant(std::string("web"))},
                    {"Unit", sdbus::Variant(std::string(""))},
                    {"Timestamp", sdbus::Variant(uint64_t{0})},
                    {"NetworkInterfaces", sdbus::Variant(std::vector<int32_t>{})}});
    EXPECT_EQ(format_properties(p, {}), "Name=web\n");
    EXPECT_EQ(format_properties(p, {.all = true}), "Name=web\nUnit=\nTimestamp=\nNetworkInterfaces=[unprintable]\n")
        << "integer arrays have no text in systemd's show either";
}

TEST(MachinectlProperties, FilterValueOnlyAndNamedEmptyOnes) {
    auto p = props({{"Name", sdbus::Variant(std::string("web"))},
                    {"Class", sdbus::Variant(std::string("container"))},
                    {"Unit", sdbus::Variant(std::string(""))}});
    EXPECT_EQ(format_properties(p, {.filter = {"Class"}}), "Class=container\n");
    EXPECT_EQ(format_properties(p, {.filter = {"Class", "Name"}, .value_only = true}), "web\ncontainer\n")
        << "in the object's order, as systemd";
    EXPECT_EQ(format_properties(p, {.filter = {"Unit"}}), "Unit=\n") << "asked for by name: shown even when empty";
    EXPECT_EQ(format_properties(p, {.filter = {"NoSuch"}}), "");
}

TEST(MachinectlProperties, MultiLineStringsAreUnprintable) {
    auto p = props({{"Name", sdbus::Variant(std::string("a\nb"))}});
    EXPECT_EQ(format_properties(p, {}), "Name=[unprintable]\n");
}

TEST(MachinectlProperties, UnknownTypesOnlyWithAll) {
    auto p = props({{"Limits", sdbus::Variant(std::vector<sdbus::Struct<std::string, std::string>>{{"a", "b"}})}});
    EXPECT_FALSE(p[0].printable);
    EXPECT_EQ(format_properties(p, {}), "");
    EXPECT_EQ(format_properties(p, {.all = true}), "Limits=[unprintable]\n");
}

TEST(MachinectlProperties, JsonKeepsTypesAndOrder) {
    auto p = props({{"Name", sdbus::Variant(std::string("web"))},
                    {"Leader", sdbus::Variant(uint32_t{4242})},
                    {"Frozen", sdbus::Variant(true)},
                    {"NetworkInterfaces", sdbus::Variant(std::vector<int32_t>{3})},
                    {"Unit", sdbus::Variant(std::string(""))}});
    EXPECT_EQ(dump_json(properties_json(p, {}), OutputMode::Json),
              "{\"Name\":\"web\",\"Leader\":4242,\"Frozen\":true,\"NetworkInterfaces\":[3]}\n");
    EXPECT_EQ(dump_json(properties_json(p, {.filter = {"Unit"}}), OutputMode::Json), "{\"Unit\":\"\"}\n");
}

TEST(MachinectlProperties, ShellQuoting) {
    EXPECT_EQ(shell_maybe_quote("plain-word_1.2:/x"), "plain-word_1.2:/x");
    EXPECT_EQ(shell_maybe_quote("two words"), "\"two words\"");
    EXPECT_EQ(shell_maybe_quote("a\"b$c"), "\"a\\\"b\\$c\"");
    EXPECT_EQ(shell_maybe_quote(""), "\"\"");
}

TEST_F(Utc, Timestamps) {
    EXPECT_EQ(format_timestamp(0), "");
    EXPECT_EQ(format_timestamp(kUnset), "");
    EXPECT_EQ(format_timestamp(uint64_t{1764543360} * kSec + 999999), "Sun 2025-11-30 22:56:00 UTC");
}

TEST(MachinectlTime, RelativeAsSystemd) {
    uint64_t now = uint64_t{2000000000} * kSec;
    auto ago = [&](uint64_t d) { return format_timestamp_relative(now - d, now); };
    EXPECT_EQ(ago(0), "now");
    EXPECT_EQ(ago(500), "500us ago");
    EXPECT_EQ(ago(3 * 1000), "3ms ago");
    EXPECT_EQ(ago(42 * kSec), "42s ago");
    EXPECT_EQ(ago(90 * kSec), "1min 30s ago");
    EXPECT_EQ(ago(7 * 60 * kSec), "7min ago");
    EXPECT_EQ(ago(3723 * kSec), "1h 2min ago");
    EXPECT_EQ(ago(7 * 3600 * kSec), "7h ago");
    EXPECT_EQ(ago(27 * 3600 * kSec), "1 day 3h ago");
    EXPECT_EQ(ago(3 * 86400 * kSec), "3 days ago");
    EXPECT_EQ(ago(9 * 86400 * kSec), "1 week 2 days ago");
    EXPECT_EQ(format_timestamp_relative(now + 42 * kSec, now), "42s left");
    EXPECT_EQ(format_timestamp_relative(0, now), "");
}

TEST_F(Utc, StatusInSystemdsLayout) {
    MachineStatus s;
    s.name = "web";
    s.id = "0123456789abcdef0123456789abcdef";
    s.timestamp = uint64_t{1764543360} * kSec;
    s.leader = 4242;
    s.leader_comm = "init";
    s.service = "nspawn";
    s.cls = "container";
    s.root = "/var/lib/machines/web";
    s.state = "running";
    s.frozen = true;
    s.ifindices = {7};
    s.ifnames = {"ve-web"};
    s.addresses = {{AF_INET, "10.0.0.2"}, {AF_INET6, "fe80::1"}};
    s.os_pretty_name = "Debian GNU/Linux 12 (bookworm)";
    s.uid_shift = 65536;
    s.unit = "machine-web.scope";
    s.cgroup = "/berth/web";
    s.processes = CgroupNode{"/berth/web", {{4242, "/sbin/init"}}, {CgroupNode{"/berth/web/x", {{4300, "sleep 1"}}, {}}}};
    EXPECT_EQ(format_status(s, s.timestamp + 90 * kSec),
              "web(0123456789abcdef0123456789abcdef)\n"
              "\t   Since: Sun 2025-11-30 22:56:00 UTC; 1min 30s ago\n"
              "\t  Leader: 4242 (init)\n"
              "\t Service: nspawn; class container\n"
              "\t    Root: /var/lib/machines/web\n"
              "\t   State: running; frozen\n"
              "\t   Iface: ve-web\n"
              "\t Address: 10.0.0.2\n"
              "\t          fe80::1%7\n"
              "\t      OS: Debian GNU/Linux 12 (bookworm)\n"
              "  UID Shift: 65536\n"
              "\t    Unit: machine-web.scope\n"
              "\t  CGroup: /berth/web\n"
              "\t\t  ├─4242 /sbin/init\n"
              "\t\t  └─x\n"
              "\t\t    └─4300 sleep 1\n");
}

TEST(MachinectlStatus, LeavesOutWhatIsUnknown) {
    MachineStatus s;
    s.name = "bare";
    s.id = "00000000000000000000000000000000";
    s.cls = "container";
    EXPECT_EQ(format_status(s, 0), "bare\n\t   Class: container\n");
}

TEST(MachinectlStatus, PropertiesFillTheFields) {
    MachineStatus s;
    apply_properties(s, props({{"Name", sdbus::Variant(std::string("web"))},
                               {"Leader", sdbus::Variant(uint32_t{99})},
                               {"NetworkInterfaces", sdbus::Variant(std::vector<int32_t>{3, 4})},
                               {"Timestamp", sdbus::Variant(uint64_t{5})},
                               {"Frozen", sdbus::Variant(false)}}));
    EXPECT_EQ(s.name, "web");
    EXPECT_EQ(s.leader, 99);
    EXPECT_EQ(s.ifindices, (std::vector<int>{3, 4}));
    EXPECT_EQ(s.timestamp, 5u);
    EXPECT_EQ(s.frozen, std::optional<bool>(false));
}

TEST(MachinectlProcessTree, TreeGlyphsAndPidWidthAsSystemd) {
    CgroupNode root{"/m", {{7, "init"}, {1234, "/bin/sh -c x"}},
                    {CgroupNode{"/m/a", {{55, "a1"}}, {CgroupNode{"/m/a/deep", {{56, "d"}}, {}}}},
                     CgroupNode{"/m/b", {{60, "b1"}, {61, "b2"}}, {}}}};
    EXPECT_EQ(render_cgroup_tree(root, "> "),
              "> ├─   7 init\n"
              "> ├─1234 /bin/sh -c x\n"
              "> ├─a\n"
              "> │ ├─55 a1\n"
              "> │ └─deep\n"
              "> │   └─56 d\n"
              "> └─b\n"
              ">   ├─60 b1\n"
              ">   └─61 b2\n");
}

TEST(MachinectlProcessTree, ReadsProcsRecursivelyAndDropsEmptyCgroups) {
    TempTree t;
    pid_t self = getpid();
    t.write("root/m/cgroup.procs", std::to_string(self) + "\n");
    t.write("root/m/empty/cgroup.procs", "");
    t.write("root/m/empty/deeper/cgroup.procs", "");
    t.write("root/m/sub/cgroup.procs", std::to_string(self) + "\n" + std::to_string(self) + "\n");
    auto tree = read_cgroup_tree(t / "root", "/m");
    ASSERT_TRUE(tree) << tree.error().message;
    EXPECT_EQ(tree->path, "/m");
    ASSERT_EQ(tree->processes.size(), 1u);
    EXPECT_EQ(tree->processes[0].first, self);
    EXPECT_EQ(tree->processes[0].second, process_cmdline(self));
    ASSERT_EQ(tree->children.size(), 1u) << "the empty cgroups are left out";
    EXPECT_EQ(tree->children[0].path, "/m/sub");
    EXPECT_EQ(tree->children[0].processes.size(), 1u) << "duplicates once";
    auto j = cgroup_tree_json(*tree);
    EXPECT_EQ(j["cgroup"], "/m");
    EXPECT_EQ(j["processes"][0]["pid"], self);
    EXPECT_EQ(j["children"][0]["cgroup"], "/m/sub");
}

TEST(MachinectlProcessTree, VanishedCgroupHasNoProcesses) {
    TempTree t;
    auto tree = read_cgroup_tree(t.path(), "/gone");
    ASSERT_TRUE(tree) << tree.error().message;
    EXPECT_TRUE(tree->processes.empty());
    EXPECT_TRUE(tree->children.empty());
}

TEST(MachinectlProcessTree, CmdlineWithSpacesOrCommInBrackets) {
    TempTree t;
    t.write("proc/10/cmdline", std::string("/bin/sh\0-c\0echo hi\0", 19));
    t.write("proc/11/cmdline", "");
    t.write("proc/11/comm", "kworker\n");
    EXPECT_EQ(process_cmdline(10, t / "proc"), "/bin/sh -c echo hi");
    EXPECT_EQ(process_cmdline(11, t / "proc"), "[kworker]");
    EXPECT_EQ(process_cmdline(12, t / "proc"), "n/a");
}

TEST(MachinectlProcessTree, UnifiedCgroupFromProc) {
    TempTree t;
    t.write("proc/10/cgroup", "12:memory:/x\n1:name=systemd:/y\n0::/berth/web\n");
    t.write("proc/11/cgroup", "12:memory:/x\n");
    auto cg = berth::own_unified_cgroup(10, t / "proc");
    ASSERT_TRUE(cg) << cg.error().message;
    EXPECT_EQ(*cg, "/berth/web");
    EXPECT_FALSE(berth::own_unified_cgroup(11, t / "proc"));
    EXPECT_FALSE(berth::own_unified_cgroup(12, t / "proc"));
}

TEST(MachinectlProcessTree, OwnCgroupIsReadable) {
    auto layout = berth::detect_cgroup_layout();
    if (!layout) GTEST_SKIP() << layout.error().message;
    auto cg = berth::own_unified_cgroup(getpid());
    ASSERT_TRUE(cg) << cg.error().message;
    auto tree = read_cgroup_tree(layout->unified_root, *cg);
    ASSERT_TRUE(tree) << tree.error().message;
    bool found = false;
    for (auto& [pid, cmd] : tree->processes) found = found || pid == getpid();
    EXPECT_TRUE(found) << "this test process is in its own cgroup";
}
