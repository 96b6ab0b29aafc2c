// Per-machine TOML settings: every option has a key, the command line wins, untrusted files can't expose the host.
#include <gtest/gtest.h>

#include "nspawn/options.hpp"
#include "nspawn/settings.hpp"
#include "tests/unit/temp_tree.hpp"

using berth::nspawn::apply_settings;
using berth::nspawn::find_settings;
using berth::nspawn::Options;
using berth::nspawn::SettingsFile;
using Strings = std::vector<std::string>;

static const SettingsFile kTrusted{"/etc/berth/nspawn/web.toml", true};
static const SettingsFile kUntrusted{"/var/lib/machines/web.toml", false};

struct Applied {
    berth::Status status;
    Options options;
    Strings warnings;
};

static Applied apply(const std::string& toml, const SettingsFile& file = kTrusted, Options options = {}) {
    Strings warnings;
    auto s = apply_settings(toml, file, options, warnings);
    return {s, options, warnings};
}

static bool mentions(const berth::Error& e, const std::string& what) {
    return e.message.find(what) != std::string::npos;
}

// --- keys fill options ---

TEST(ApplySettings, AnEmptyFileChangesNothing) {
    auto a = apply("");
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_FALSE(a.options.flag("boot"));
    EXPECT_TRUE(a.warnings.empty());
}

TEST(ApplySettings, ABooleanKeyFillsAnUnsetOption) {
    auto a = apply("[exec]\nboot = true\n");
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_EQ(a.options.flag("boot"), true);
}

TEST(ApplySettings, AStringKeyFillsAnUnsetOption) {
    auto a = apply("[exec]\nhostname = \"from-file\"\n");
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_EQ(a.options.text("hostname"), "from-file");
}

TEST(ApplySettings, AListKeyFillsAnUnsetOption) {
    auto a = apply("[exec]\nenvironment = [\"A=1\", \"B=2\"]\n");
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_EQ(a.options.texts("setenv"), (Strings{"A=1", "B=2"}));
}

TEST(ApplySettings, WorkingDirectoryIsChdir) {
    EXPECT_EQ(apply("[exec]\nworking_directory = \"/srv\"\n").options.text("chdir"), "/srv");
}

// One option, one name: the key is the long option's name ('-' or '_'), older keys stay aliases.
TEST(ApplySettings, TheLongOptionNameIsTheKey) {
    auto a = apply("[exec]\nchdir = \"/srv\"\nsetenv = [\"A=1\"]\nkill-signal = \"TERM\"\n"
                   "[resources]\nmemory-max = \"1G\"\npids_max = 50\n[network]\nnetwork-veth = true\n");
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_EQ(a.options.text("chdir"), "/srv");
    EXPECT_EQ(a.options.texts("setenv"), Strings{"A=1"});
    EXPECT_EQ(a.options.text("kill-signal"), "TERM");
    EXPECT_EQ(a.options.text("memory-max"), "1G");
    EXPECT_EQ(a.options.text("pids-max"), "50");
    EXPECT_EQ(a.options.flag("network-veth"), true);
}

// A value reaches its option's parser in its TOML type, never reformatted as text.
TEST(ApplySettings, ANumberStaysANumber) {
    auto a = apply("[resources]\nmemory_max = 536870912\npids_max = 2.0\noom_score_adjust = 5.0\n");
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    ASSERT_NE(a.options.values("memory-max"), nullptr);
    EXPECT_TRUE(std::holds_alternative<int64_t>(a.options.values("memory-max")->front()));
    EXPECT_TRUE(std::holds_alternative<double>(a.options.values("pids-max")->front()));
    auto r = berth::nspawn::parse_resources(a.options);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->memory_max, 536870912u);
    EXPECT_EQ(r->pids_max, 2u);
    EXPECT_EQ(r->oom_score_adjust, 5);
    for (const char* bad : {"memory_max = 1.5", "pids_max = 2.5", "memory_max = -1", "cpu_quota = 50"}) {
        auto b = apply(std::string("[resources]\n") + bad + "\n");
        ASSERT_TRUE(b.status.ok()) << b.status.error().message;
        EXPECT_FALSE(berth::nspawn::parse_resources(b.options).ok()) << bad;
    }
}

TEST(ApplySettings, AKeyOfTheCommandLineAloneIsUnknown) {
    for (const char* key : {"directory", "machine", "settings", "help", "version"})
        EXPECT_FALSE(apply(std::string("[exec]\n") + key + " = \"x\"\n").status.ok()) << key;
}

TEST(ApplySettings, CommandIsAList) {
    EXPECT_EQ(apply("[exec]\ncommand = [\"/bin/echo\", \"hi\"]\n").options.texts("command"), (Strings{"/bin/echo", "hi"}));
}

