// machinectl's command line: systemd's option names, verbs and their argument counts, names checked
// before anything goes on the bus, -H/-M refused.
#include <gtest/gtest.h>

#include <signal.h>

#include <climits>
#include <cstdlib>
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
    EXPECT_EQ(o->output, OutputMode::Short);
}

TEST(MachinectlOptions, PullsVerifySignaturesUnlessToldOtherwise) {
    auto o = parse({"pull-tar", "http://127.0.0.1/a.tar"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->verify, "signature");
    o = parse({"pull-raw", "--verify=checksum", "http://127.0.0.1/a.raw", "a"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->verify, "checksum");
    EXPECT_EQ(o->args, (std::vector<std::string>{"http://127.0.0.1/a.raw", "a"}));
    EXPECT_EQ(refusal({"pull-tar", "--verify=yes", "http://127.0.0.1/a.tar"}), "Failed to parse --verify= setting: yes");
    EXPECT_EQ(refusal({"pull-tar", "http://127.0.0.1/a.tar", "a", "b"}), "Too many arguments for \"pull-tar\": see machinectl --help");
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
    EXPECT_EQ(o->output, OutputMode::Short);
    EXPECT_EQ(refusal({"-o", "yaml"}), "Unknown output 'yaml'.");
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
    EXPECT_NE(refusal({"--machine=root@web"}).find("-M/--machine"), std::string::npos);
}

TEST(MachinectlOptions, MachineOptionNamingTheLocalHostIsAccepted) {
    for (auto m : {".host", "root@", "root@.host"}) {
        auto o = parse({"-M", m, "list"});
        EXPECT_TRUE(o) << m << ": " << o.error().message;
    }
}

TEST(MachinectlOptions, EveryJournalOutputModeOfSystemd) {
    for (auto m : {"short", "short-full", "short-iso", "short-iso-precise", "short-precise", "short-monotonic",
                   "short-delta", "short-unix", "verbose", "export", "json", "json-pretty", "json-sse", "json-seq",
                   "cat", "with-unit"}) {
        auto o = parse({"-o", m, "status", "web"});
        ASSERT_TRUE(o) << m << ": " << o.error().message;
        EXPECT_EQ(output_mode_name(o->output), m);
    }
}

TEST(MachinectlOptions, JsonModesDropTheLegend) {
    for (auto m : {"json", "json-pretty", "json-sse", "json-seq"}) {
        auto o = parse({"-o", m});
        ASSERT_TRUE(o) << m;
        EXPECT_FALSE(o->legend) << m;
    }
    auto o = parse({"-o", "verbose"});
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->legend);
}

TEST(MachinectlOptions, OutputHelpListsTheModesWithoutAVerbCheck) {
    auto o = parse({"-o", "help", "bogus-verb"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_TRUE(o->output_help);
    EXPECT_EQ(output_mode_help().substr(0, 17), "short\nshort-full\n");
}

TEST(MachinectlOptions, LinesAndMaxAddresses) {
    auto o = parse({"status", "web", "-n", "25", "--max-addresses=3"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->lines, 25u);
    EXPECT_EQ(o->max_addresses, 3u);
    o = parse({"--lines=0", "--max-addresses=all"});
    ASSERT_TRUE(o);
    EXPECT_EQ(o->lines, 0u);
    EXPECT_EQ(o->max_addresses, UINT_MAX);
    o = parse({});
    ASSERT_TRUE(o);
    EXPECT_EQ(o->lines, 10u);
    EXPECT_EQ(o->max_addresses, 1u);
    EXPECT_EQ(refusal({"-n", "-1"}), "Failed to parse lines '-1'");
    EXPECT_EQ(refusal({"-n", "ten"}), "Failed to parse lines 'ten'");
    EXPECT_EQ(refusal({"--max-addresses=many"}), "Invalid number of addresses: many");
}

TEST(MachinectlOptions, ShellOptionsAfterTheMachineBelongToTheCommand) {
    auto o = parse({"-q", "shell", "--uid=www", "web", "ls", "-l", "--color", "-E", "X=1"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->verb, "shell");
    EXPECT_TRUE(o->quiet);
    EXPECT_EQ(o->uid, "www");
    EXPECT_TRUE(o->setenv.empty());
    EXPECT_EQ(o->args, (std::vector<std::string>{"web", "ls", "-l", "--color", "-E", "X=1"}));
}

TEST(MachinectlOptions, OptionValuesAreNotMistakenForTheMachine) {
    auto o = parse({"shell", "-E", "A=1", "--setenv", "B=2", "-n", "5", "web", "-x"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->setenv, (std::vector<std::string>{"A=1", "B=2"}));
    EXPECT_EQ(o->args, (std::vector<std::string>{"web", "-x"}));
}

TEST(MachinectlOptions, OtherVerbsTakeOptionsAnywhere) {
    auto o = parse({"status", "web", "-n", "3"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->lines, 3u);
    EXPECT_EQ(o->args, (std::vector<std::string>{"web"}));
}

TEST(MachinectlOptions, SetenvTakesAValueFromOurEnvironmentAndTheLastAssignmentWins) {
    setenv("BERTH_TEST_PASS", "from-env", 1);
    unsetenv("BERTH_TEST_UNSET");
    auto o = parse({"shell", "-E", "A=1", "-E", "BERTH_TEST_PASS", "-E", "BERTH_TEST_UNSET", "-E", "A=2", "web"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->setenv, (std::vector<std::string>{"A=2", "BERTH_TEST_PASS=from-env", "BERTH_TEST_UNSET="}));
    EXPECT_EQ(refusal({"shell", "-E", "1A=x"}), "Cannot assign environment variable 1A=x: Invalid argument");
    EXPECT_EQ(refusal({"shell", "-E", "A B"}), "Cannot assign environment variable A B: Invalid argument");
    EXPECT_EQ(refusal({"shell", "-E", "A=\x01"}), "Cannot assign environment variable A=\\x01: Invalid argument");
}

TEST(MachinectlOptions, LoginRefusesUidAndSetenvAsSystemd) {
    auto msg = "--setenv= and --uid= are not supported for 'login'. Use 'shell' instead.";
    EXPECT_EQ(refusal({"--uid=root", "login", "web"}), msg);
    EXPECT_EQ(refusal({"-E", "A=1", "login"}), msg);
    EXPECT_EQ(refusal({"login", "a", "b"}), "Too many arguments for \"login\": see machinectl --help");
}

TEST(MachinectlOptions, LoginWithoutOrWithAnEmptyNameIsTheHost) {
    EXPECT_TRUE(parse({"login"}));
    EXPECT_TRUE(parse({"login", ""}));
    EXPECT_NE(refusal({"login", "bad/name"}).find("Invalid machine name"), std::string::npos);
}

TEST(MachinectlShellTarget, UserAtMachineUidAndTheHost) {
    auto t = parse_shell_target("www@web", std::nullopt);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->user, "www");
    EXPECT_EQ(t->machine, "web");
    t = parse_shell_target("web", std::string("admin"));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->user, "admin");
    t = parse_shell_target("www@web", std::string("admin"));  // the spec wins over --uid
    ASSERT_TRUE(t);
    EXPECT_EQ(t->user, "www");
    t = parse_shell_target("ansible@", std::nullopt);  // Ansible's become plugin
    ASSERT_TRUE(t);
    EXPECT_EQ(t->user, "ansible");
    EXPECT_EQ(t->machine, ".host");
    t = parse_shell_target("", std::nullopt);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->machine, ".host");
    EXPECT_EQ(t->user, "");
    EXPECT_FALSE(parse_shell_target("@web", std::nullopt));
    EXPECT_FALSE(parse_shell_target("u@bad/name", std::nullopt));
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
