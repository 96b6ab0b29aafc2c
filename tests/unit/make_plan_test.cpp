// make_plan: command line + settings + what the image holds -> one validated plan. It only reads; it needs
// root (it refuses otherwise), so these tests skip when not run as root.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>

#include "nspawn/options.hpp"
#include "nspawn/plan.hpp"
#include "tests/unit/temp_tree.hpp"

using berth::id128_is_null;
using berth::id128_to_hex;
using berth::nspawn::make_plan;
using berth::nspawn::Options;
using berth::nspawn::Plan;
using Strings = std::vector<std::string>;

static const char* kMachineId = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
static const char* kOtherId = "11112222333344445555666677778888";

// A busybox-like image: bin/sh executable, etc/passwd with root and alice, etc/group.
class MakePlan : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "make_plan needs root";
        name = unique_name("berth-unit-img");
        image = tree.mkdir(name);
        tree.write(name + "/bin/sh", "#!/bin/true\n", 0755);
        tree.write(name + "/etc/passwd",
                   "root:x:0:0:root:/root:/bin/sh\n"
                   "alice:x:1000:1001:Alice:/home/alice:/bin/ash\n");
        tree.write(name + "/etc/group", "root:x:0:\nusers:x:1001:\nwheel:x:10:alice\n");
        options.set("directory", image);
        options.set("console", "pipe");  // no dependency on whether the test runs on a terminal
    }

    berth::Result<Plan> plan() { return make_plan(options, warnings); }

    Plan planned() {
        auto r = plan();
        EXPECT_TRUE(r.ok()) << r.error().message;
        return r.ok() ? r.value() : Plan{};
    }

    void expect_error_mentioning(const std::string& what) {
        auto r = plan();
        ASSERT_FALSE(r.ok()) << "expected an error mentioning " << what;
        EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    }

    TempTree tree;
    std::string name, image;
    Options options;
    Strings warnings;
};

// --- where and who ---

TEST_F(MakePlan, TheDirectoryBecomesCanonical) {
    options.set("directory", tree.path() + "//" + name + "/.");
    EXPECT_EQ(planned().directory, image);
}

TEST_F(MakePlan, TheDefaultMachineNameIsTheDirectorysBasename) { EXPECT_EQ(planned().machine, name); }

TEST_F(MakePlan, TheHostnameDefaultsToTheMachineName) { EXPECT_EQ(planned().hostname, name); }

TEST_F(MakePlan, MachineOverridesTheDerivedName) {
    options.set("machine", "web");
    auto p = planned();
    EXPECT_EQ(p.machine, "web");
    EXPECT_EQ(p.hostname, "web");
}

TEST_F(MakePlan, HostnameOverridesTheMachineName) {
    options.set("hostname", "other");
    EXPECT_EQ(planned().hostname, "other");
}

TEST_F(MakePlan, AMissingDirectoryFailsNamingIt) {
    options.set("directory", tree / "missing");
    expect_error_mentioning(tree / "missing");
}

TEST_F(MakePlan, AFileAsDirectoryFailsNamingIt) {
    options.set("directory", tree.write("file", "x"));
    expect_error_mentioning(tree / "file");
}

TEST_F(MakePlan, TheHostRootIsRefused) {
    options.set("directory", "/");
    EXPECT_FALSE(plan().ok());
}

TEST_F(MakePlan, AnInvalidMachineNameIsRefused) {
    options.set("machine", "bad/name");
    expect_error_mentioning("bad/name");
}

TEST_F(MakePlan, ADirectoryWithoutAUsableNameNeedsMachine) {
    options.set("directory", tree.mkdir("..."));
    tree.write(".../bin/sh", "", 0755);
    expect_error_mentioning("--machine");
}

TEST_F(MakePlan, AnInvalidHostnameIsRefused) {
    options.set("hostname", "bad host");
    expect_error_mentioning("bad host");
}

// --- boot, command, init ---

TEST_F(MakePlan, BootWithoutAnInitFailsNamingTheDirectory) {
    options.set("boot", true);
    expect_error_mentioning(image);
}

TEST_F(MakePlan, BootRunsTheImagesInitWithTheArguments) {
    tree.write(name + "/sbin/init", "", 0755);
    options.set("boot", true);
    options.set_list("command", {"systemd.unit=rescue.target"});
    EXPECT_EQ(planned().argv, (Strings{"/sbin/init", "systemd.unit=rescue.target"}));
}

TEST_F(MakePlan, BootPrefersSystemdOverSbinInit) {
    tree.write(name + "/sbin/init", "", 0755);
    tree.write(name + "/usr/lib/systemd/systemd", "", 0755);
    options.set("boot", true);
    EXPECT_EQ(planned().argv, Strings{"/usr/lib/systemd/systemd"});
}

TEST_F(MakePlan, AnInitThatIsNotExecutableDoesNotCount) {
    tree.write(name + "/sbin/init", "", 0644);
    options.set("boot", true);
    EXPECT_FALSE(plan().ok());
}

