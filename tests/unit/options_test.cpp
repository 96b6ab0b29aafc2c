// nspawn's command line, spelled as systemd-nspawn spells it.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "common/values.hpp"
#include "nspawn/options.hpp"

using berth::Result;
using berth::nspawn::Options;
using berth::parse_boolean;
using berth::nspawn::parse_command_line;
using Strings = std::vector<std::string>;

// parse_command_line over a literal argv ("nspawn" is prepended).
static Result<Options> parse(std::initializer_list<const char*> args) {
    std::vector<std::string> storage{"nspawn"};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    return parse_command_line(static_cast<int>(storage.size()), argv.data());
}

static Options parsed(std::initializer_list<const char*> args) {
    auto r = parse(args);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? r.value() : Options{};
}

// --- spellings ---

TEST(ParseCommandLine, ShortDirectoryTakesTheNextArgument) { EXPECT_EQ(parsed({"-D", "/srv/web"}).text("directory"), "/srv/web"); }

TEST(ParseCommandLine, ShortDirectoryTakesAnAttachedValue) { EXPECT_EQ(parsed({"-D/srv/web"}).text("directory"), "/srv/web"); }

TEST(ParseCommandLine, LongDirectoryTakesEqualsValue) { EXPECT_EQ(parsed({"--directory=/srv/web"}).text("directory"), "/srv/web"); }

TEST(ParseCommandLine, LongDirectoryTakesTheNextArgument) {
    EXPECT_EQ(parsed({"--directory", "/srv/web"}).text("directory"), "/srv/web");
}

TEST(ParseCommandLine, MachineHasShortAndLongSpellings) {
    EXPECT_EQ(parsed({"-M", "web"}).text("machine"), "web");
    EXPECT_EQ(parsed({"--machine=web"}).text("machine"), "web");
    EXPECT_EQ(parsed({"--machine", "web"}).text("machine"), "web");
}

TEST(ParseCommandLine, BootHasShortAndLongSpellings) {
    EXPECT_EQ(parsed({"-b"}).flag("boot"), true);
    EXPECT_EQ(parsed({"--boot"}).flag("boot"), true);
}

TEST(ParseCommandLine, AsPid2HasShortAndLongSpellings) {
    EXPECT_EQ(parsed({"-a"}).flag("as-pid2"), true);
    EXPECT_EQ(parsed({"--as-pid2"}).flag("as-pid2"), true);
}

TEST(ParseCommandLine, QuietHasShortAndLongSpellings) {
    EXPECT_EQ(parsed({"-q"}).flag("quiet"), true);
    EXPECT_EQ(parsed({"--quiet"}).flag("quiet"), true);
}

TEST(ParseCommandLine, EphemeralHasShortAndLongSpellings) {
    EXPECT_EQ(parsed({"-x"}).flag("ephemeral"), true);
    EXPECT_EQ(parsed({"--ephemeral"}).flag("ephemeral"), true);
}

TEST(ParseCommandLine, UserHasShortAndLongSpellings) {
    EXPECT_EQ(parsed({"-u", "alice"}).text("user"), "alice");
    EXPECT_EQ(parsed({"--user=alice"}).text("user"), "alice");
    EXPECT_EQ(parsed({"--user", "alice"}).text("user"), "alice");
}

TEST(ParseCommandLine, SetenvHasShortAndLongSpellings) {
    EXPECT_EQ(parsed({"-E", "A=1"}).texts("setenv"), Strings{"A=1"});
    EXPECT_EQ(parsed({"--setenv=A=1"}).texts("setenv"), Strings{"A=1"});
    EXPECT_EQ(parsed({"--setenv", "A=1"}).texts("setenv"), Strings{"A=1"});
}

TEST(ParseCommandLine, ShortFlagsCombine) {
    auto o = parsed({"-bq", "-D", "/srv/web"});
    EXPECT_EQ(o.flag("boot"), true);
    EXPECT_EQ(o.flag("quiet"), true);
}