TEST(ApplySettings, KillSignalMayBeANumber) {
    EXPECT_EQ(apply("[exec]\nkill_signal = 15\n").options.text("kill-signal"), "15");
}

TEST(ApplySettings, KillSignalMayBeAName) {
    EXPECT_EQ(apply("[exec]\nkill_signal = \"SIGRTMIN+3\"\n").options.text("kill-signal"), "SIGRTMIN+3");
}

TEST(ApplySettings, RegisterMayBeABoolean) {
    // Kept as the boolean it is (the record keeps a settings value's TOML type); --register reads it as no/yes.
    EXPECT_EQ(apply("[exec]\nregister = false\n").options.flag("register"), false);
    EXPECT_EQ(apply("[exec]\nregister = true\n").options.flag("register"), true);
}

TEST(ApplySettings, RegisterMayBeAuto) {
    EXPECT_EQ(apply("[exec]\nregister = \"auto\"\n").options.text("register"), "auto");
}

TEST(ApplySettings, NotifyReadyIsABoolean) {
    EXPECT_EQ(apply("[exec]\nnotify_ready = true\n").options.flag("notify-ready"), true);
}

TEST(ApplySettings, FilesSectionKeys) {
    auto a = apply("[files]\nread_only = true\nephemeral = true\ntmpfs = [\"/var/tmp\"]\n");
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_EQ(a.options.flag("read-only"), true);
    EXPECT_EQ(a.options.flag("ephemeral"), true);
    EXPECT_EQ(a.options.texts("tmpfs"), Strings{"/var/tmp"});
}

TEST(ApplySettings, NetworkPrivateIsPrivateNetwork) {
    EXPECT_EQ(apply("[network]\nprivate = true\n").options.flag("private-network"), true);
}