TEST_F(MakePlan, AnInitSymlinkIsResolvedInsideTheImage) {
    // /sbin/init -> /lib/systemd/systemd is how Debian ships it; the host's must never be the one found.
    tree.write(name + "/lib/systemd/systemd", "", 0755);
    tree.symlink("/lib/systemd/systemd", name + "/sbin/init");
    options.set("boot", true);
    auto p = planned();
    ASSERT_FALSE(p.argv.empty());
    EXPECT_EQ(p.argv[0], "/lib/systemd/systemd");
}

TEST_F(MakePlan, BootAndAsPid2CannotBeCombined) {
    tree.write(name + "/sbin/init", "", 0755);
    options.set("boot", true);
    options.set("as-pid2", true);
    expect_error_mentioning("--as-pid2");
}

TEST_F(MakePlan, TheDefaultCommandIsTheUsersShell) { EXPECT_EQ(planned().argv, Strings{"/bin/sh"}); }

TEST_F(MakePlan, TheCommandIsKeptAsGiven) {
    options.set_list("command", {"/bin/sh", "-c", "echo -E"});
    EXPECT_EQ(planned().argv, (Strings{"/bin/sh", "-c", "echo -E"}));
}

TEST_F(MakePlan, ACommandIsFoundInPath) {
    options.set_list("command", {"sh", "-c", "true"});
    EXPECT_EQ(planned().argv[0], "sh");
}

TEST_F(MakePlan, AMissingCommandFailsNamingItAndTheMachine) {
    options.set_list("command", {"/bin/nonexistent"});
    auto r = plan();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("/bin/nonexistent"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(name), std::string::npos) << r.error().message;
}

// --- defaults and values ---

TEST_F(MakePlan, KillSignalDefaultsToSigkillForACommand) { EXPECT_EQ(planned().kill_signal, SIGKILL); }

TEST_F(MakePlan, KillSignalDefaultsToSigrtminPlus3WhenBooting) {
    tree.write(name + "/sbin/init", "", 0755);
    options.set("boot", true);
    EXPECT_EQ(planned().kill_signal, SIGRTMIN + 3);
}

TEST_F(MakePlan, KillSignalIsParsed) {
    options.set("kill-signal", "TERM");
    EXPECT_EQ(planned().kill_signal, SIGTERM);
}

TEST_F(MakePlan, ABadKillSignalIsRefused) {
    options.set("kill-signal", "SIGBOGUS");
    expect_error_mentioning("SIGBOGUS");
}

TEST_F(MakePlan, ABadRegisterValueIsRefused) {
    options.set("register", "maybe");
    expect_error_mentioning("--register");
}

TEST_F(MakePlan, ABadSettingsValueIsRefused) {
    options.set("settings", "sometimes");
    expect_error_mentioning("--settings");
}

TEST_F(MakePlan, ABadConsoleValueIsRefused) {
    options.set("console", "tty");
    expect_error_mentioning("tty");
}

TEST_F(MakePlan, SetenvNeedsVarEqualsValue) {
    options.set_list("setenv", {"NOEQUALS"});
    expect_error_mentioning("NOEQUALS");
}

TEST_F(MakePlan, SetenvRefusesABadVariableName) {
    options.set_list("setenv", {"1A=x"});
    expect_error_mentioning("1A=x");
}

TEST_F(MakePlan, SetenvKeepsTheOrder) {
    options.set_list("setenv", {"A=1", "B=x=y", "A=2"});
    EXPECT_EQ(planned().environment, (Strings{"A=1", "B=x=y", "A=2"}));
}

TEST_F(MakePlan, ChdirMustBeAbsolute) {
    options.set("chdir", "relative");
    EXPECT_FALSE(plan().ok());
}

TEST_F(MakePlan, BindsComeFromBothBindAndBindRo) {
    auto src = tree.mkdir("src");
    options.set_list("bind", {src + ":/mnt/rw"});
    options.set_list("bind-ro", {src + ":/mnt/ro"});
    auto p = planned();
    ASSERT_EQ(p.binds.size(), 2u);
    EXPECT_FALSE(p.binds[0].read_only);
    EXPECT_TRUE(p.binds[1].read_only);
}

TEST_F(MakePlan, IdmapIsKeptUnderAUserNamespace) {
    auto src = tree.mkdir("src");
    options.set_list("bind", {src + ":/mnt:idmap"});
    options.set("private-users", "pick");
    auto p = planned();
    ASSERT_EQ(p.binds.size(), 1u);
    EXPECT_TRUE(p.binds[0].idmap);
}

TEST_F(MakePlan, IdmapWithoutAUserNamespaceIsTheIdentity) {
    auto src = tree.mkdir("src");
    options.set_list("bind", {src + ":/mnt:idmap"});
    options.set("private-users", "no");
    auto p = planned();
    ASSERT_EQ(p.binds.size(), 1u);
    EXPECT_FALSE(p.binds[0].idmap);
}

TEST_F(MakePlan, ABadBindIsRefusedBeforeAnythingElse) {
    options.set_list("bind", {"relative:/mnt"});
    expect_error_mentioning("relative");
}

