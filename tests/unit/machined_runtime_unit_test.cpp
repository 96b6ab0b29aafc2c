// What machined leaves for systemd's -M tools (the /run/systemd/machines files), the unit a machine runs
// in, and machined.toml's machines_dir: pure parts, no root, no bus.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>

#include "common/fileio.hpp"
#include "common/machined_config.hpp"
#include "machined/machine_files.hpp"
#include "machined/supervision.hpp"
#include "tests/unit/temp_tree.hpp"

namespace berth::machined {
namespace {

Machine web() {
    Machine m;
    m.name = "web";
    m.klass = "container";
    m.service = "nspawn";
    m.root_directory = "/var/lib/machines/web";
    m.unit = "gt-x.service";
    m.leader = 1793;
    m.timestamp_realtime = 1796617298687501;
    m.timestamp_monotonic = 31282793051;
    m.ifindices = {5, 7};
    for (uint8_t i = 0; i < 16; i++) m.id[i] = static_cast<uint8_t>(i + 1);
    return m;
}

// Byte for byte what Debian 12's systemd-machined 252 wrote for the same registration (run on a private
// bus with a tmpfs on /run/systemd; the leader in a cgroup named gt-x.service).
TEST(SystemdMachineFile, IsLaidOutAsSystemdMachined252WritesIt) {
    EXPECT_EQ(systemd_machine_file(web()),
              "# This is private data. Do not parse.\n"
              "NAME=web\n"
              "SCOPE=gt-x.service\n"
              "SERVICE=nspawn\n"
              "ROOT=/var/lib/machines/web\n"
              "ID=0102030405060708090a0b0c0d0e0f10\n"
              "LEADER=1793\n"
              "CLASS=container\n"
              "REALTIME=1796617298687501\n"
              "MONOTONIC=31282793051\n"
              "NETIF=5 7\n");
}

TEST(SystemdMachineFile, LeavesOutWhatTheMachineDoesNotHave) {
    Machine m = web();
    m.unit.clear();
    m.service.clear();
    m.root_directory.clear();
    m.id = {};
    m.ifindices.clear();
    EXPECT_EQ(systemd_machine_file(m),
              "# This is private data. Do not parse.\nNAME=web\nLEADER=1793\nCLASS=container\n"
              "REALTIME=1796617298687501\nMONOTONIC=31282793051\n");
}

TEST(SystemdMachineFile, EscapesValuesAsSystemdsCescape) {
    EXPECT_EQ(systemd_cescape("/srv/a b"), "/srv/a b");
    EXPECT_EQ(systemd_cescape("a\nb\t\"c\"\\'"), "a\\nb\\t\\\"c\\\"\\\\\\'");
    EXPECT_EQ(systemd_cescape(std::string("\x01\x7f\xc3\xa9", 4)), "\\001\\177\\303\\251");
}

TEST(SystemdMachineFiles, WriteAndRemoveTheFileAndTheUnitLink) {
    ::TempTree t;
    SystemdMachineFiles files(t / "machines");
    Machine m = web();
    ASSERT_TRUE(files.enable({}).ok());
    files.write(m);
    auto text = read_file(t / "machines/web");
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, systemd_machine_file(m));
    char target[PATH_MAX] = {};
    ASSERT_GT(::readlink((t / "machines/unit:gt-x.service").c_str(), target, sizeof target - 1), 0);
    EXPECT_STREQ(target, "web");
    files.remove(m);
    struct stat st {};
    EXPECT_NE(::lstat((t / "machines/web").c_str(), &st), 0);
    EXPECT_NE(::lstat((t / "machines/unit:gt-x.service").c_str(), &st), 0);
}

TEST(SystemdMachineFiles, NothingIsWrittenBeforeMachinedOwnsTheName) {
    ::TempTree t;
    SystemdMachineFiles files(t / "machines");
    files.write(web());
    struct stat st {};
    EXPECT_NE(::lstat((t / "machines").c_str(), &st), 0);
}

TEST(SystemdMachineFiles, EnableRemovesTheFilesOfMachinesNoLongerRegistered) {
    ::TempTree t;
    t.write("machines/ghost", "NAME=ghost\nLEADER=4242\nCLASS=container\n");
    t.symlink("ghost", "machines/unit:ghost.scope");
    t.write("machines/web.tmp.0123456789abcdef", "half");
    t.mkdir("machines/somebody-elses-directory");
    Machine m = web();
    SystemdMachineFiles files(t / "machines");
    ASSERT_TRUE(files.enable({&m}).ok());
    auto list = [&] {
        std::vector<std::string> names;
        for (auto& e : std::filesystem::directory_iterator(t / "machines")) names.push_back(e.path().filename());
        std::sort(names.begin(), names.end());
        return names;
    };
    EXPECT_EQ(list(), (std::vector<std::string>{"somebody-elses-directory", "unit:gt-x.service", "web"}));
}

TEST(MachineUnit, IsTheFirstCgroupComponentAfterTheSlices) {
    EXPECT_EQ(unit_of_cgroup("/machine.slice/nspawn@web.service/payload"), "nspawn@web.service");
    EXPECT_EQ(unit_of_cgroup("/machine.slice/machine-web.scope"), "machine-web.scope");
    EXPECT_EQ(unit_of_cgroup("/system.slice/system-nspawn.slice/nspawn@deb.service/init.scope"), "nspawn@deb.service");
    EXPECT_EQ(unit_of_cgroup("/berth/web"), "");
    EXPECT_EQ(unit_of_cgroup("/"), "");
    EXPECT_EQ(unit_of_cgroup("/machine.slice"), "");
    EXPECT_EQ(unit_of_cgroup("/a b.service"), "");
    EXPECT_EQ(unit_of_cgroup("/@.service"), "");
}

TEST(MachineUnit, OnlyTheMachinesOwnUnitIsStoppedForIt) {
    EXPECT_EQ(unit_name_escape("deb-1"), "deb\\x2d1");
    EXPECT_TRUE(unit_is_machines_own("nspawn@web.service", "web"));
    EXPECT_TRUE(unit_is_machines_own("systemd-nspawn@deb\\x2d1.service", "deb-1"));
    EXPECT_TRUE(unit_is_machines_own("machine-deb\\x2d1.scope", "deb-1"));
    EXPECT_FALSE(unit_is_machines_own("session-3.scope", "web"));
    EXPECT_FALSE(unit_is_machines_own("nspawn@other.service", "web"));
}

TEST(MachinedConfig, MachinesDirDefaultsToSystemdsAndMustBeAbsolute) {
    ::TempTree t;
    std::string path = t.path() + "/machined.toml";
    ASSERT_TRUE(write_file_atomic(path, "").ok());
    auto defaults = load_machined_config(path, true);
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(defaults->machines_dir, "/run/systemd/machines");
    ASSERT_TRUE(write_file_atomic(path, "machines_dir = \"/tmp/m\"\n").ok());
    auto set = load_machined_config(path, true);
    ASSERT_TRUE(set.ok());
    EXPECT_EQ(set->machines_dir, "/tmp/m");
    ASSERT_TRUE(write_file_atomic(path, "machines_dir = \"m\"\n").ok());
    EXPECT_FALSE(load_machined_config(path, true).ok());
}

TEST(MachinedConfig, ImageSearchPathDefaultsToSystemdsAndMayBeEmpty) {
    ::TempTree t;
    std::string path = t.path() + "/machined.toml";
    ASSERT_TRUE(write_file_atomic(path, "").ok());
    auto defaults = load_machined_config(path, true);
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(defaults->image_search_path,
              (std::vector<std::string>{"/etc/machines", "/run/machines", "/var/lib/machines", "/var/lib/container",
                                        "/usr/local/lib/machines", "/usr/lib/machines"}));
    EXPECT_EQ(defaults->image_usage_refresh_sec, 60);
    ASSERT_TRUE(write_file_atomic(path, "image_search_path = []\nimage_usage_refresh_sec = 0\n").ok());
    auto empty = load_machined_config(path, true);
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->image_search_path.empty());
    EXPECT_EQ(empty->image_usage_refresh_sec, 0);
    for (const char* bad : {"image_search_path = [\"relative\"]\n", "image_search_path = \"/etc/machines\"\n",
                            "image_usage_refresh_sec = -1\n", "image_usage_refresh_sec = 1.5\n"}) {
        ASSERT_TRUE(write_file_atomic(path, bad).ok());
        auto r = load_machined_config(path, true);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.error().message.find("image_"), std::string::npos) << r.error().message;
    }
}

TEST(MachinedConfig, ImportKeyringsDefaultToSystemdsAndAreAbsolutePaths) {
    ::TempTree t;
    std::string path = t.path() + "/machined.toml";
    ASSERT_TRUE(write_file_atomic(path, "").ok());
    auto defaults = load_machined_config(path, true);
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(defaults->import_keyrings,
              (std::vector<std::string>{"/etc/systemd/import-pubring.gpg", "/usr/lib/systemd/import-pubring.gpg"}));
    ASSERT_TRUE(write_file_atomic(path, "import_keyrings = [\"/srv/keys.gpg\"]\n").ok());
    auto mine = load_machined_config(path, true);
    ASSERT_TRUE(mine.ok());
    EXPECT_EQ(mine->import_keyrings, std::vector<std::string>{"/srv/keys.gpg"});
    ASSERT_TRUE(write_file_atomic(path, "import_keyrings = [\"keys.gpg\"]\n").ok());
    auto bad = load_machined_config(path, true);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().message, "Invalid \"import_keyrings\" in " + path + ": expected an array of absolute paths");
}

}  // namespace
}  // namespace berth::machined