TEST(ApplySettings, ExecSectionKeys) {
    auto a = apply(
        "[exec]\nas_pid2 = true\nuser = \"alice\"\nuuid = \"0f1e2d3c4b5a69788796a5b4c3d2e1f0\"\n"
        "console = \"pipe\"\nquiet = true\nkeep_unit = true\n");
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_EQ(a.options.flag("as-pid2"), true);
    EXPECT_EQ(a.options.text("user"), "alice");
    EXPECT_EQ(a.options.text("uuid"), "0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    EXPECT_EQ(a.options.text("console"), "pipe");
    EXPECT_EQ(a.options.flag("quiet"), true);
    EXPECT_EQ(a.options.flag("keep-unit"), true);
}

// --- the command line wins ---

TEST(ApplySettings, TheCommandLineWinsForABoolean) {
    Options cli;
    cli.set("boot", false);
    EXPECT_EQ(apply("[exec]\nboot = true\n", kTrusted, cli).options.flag("boot"), false);
}

TEST(ApplySettings, TheCommandLineWinsForAString) {
    Options cli;
    cli.set("hostname", "from-cli");
    EXPECT_EQ(apply("[exec]\nhostname = \"from-file\"\n", kTrusted, cli).options.text("hostname"), "from-cli");
}

TEST(ApplySettings, TheCommandLineWinsForAList) {
    Options cli;
    cli.set_list("setenv", {"A=cli"});
    EXPECT_EQ(apply("[exec]\nenvironment = [\"A=file\", \"B=file\"]\n", kTrusted, cli).options.texts("setenv"),
              Strings{"A=cli"});
}

TEST(ApplySettings, TheCommandLineWinsForAPrivilegedList) {
    Options cli;
    cli.set_list("bind", {"/cli"});
    EXPECT_EQ(apply("[files]\nbind = [\"/file\"]\n", kTrusted, cli).options.texts("bind"), Strings{"/cli"});
}

TEST(ApplySettings, TheCommandLineWinsForANumericKillSignal) {
    Options cli;
    cli.set("kill-signal", "SIGTERM");
    EXPECT_EQ(apply("[exec]\nkill_signal = 9\n", kTrusted, cli).options.text("kill-signal"), "SIGTERM");
}

TEST(ApplySettings, TheCommandLineWinsForABooleanRegister) {
    Options cli;
    cli.set("register", "auto");
    EXPECT_EQ(apply("[exec]\nregister = false\n", kTrusted, cli).options.text("register"), "auto");
}

TEST(ApplySettings, KeysTheCommandLineLeftOpenAreStillFilled) {
    Options cli;
    cli.set("boot", true);
    auto a = apply("[exec]\nboot = false\nhostname = \"h\"\n", kTrusted, cli);
    EXPECT_EQ(a.options.flag("boot"), true);
    EXPECT_EQ(a.options.text("hostname"), "h");
}

// --- errors name the file and the key ---

TEST(ApplySettings, AnUnknownKeyIsAnErrorNamingFileAndKey) {
    auto a = apply("[exec]\nfrobnicate = true\n");
    ASSERT_FALSE(a.status.ok());
    EXPECT_TRUE(mentions(a.status.error(), kTrusted.path)) << a.status.error().message;
    EXPECT_TRUE(mentions(a.status.error(), "frobnicate")) << a.status.error().message;
}

TEST(ApplySettings, AnUnknownSectionIsAnErrorNamingFileAndSection) {
    auto a = apply("[bogus]\nboot = true\n");
    ASSERT_FALSE(a.status.ok());
    EXPECT_TRUE(mentions(a.status.error(), kTrusted.path)) << a.status.error().message;
    EXPECT_TRUE(mentions(a.status.error(), "bogus")) << a.status.error().message;
}

TEST(ApplySettings, AnEmptyUnknownSectionIsAnError) {
    auto a = apply("[bogus]\n");
    ASSERT_FALSE(a.status.ok());
    EXPECT_TRUE(mentions(a.status.error(), "bogus")) << a.status.error().message;
}

TEST(ApplySettings, AKeyInTheWrongSectionIsAnError) {
    auto a = apply("[files]\nboot = true\n");
    ASSERT_FALSE(a.status.ok());
    EXPECT_TRUE(mentions(a.status.error(), "boot")) << a.status.error().message;
}

TEST(ApplySettings, AKeyOutsideASectionIsAnError) {
    auto a = apply("boot = true\n");
    ASSERT_FALSE(a.status.ok());
    EXPECT_TRUE(mentions(a.status.error(), kTrusted.path)) << a.status.error().message;
    EXPECT_TRUE(mentions(a.status.error(), "boot")) << a.status.error().message;
}

TEST(ApplySettings, ANestedTableIsAnError) { EXPECT_FALSE(apply("[exec.more]\nboot = true\n").status.ok()); }

TEST(ApplySettings, ABooleanKeyGivenAStringIsATypeError) {
    auto a = apply("[exec]\nboot = \"yes\"\n");
    ASSERT_FALSE(a.status.ok());
    EXPECT_TRUE(mentions(a.status.error(), kTrusted.path)) << a.status.error().message;
    EXPECT_TRUE(mentions(a.status.error(), "boot")) << a.status.error().message;
    EXPECT_TRUE(mentions(a.status.error(), "true or false")) << a.status.error().message;
}

TEST(ApplySettings, ABooleanKeyGivenANumberIsATypeError) { EXPECT_FALSE(apply("[exec]\nboot = 1\n").status.ok()); }

TEST(ApplySettings, AStringKeyGivenANumberIsATypeError) {
    auto a = apply("[exec]\nhostname = 5\n");
    ASSERT_FALSE(a.status.ok());
    EXPECT_TRUE(mentions(a.status.error(), "hostname")) << a.status.error().message;
}

TEST(ApplySettings, AListKeyGivenAStringIsATypeError) {
    auto a = apply("[exec]\nenvironment = \"A=1\"\n");
    ASSERT_FALSE(a.status.ok());
    EXPECT_TRUE(mentions(a.status.error(), "environment")) << a.status.error().message;
    EXPECT_TRUE(mentions(a.status.error(), "array of strings")) << a.status.error().message;
}

TEST(ApplySettings, AListWithANonStringIsATypeError) {
    EXPECT_FALSE(apply("[exec]\nenvironment = [\"A=1\", 2]\n").status.ok());
}

TEST(ApplySettings, KillSignalGivenABooleanIsATypeError) {
    EXPECT_FALSE(apply("[exec]\nkill_signal = true\n").status.ok());
}

TEST(ApplySettings, ATypeErrorIsReportedEvenWhenTheCommandLineSetTheOption) {
    Options cli;
    cli.set("boot", true);
    EXPECT_FALSE(apply("[exec]\nboot = \"yes\"\n", kTrusted, cli).status.ok());
}

TEST(ApplySettings, ASyntaxErrorNamesTheFileAndLine) {
    auto a = apply("[exec]\nboot = true\nhostname = \n");
    ASSERT_FALSE(a.status.ok());
    EXPECT_TRUE(mentions(a.status.error(), kTrusted.path)) << a.status.error().message;
    EXPECT_TRUE(mentions(a.status.error(), "line 3")) << a.status.error().message;
}

// --- trust ---

TEST(ApplySettings, UntrustedBindIsIgnoredWithAWarning) {
    auto a = apply("[files]\nbind = [\"/etc:/hostetc\"]\n", kUntrusted);
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_FALSE(a.options.texts("bind"));
    ASSERT_EQ(a.warnings.size(), 1u);
    EXPECT_NE(a.warnings[0].find("bind"), std::string::npos) << a.warnings[0];
    EXPECT_NE(a.warnings[0].find(kUntrusted.path), std::string::npos) << a.warnings[0];
}

TEST(ApplySettings, UntrustedBindRoIsIgnoredWithAWarning) {
    auto a = apply("[files]\nbind_ro = [\"/etc\"]\n", kUntrusted);
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_FALSE(a.options.texts("bind-ro"));
    ASSERT_EQ(a.warnings.size(), 1u);
    EXPECT_NE(a.warnings[0].find("bind_ro"), std::string::npos) << a.warnings[0];
}

TEST(ApplySettings, UntrustedOverlayIsIgnoredWithAWarning) {
    auto a = apply("[files]\noverlay = [\"/a:/b:/c\"]\n", kUntrusted);
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_FALSE(a.options.texts("overlay"));
    ASSERT_EQ(a.warnings.size(), 1u);
    EXPECT_NE(a.warnings[0].find("overlay"), std::string::npos) << a.warnings[0];
}

TEST(ApplySettings, UntrustedOverlayRoIsIgnoredWithAWarning) {
    auto a = apply("[files]\noverlay_ro = [\"/a:/c\"]\n", kUntrusted);
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_FALSE(a.options.texts("overlay-ro"));
    ASSERT_EQ(a.warnings.size(), 1u);
    EXPECT_NE(a.warnings[0].find("overlay_ro"), std::string::npos) << a.warnings[0];
}

TEST(ApplySettings, UntrustedFilesStillApplyUnprivilegedKeys) {
    auto a = apply("[exec]\nboot = true\n[files]\nbind = [\"/etc\"]\ntmpfs = [\"/var/tmp\"]\n", kUntrusted);
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_EQ(a.options.flag("boot"), true);
    EXPECT_EQ(a.options.texts("tmpfs"), Strings{"/var/tmp"});
    EXPECT_FALSE(a.options.texts("bind"));
}

TEST(ApplySettings, TrustedPrivilegedKeysAreAppliedWithoutWarnings) {
    auto a = apply(
        "[files]\nbind = [\"/a\"]\nbind_ro = [\"/b\"]\noverlay = [\"/l:/u:/d\"]\noverlay_ro = [\"/l:/d\"]\n",
        kTrusted);
    ASSERT_TRUE(a.status.ok()) << a.status.error().message;
    EXPECT_EQ(a.options.texts("bind"), Strings{"/a"});
    EXPECT_EQ(a.options.texts("bind-ro"), Strings{"/b"});
    EXPECT_EQ(a.options.texts("overlay"), Strings{"/l:/u:/d"});
    EXPECT_EQ(a.options.texts("overlay-ro"), Strings{"/l:/d"});
    EXPECT_TRUE(a.warnings.empty());
}

TEST(ApplySettings, UnknownKeysAreErrorsEvenInUntrustedFiles) {
    EXPECT_FALSE(apply("[files]\nbindd = [\"/etc\"]\n", kUntrusted).status.ok());
}

// --- find_settings ---

// Names no settings file in /etc/berth/nspawn or /run/berth/nspawn on this host can have.
static std::string test_machine_name() { return unique_name("berth-unit-machine"); }

TEST(FindSettings, FindsNameTomlNextToTheImageAsUntrusted) {
    TempTree t;
    auto name = test_machine_name();
    auto image = t.mkdir(name);
    auto file = t.write(name + ".toml", "[exec]\nboot = true\n");
    auto found = find_settings(name, image, false);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].path, file);
    EXPECT_FALSE(found[0].trusted);
}