// --- users ---

TEST_F(MakePlan, TheDefaultUserIsRoot) {
    auto p = planned();
    EXPECT_EQ(p.user.uid, 0u);
    EXPECT_EQ(p.user.name, "root");
}

TEST_F(MakePlan, AUserPresentInTheImageGivesUidGidHomeAndShell) {
    tree.write(name + "/bin/ash", "", 0755);
    options.set("user", "alice");
    auto p = planned();
    EXPECT_EQ(p.user.uid, 1000u);
    EXPECT_EQ(p.user.gid, 1001u);
    EXPECT_EQ(p.user.home, "/home/alice");
    EXPECT_EQ(p.user.shell, "/bin/ash");
    EXPECT_EQ(p.argv, Strings{"/bin/ash"});
}

TEST_F(MakePlan, AUserAbsentFromTheImageFailsNamingIt) {
    options.set("user", "mallory");
    expect_error_mentioning("mallory");
}

// --- machine id ---

TEST_F(MakePlan, TheMachineIdComesFromTheImage) {
    tree.write(name + "/etc/machine-id", std::string(kMachineId) + "\n");
    auto p = planned();
    EXPECT_EQ(id128_to_hex(p.uuid), kMachineId);
    EXPECT_TRUE(p.uuid_from_image);
}

TEST_F(MakePlan, UuidIsUsedWhenTheImageHasNoMachineId) {
    options.set("uuid", kOtherId);
    auto p = planned();
    EXPECT_EQ(id128_to_hex(p.uuid), kOtherId);
    EXPECT_FALSE(p.uuid_from_image);
}

TEST_F(MakePlan, TheImagesMachineIdWinsOverUuidWithAWarning) {
    tree.write(name + "/etc/machine-id", std::string(kMachineId) + "\n");
    options.set("uuid", kOtherId);
    auto p = planned();
    EXPECT_EQ(id128_to_hex(p.uuid), kMachineId);
    EXPECT_EQ(warnings.size(), 1u);
}

TEST_F(MakePlan, AnUninitializedMachineIdIsNotUsed) {
    tree.write(name + "/etc/machine-id", "uninitialized\n");
    options.set("uuid", kOtherId);
    auto p = planned();
    EXPECT_EQ(id128_to_hex(p.uuid), kOtherId);
    EXPECT_FALSE(p.uuid_from_image);
}

TEST_F(MakePlan, WithoutAnyIdARandomV4OneIsMade) {
    auto p = planned();
    EXPECT_FALSE(id128_is_null(p.uuid));
    EXPECT_EQ(p.uuid[6] >> 4, 4);
    EXPECT_FALSE(p.uuid_from_image);
}

TEST_F(MakePlan, AnAllZeroUuidIsRefused) {
    options.set("uuid", "00000000000000000000000000000000");
    EXPECT_FALSE(plan().ok());
}

TEST_F(MakePlan, ABadUuidIsRefused) {
    options.set("uuid", "not-a-uuid");
    expect_error_mentioning("not-a-uuid");
}

// --- settings next to the image ---

TEST_F(MakePlan, SettingsNextToTheImageFillUnsetOptions) {
    auto file = tree.write(name + ".toml", "[exec]\nhostname = \"from-settings\"\n");
    auto p = planned();
    EXPECT_EQ(p.hostname, "from-settings");
    EXPECT_EQ(p.settings_files, Strings{file});
}

TEST_F(MakePlan, TheCommandLineWinsOverSettings) {
    tree.write(name + ".toml", "[exec]\nhostname = \"from-settings\"\n");
    options.set("hostname", "from-cli");
    EXPECT_EQ(planned().hostname, "from-cli");
}

TEST_F(MakePlan, SettingsNoIgnoresTheFile) {
    tree.write(name + ".toml", "[exec]\nhostname = \"from-settings\"\n");
    options.set("settings", "no");
    auto p = planned();
    EXPECT_EQ(p.hostname, name);
    EXPECT_TRUE(p.settings_files.empty());
}

TEST_F(MakePlan, ABadSettingsFileFailsTheWholePlan) {
    tree.write(name + ".toml", "[exec]\nfrobnicate = 1\n");
    expect_error_mentioning("frobnicate");
}

TEST_F(MakePlan, UntrustedBindsNextToTheImageAreIgnoredWithAWarning) {
    auto src = tree.mkdir("src");
    tree.write(name + ".toml", "[files]\nbind = [\"" + src + ":/mnt\"]\n");
    auto p = planned();
    EXPECT_TRUE(p.binds.empty());
    EXPECT_EQ(warnings.size(), 1u);
}

TEST_F(MakePlan, SettingsTrustedAppliesBindsNextToTheImage) {
    auto src = tree.mkdir("src");
    tree.write(name + ".toml", "[files]\nbind = [\"" + src + ":/mnt\"]\n");
    options.set("settings", "trusted");
    auto p = planned();
    ASSERT_EQ(p.binds.size(), 1u);
    EXPECT_EQ(p.binds[0].source, src);
    EXPECT_TRUE(warnings.empty());
}