TEST(ParseCommandLine, LongFlagsAreSet) {
    auto o = parsed({"--read-only", "--private-network", "--keep-unit"});
    EXPECT_EQ(o.flag("read-only"), true);
    EXPECT_EQ(o.flag("private-network"), true);
    EXPECT_EQ(o.flag("keep-unit"), true);
}

TEST(ParseCommandLine, LongStringOptionsTakeEqualsValues) {
    auto o = parsed({"--chdir=/srv", "--hostname=h", "--uuid=0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                     "--kill-signal=SIGTERM", "--console=pipe", "--register=no", "--settings=trusted"});
    EXPECT_EQ(o.text("chdir"), "/srv");
    EXPECT_EQ(o.text("hostname"), "h");
    EXPECT_EQ(o.text("uuid"), "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    EXPECT_EQ(o.text("kill-signal"), "SIGTERM");
    EXPECT_EQ(o.text("console"), "pipe");
    EXPECT_EQ(o.text("register"), "no");
    EXPECT_EQ(o.text("settings"), "trusted");
}

TEST(ParseCommandLine, AnEmptyEqualsValueIsEmptyAndLeavesTheCommandAlone) {
    auto o = parsed({"-D", "/srv/web", "--hostname=", "/bin/sh", "-c", "true"});
    EXPECT_EQ(o.text("hostname"), "");
    EXPECT_EQ(o.texts("command"), (Strings{"/bin/sh", "-c", "true"}));
}

TEST(ParseCommandLine, AnEmptyEqualsValueInTheCommandBelongsToTheCommand) {
    auto o = parsed({"--machine", "web", "/bin/ls", "--color=", "-q"});
    EXPECT_EQ(o.text("machine"), "web");
    EXPECT_FALSE(o.flag("quiet"));
    EXPECT_EQ(o.texts("command"), (Strings{"/bin/ls", "--color=", "-q"}));
}

TEST(ParseCommandLine, LongStringOptionsTakeTheNextArgument) {
    auto o = parsed({"--chdir", "/srv", "--kill-signal", "TERM", "--console", "passive"});
    EXPECT_EQ(o.text("chdir"), "/srv");
    EXPECT_EQ(o.text("kill-signal"), "TERM");
    EXPECT_EQ(o.text("console"), "passive");
}

TEST(ParseCommandLine, AValueMayContainEqualsSigns) { EXPECT_EQ(parsed({"--setenv=A=B=C"}).texts("setenv"), Strings{"A=B=C"}); }

TEST(ParseCommandLine, AValueMayContainColonsAndBackslashes) {
    EXPECT_EQ(parsed({"--bind=/a\\:b:/c:norbind"}).texts("bind"), Strings{"/a\\:b:/c:norbind"});
}

TEST(ParseCommandLine, LeavesUnsaidOptionsUnset) {
    auto o = parsed({});
    EXPECT_FALSE(o.text("directory"));
    EXPECT_FALSE(o.text("machine"));
    EXPECT_FALSE(o.flag("boot"));
    EXPECT_FALSE(o.texts("command"));
    EXPECT_FALSE(o.texts("setenv"));
    EXPECT_FALSE(o.texts("bind"));
    EXPECT_FALSE(o.flag("notify-ready"));
    EXPECT_FALSE(o.help);
    EXPECT_FALSE(o.version);
}

// --- repeated options ---

TEST(ParseCommandLine, RepeatedSetenvAccumulatesInOrder) {
    EXPECT_EQ(parsed({"-E", "A=1", "--setenv=B=2", "--setenv", "C=3"}).texts("setenv"), (Strings{"A=1", "B=2", "C=3"}));
}

TEST(ParseCommandLine, RepeatedBindAccumulatesInOrder) {
    EXPECT_EQ(parsed({"--bind=/a", "--bind", "/b:/c"}).texts("bind"), (Strings{"/a", "/b:/c"}));
}

TEST(ParseCommandLine, BindAndBindRoAreKeptApart) {
    auto o = parsed({"--bind=/a", "--bind-ro=/b", "--bind=/c"});
    EXPECT_EQ(o.texts("bind"), (Strings{"/a", "/c"}));
    EXPECT_EQ(o.texts("bind-ro"), Strings{"/b"});
}

TEST(ParseCommandLine, RepeatedTmpfsAndOverlayAccumulate) {
    auto o = parsed({"--tmpfs=/a", "--tmpfs=/b:mode=0700", "--overlay=/l:/u:/d", "--overlay-ro=/l:/d", "--overlay=/x:/y:/z"});
    EXPECT_EQ(o.texts("tmpfs"), (Strings{"/a", "/b:mode=0700"}));
    EXPECT_EQ(o.texts("overlay"), (Strings{"/l:/u:/d", "/x:/y:/z"}));
    EXPECT_EQ(o.texts("overlay-ro"), Strings{"/l:/d"});
}

// getopt_long (systemd-nspawn): a repeated single-valued option takes the last value.
TEST(ParseCommandLine, ARepeatedSingleValuedOptionTakesTheLastValue) {
    auto r = parse({"-D", "/a", "--directory=/b"});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->text("directory"), "/b");
}

// --- the command and its arguments ---

TEST(ParseCommandLine, NoCommandLeavesItUnset) { EXPECT_FALSE(parsed({"-D", "/srv/web"}).texts("command")); }

TEST(ParseCommandLine, TheFirstPositionalStartsTheCommand) {
    EXPECT_EQ(parsed({"-D", "/srv/web", "/bin/echo", "hi"}).texts("command"), (Strings{"/bin/echo", "hi"}));
}

TEST(ParseCommandLine, OptionsAfterTheCommandGoToTheCommand) {
    auto o = parsed({"-D", "x", "/bin/sh", "-c", "echo -E"});
    EXPECT_EQ(o.texts("command"), (Strings{"/bin/sh", "-c", "echo -E"}));
    EXPECT_FALSE(o.texts("setenv"));
}

TEST(ParseCommandLine, OurOwnOptionNamesAfterTheCommandGoToTheCommand) {
    auto o = parsed({"-D", "x", "/bin/echo", "-E", "-D", "y", "--boot", "--setenv=A=1"});
    EXPECT_EQ(o.texts("command"), (Strings{"/bin/echo", "-E", "-D", "y", "--boot", "--setenv=A=1"}));
    EXPECT_EQ(o.text("directory"), "x");
    EXPECT_FALSE(o.texts("setenv"));
    EXPECT_FALSE(o.flag("boot"));
}

TEST(ParseCommandLine, DoubleDashEndsTheOptions) {
    auto o = parsed({"-D", "x", "--", "-weird", "--boot"});
    EXPECT_EQ(o.texts("command"), (Strings{"-weird", "--boot"}));
    EXPECT_FALSE(o.flag("boot"));
}

TEST(ParseCommandLine, DoubleDashAloneGivesNoCommand) { EXPECT_FALSE(parsed({"-D", "x", "--"}).texts("command")); }

TEST(ParseCommandLine, DoubleDashAfterTheCommandIsTheCommandsArgument) {
    EXPECT_EQ(parsed({"-D", "x", "/bin/echo", "--", "hi"}).texts("command"), (Strings{"/bin/echo", "--", "hi"}));
}

TEST(ParseCommandLine, ASecondDoubleDashAfterTheSeparatorIsKept) {
    EXPECT_EQ(parsed({"--", "/bin/echo", "--", "hi"}).texts("command"), (Strings{"/bin/echo", "--", "hi"}));
}

TEST(ParseCommandLine, BootArgumentsAreTheCommand) {
    auto o = parsed({"-b", "-D", "x", "systemd.unit=rescue.target"});
    EXPECT_EQ(o.flag("boot"), true);
    EXPECT_EQ(o.texts("command"), Strings{"systemd.unit=rescue.target"});
}

TEST(ParseCommandLine, EmptyArgumentsInTheCommandAreKept) {
    EXPECT_EQ(parsed({"/bin/echo", "", "x"}).texts("command"), (Strings{"/bin/echo", "", "x"}));
}

// --- errors ---

TEST(ParseCommandLine, AnUnknownLongOptionIsAnError) {
    auto r = parse({"--frobnicate", "-D", "x"});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("--frobnicate"), std::string::npos) << r.error().message;
}

TEST(ParseCommandLine, AnUnknownLongOptionAloneIsAnError) {
    auto r = parse({"--frobnicate"});
    EXPECT_FALSE(r.ok());
}

TEST(ParseCommandLine, AnUnknownShortOptionIsAnError) {
    auto r = parse({"-Z", "-D", "x"});
    EXPECT_FALSE(r.ok());
}

TEST(ParseCommandLine, AMissingValueIsAnError) { EXPECT_FALSE(parse({"-D"}).ok()); }

TEST(ParseCommandLine, AMissingValueForALongOptionIsAnError) { EXPECT_FALSE(parse({"--machine"}).ok()); }

TEST(ParseCommandLine, AValueForAFlagIsAnError) { EXPECT_FALSE(parse({"--boot=yes"}).ok()); }

TEST(ParseCommandLine, ErrorsPointToHelp) {
    auto r = parse({"--frobnicate", "-D", "x"});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("--help"), std::string::npos) << r.error().message;
}