TEST(FindSettings, TrustsTheFileNextToTheImageWhenAsked) {
    TempTree t;
    auto name = test_machine_name();
    auto image = t.mkdir(name);
    t.write(name + ".toml", "");
    auto found = find_settings(name, image, true);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_TRUE(found[0].trusted);
}

TEST(FindSettings, UsesTheMachineNameNotTheDirectoryName) {
    TempTree t;
    auto name = test_machine_name();
    auto image = t.mkdir("image-dir");
    t.write("image-dir.toml", "");
    auto file = t.write(name + ".toml", "");
    auto found = find_settings(name, image, false);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].path, file);
}

TEST(FindSettings, FindsNothingWhenThereIsNoFile) {
    TempTree t;
    auto name = test_machine_name();
    EXPECT_TRUE(find_settings(name, t.mkdir(name), false).empty());
}

TEST(FindSettings, IgnoresADirectoryNamedLikeTheFile) {
    TempTree t;
    auto name = test_machine_name();
    auto image = t.mkdir(name);
    t.mkdir(name + ".toml");
    EXPECT_TRUE(find_settings(name, image, false).empty());
}

TEST(FindSettings, DoesNotLookInsideTheImage) {
    TempTree t;
    auto name = test_machine_name();
    auto image = t.mkdir(name);
    t.write(name + "/" + name + ".toml", "");
    EXPECT_TRUE(find_settings(name, image, false).empty());
}
