// machinectl's command line: systemd's option names, verbs and their argument counts, names checked
// before anything goes on the bus, -H/-M refused.
#include <gtest/gtest.h>

#include <signal.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "machinectl/options.hpp"
#include "machinectl/set_property.hpp"

using namespace berth::machinectl;

namespace {

berth::Result<Options> parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv{"machinectl"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

std::string refusal(std::initializer_list<const char*> args) {
    auto r = parse(args);
    if (r) return "(accepted)";
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << "one line: " << r.error().message;
    return r.error().message;
}

}  // namespace

TEST(MachinectlOptions, NoVerbMeansList) {
    auto o = parse({});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->verb, "list");
    EXPECT_TRUE(o->args.empty());
    EXPECT_TRUE(o->legend);
    EXPECT_EQ(o->output, OutputMode::Table);
}

TEST(MachinectlOptions, VerbAndNamesAreSplit) {
    auto o = parse({"terminate", "web", "db"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->verb, "terminate");
    EXPECT_EQ(o->args, (std::vector<std::string>{"web", "db"}));
}

TEST(MachinectlOptions, OptionsMayFollowTheVerb) {
    auto o = parse({"kill", "web", "-s", "KILL", "--kill-whom=leader"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->args, (std::vector<std::string>{"web"}));
    EXPECT_EQ(o->signal, SIGKILL);
    EXPECT_EQ(o->kill_whom, "leader");
}

TEST(MachinectlOptions, KillDefaultsToSigtermAndTheVerbsDefaultWhom) {
    auto o = parse({"kill", "web"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->signal, SIGTERM);
    EXPECT_EQ(o->kill_whom, "");
}

TEST(MachinectlOptions, SignalsAsSystemdSpellsThem) {
    for (auto [text, sig] : {std::pair{"SIGINT", SIGINT}, {"INT", SIGINT}, {"9", SIGKILL}, {"RTMIN+4", SIGRTMIN + 4},
                             {"SIGRTMIN+4", SIGRTMIN + 4}}) {
        auto o = parse({"kill", "web", "--signal", text});
        ASSERT_TRUE(o) << text << ": " << o.error().message;
        EXPECT_EQ(o->signal, sig) << text;
    }
}

TEST(MachinectlOptions, UnknownSignalIsRefused) {
    EXPECT_EQ(refusal({"kill", "web", "-s", "SIGBOGUS"}), "Unknown signal \"SIGBOGUS\"");
    EXPECT_EQ(refusal({"kill", "web", "-s", "99"}), "Unknown signal \"99\"");
}

TEST(MachinectlOptions, UnknownKillWhomIsRefused) {
    EXPECT_EQ(refusal({"kill", "web", "--kill-whom=everyone"}), "Invalid --kill-whom= value \"everyone\": leader or all");
}

TEST(MachinectlOptions, PropertiesRepeatAndSplitAtCommas) {
    auto o = parse({"show", "-p", "Name,Class", "--property=Leader", "web"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->properties, (std::vector<std::string>{"Name", "Class", "Leader"}));
    EXPECT_EQ(o->args, (std::vector<std::string>{"web"}));
}

TEST(MachinectlOptions, ShowFlags) {
    auto o = parse({"show", "--value", "-a", "web"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_TRUE(o->value_only);
    EXPECT_TRUE(o->all);
}

TEST(MachinectlOptions, OutputModes) {
    auto o = parse({"-o", "json", "list"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->output, OutputMode::Json);
    EXPECT_FALSE(o->legend) << "JSON comes without legend, so that it parses";
    o = parse({"--output=json-pretty"});
    ASSERT_TRUE(o);
    EXPECT_EQ(o->output, OutputMode::JsonPretty);
    o = parse({"--output=table"});
    ASSERT_TRUE(o);
    EXPECT_EQ(o->output, OutputMode::Table);
    EXPECT_EQ(refusal({"-o", "yaml"}), "Unknown output mode \"yaml\": table, json or json-pretty");
}

TEST(MachinectlOptions, LegendQuietFullAndPagerFlags) {
    auto o = parse({"--no-legend", "--no-pager", "-q", "-l"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_FALSE(o->legend);
    EXPECT_TRUE(o->quiet);
    EXPECT_TRUE(o->full);
}

TEST(MachinectlOptions, HostAndMachineAreRefused) {
    EXPECT_NE(refusal({"-H", "root@far", "list"}).find("-H/--host"), std::string::npos);
    EXPECT_NE(refusal({"--host=far"}).find("-H/--host"), std::string::npos);
    EXPECT_NE(refusal({"-M", "web", "list"}).find("-M/--machine"), std::string::npos);
    EXPECT_NE(refusal({"--machine=web"}).find("-M/--machine"), std::string::npos);
}

TEST(MachinectlOptions, HelpAndVersion) {
    auto o = parse({"--help"});
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->help);
    o = parse({"-h"});
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->help);
    o = parse({"--version"});
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->version);
    for (auto verb : {"list", "status", "show", "start", "stop", "poweroff", "reboot", "terminate", "kill", "enable",
                      "disable", "freeze", "thaw", "set-property"})
        EXPECT_NE(help_text().find(std::string("  ") + verb + " "), std::string::npos) << verb;
}

TEST(MachinectlOptions, UnknownVerbIsRefused) {
    EXPECT_EQ(refusal({"frobnicate"}), "Unknown command verb \"frobnicate\"");
}

TEST(MachinectlOptions, UnknownOptionIsRefused) {
    EXPECT_NE(refusal({"--frobnicate", "list"}).find("--frobnicate"), std::string::npos);
}

TEST(MachinectlOptions, ArgumentCountsAreChecked) {
    for (auto verb : {"status", "start", "stop", "poweroff", "reboot", "terminate", "kill", "enable", "disable",
                      "freeze", "thaw", "set-property"})
        EXPECT_EQ(refusal({verb}), std::string("Too few arguments for \"") + verb + "\": see machinectl --help");
    EXPECT_EQ(refusal({"set-property", "web"}), "Too few arguments for \"set-property\": see machinectl --help");
    EXPECT_EQ(refusal({"list", "web"}), "Too many arguments for \"list\": see machinectl --help");
    EXPECT_TRUE(parse({"show"})) << "show without names shows the manager";
}

TEST(MachinectlOptions, BadNamesAreRefusedBeforeTheBus) {
    EXPECT_EQ(refusal({"status", ""}), "Invalid machine name: it is empty");
    EXPECT_EQ(refusal({"status", std::string(65, 'a').c_str()}),
              "Invalid machine name \"" + std::string(65, 'a') + "\": longer than 64 characters");
    EXPECT_NE(refusal({"terminate", "../etc"}).find("Invalid machine name \"../etc\""), std::string::npos);
    EXPECT_NE(refusal({"kill", "a/b"}).find("Invalid machine name \"a/b\""), std::string::npos);
    EXPECT_NE(refusal({"show", "ok", "--", "-bad"}).find("Invalid machine name \"-bad\""), std::string::npos);
    EXPECT_NE(refusal({"show", "-bad"}).find("-bad"), std::string::npos) << "without --, an unknown option";
    EXPECT_NE(refusal({"set-property", "a b", "MemoryMax=1G"}).find("Invalid machine name \"a b\""), std::string::npos);
}

TEST(MachinectlOptions, NonUtf8NamesAreEscapedInTheMessage) {
    auto msg = refusal({"status", "bad\xff\x01name"});
    EXPECT_NE(msg.find("\"bad\\xff\\x01name\""), std::string::npos) << msg;
}

TEST(MachinectlOptions, TheHostMachineIsAName) {
    EXPECT_TRUE(parse({"status", ".host"}));
    EXPECT_TRUE(parse({"show", ".host"}));
}

TEST(MachinectlOptions, SetPropertyAssignmentsAreCheckedBeforeTheBus) {
    EXPECT_TRUE(parse({"set-property", "web", "MemoryMax=512M", "cpu-weight=50"}));
    EXPECT_EQ(refusal({"set-property", "web", "MemoryMax"}), "Invalid assignment \"MemoryMax\": KEY=VALUE expected");
    EXPECT_EQ(refusal({"set-property", "web", "=5"}), "Invalid assignment \"=5\": KEY=VALUE expected");
    EXPECT_EQ(refusal({"set-property", "web", "Mem/ory=5"}), "Invalid property name \"Mem/ory\" in \"Mem/ory=5\"");
}

TEST(MachinectlAssignments, KeysAndValuesInOrder) {
    auto r = parse_assignments({"MemoryMax=512M", "CPUQuota=50%", "TasksMax=", "AllowedCPUs=0-1,3"});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, (std::vector<std::pair<std::string, std::string>>{
                      {"MemoryMax", "512M"}, {"CPUQuota", "50%"}, {"TasksMax", ""}, {"AllowedCPUs", "0-1,3"}}));
}

TEST(MachinectlAssignments, ValueMayContainEquals) {
    auto r = parse_assignments({"a=b=c"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->front().second, "b=c");
}