// --- --notify-ready ---

TEST(ParseCommandLine, NotifyReadyYesIsTrue) { EXPECT_EQ(parsed({"--notify-ready=yes"}).flag("notify-ready"), true); }

TEST(ParseCommandLine, NotifyReadyNoIsFalse) { EXPECT_EQ(parsed({"--notify-ready=no"}).flag("notify-ready"), false); }

TEST(ParseCommandLine, NotifyReadyTakesTheNextArgument) {
    EXPECT_EQ(parsed({"--notify-ready", "yes"}).flag("notify-ready"), true);
}

TEST(ParseCommandLine, BadNotifyReadyIsAnErrorNamingTheOption) {
    auto r = parse({"--notify-ready=maybe"});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("--notify-ready"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("maybe"), std::string::npos) << r.error().message;
}

// --- help and version ---

TEST(ParseCommandLine, HelpHasShortAndLongSpellings) {
    EXPECT_TRUE(parsed({"-h"}).help);
    EXPECT_TRUE(parsed({"--help"}).help);
}

TEST(ParseCommandLine, VersionIsRecognised) { EXPECT_TRUE(parsed({"--version"}).version); }

TEST(HelpText, MentionsEveryOption) {
    auto h = berth::nspawn::help_text();
    for (const char* opt : {"--directory", "--machine", "--boot", "--as-pid2", "--chdir", "--setenv", "--user",
                            "--hostname", "--uuid", "--kill-signal", "--console", "--quiet", "--read-only",
                            "--bind=", "--bind-ro", "--tmpfs", "--overlay=", "--overlay-ro", "--ephemeral",
                            "--private-network", "--register", "--keep-unit", "--notify-ready", "--settings",
                            "--help", "--version"})
        EXPECT_NE(h.find(opt), std::string::npos) << opt;
}

// --- parse_boolean ---

TEST(ParseBoolean, AcceptsTheTrueSpellings) {
    for (const char* t : {"yes", "true", "1", "on"}) EXPECT_EQ(parse_boolean(t, "--x").value(), true) << t;
}

TEST(ParseBoolean, AcceptsTheFalseSpellings) {
    for (const char* t : {"no", "false", "0", "off"}) EXPECT_EQ(parse_boolean(t, "--x").value(), false) << t;
}

TEST(ParseBoolean, RefusesAnythingElseNamingTheOption) {
    auto r = parse_boolean("maybe", "--register");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("--register"), std::string::npos) << r.error().message;
    EXPECT_FALSE(parse_boolean("", "--x").ok());
}
