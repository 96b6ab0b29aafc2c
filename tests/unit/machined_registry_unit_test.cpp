// MachineRegistry bookkeeping and the machined configuration file.
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/fileio.hpp"
#include "common/machined_config.hpp"
#include "machined/registry.hpp"
#include "machined/state.hpp"
#include "tests/unit/temp_tree.hpp"

namespace berth::machined {
namespace {

std::unique_ptr<Machine> machine(const std::string& name, pid_t leader, const std::string& cgroup = "") {
    auto m = std::make_unique<Machine>();
    m->name = name;
    m->klass = "container";
    m->leader = leader;
    m->cgroup = cgroup;
    return m;
}

TEST(MachinedRegistry, HostIsAlwaysThereAndCannotBeRemoved) {
    MachineRegistry r;
    ASSERT_NE(r.find(".host"), nullptr);
    EXPECT_EQ(r.find(".host")->klass, "host");
    EXPECT_EQ(r.remove(".host"), nullptr);
    EXPECT_EQ(r.size(), 1u);
}

TEST(MachinedRegistry, FindsByLeaderAndByCgroupDeepestFirst) {
    MachineRegistry r;
    r.add(machine("outer", 100, "/berth/outer"));
    r.add(machine("inner", 200, "/berth/outer/payload/berth/inner"));
    r.add(machine("shared", 300));
    EXPECT_EQ(r.find_by_process(300, "/user.slice")->name, "shared");
    EXPECT_EQ(r.find_by_process(5, "/berth/outer/init.scope")->name, "outer");
    EXPECT_EQ(r.find_by_process(5, "/berth/outer/payload/berth/inner/x")->name, "inner");
    EXPECT_EQ(r.find_by_process(5, "/berth/outerx"), nullptr);
    EXPECT_EQ(r.find_by_process(5, "/"), nullptr);
    EXPECT_TRUE(r.cgroup_overlaps("/berth"));
    EXPECT_FALSE(r.cgroup_overlaps("/berth/other"));
}

TEST(MachinedRegistry, ListIsSortedWithHostFirst) {
    MachineRegistry r;
    r.add(machine("zeta", 10));
    r.add(machine("alpha", 11));
    std::vector<std::string> names;
    for (auto* m : r.all()) names.push_back(m->name);
    EXPECT_EQ(names, (std::vector<std::string>{".host", "alpha", "zeta"}));
    auto gone = r.remove("alpha");
    ASSERT_NE(gone, nullptr);
    EXPECT_EQ(r.find_by_leader(11), nullptr);
}

TEST(MachinedConfig, ReadsEveryKeyAndRefusesUnknownOnes) {
    ::TempTree t;
    std::string path = t.path() + "/machined.toml";
    ASSERT_TRUE(write_file_atomic(path, "pool = \"/srv/pool\"\nallowed_groups = [\"wheel\"]\nlog_level = \"debug\"\n"
                                        "enabled_dir = \"/etc/x\"\nterminate_timeout_sec = 3\n").ok());
    auto c = load_machined_config(path, true);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->pool, "/srv/pool");
    EXPECT_EQ(c->allowed_groups, std::vector<std::string>{"wheel"});
    EXPECT_EQ(c->log_level, spdlog::level::debug);
    EXPECT_EQ(c->enabled_dir, "/etc/x");
    EXPECT_EQ(c->terminate_timeout_sec, 3);
    ASSERT_TRUE(write_file_atomic(path, "colour = \"red\"\n").ok());
    EXPECT_FALSE(load_machined_config(path, true).ok());
    ASSERT_TRUE(write_file_atomic(path, "pool = \"relative\"\n").ok());
    EXPECT_FALSE(load_machined_config(path, true).ok());
    EXPECT_TRUE(load_machined_config(t.path() + "/missing.toml", false).ok());
    EXPECT_FALSE(load_machined_config(t.path() + "/missing.toml", true).ok());
}

}  // namespace
}  // namespace berth::machined

// Found by tests/fuzz (fuzz_state_file): a float where an integer belongs was converted unchecked
// (undefined behaviour for 4.2e25). A record with one is refused; its ifindices take integers only.
TEST(MachineState, AFloatLeaderIsRefusedWithoutConversion) {
    std::string record = "name = \"a\"\nclass = \"container\"\nleader = 4.2e25\n";
    EXPECT_FALSE(berth::machined::parse_machine_state(record, "/x/a").ok());
    auto m = berth::machined::parse_machine_state("name = \"a\"\nleader = 4242\nifindices = [ 3, 1e30 ]\n", "/x/a");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ((*m)->leader, 4242);
    EXPECT_EQ((*m)->ifindices, (std::vector<int32_t>{3, 0}));
}
