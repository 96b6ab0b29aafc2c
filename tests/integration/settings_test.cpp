// Per-machine settings: NAME.toml next to the image is read, but untrusted (binds ignored) unless
// --settings=trusted; the command line wins; --settings=no ignores the file.
#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class Settings : public BusyboxTest {
protected:
    void settings(const std::string& toml) { write_file(tmp_ + "/" + machine_ + ".toml", toml); }

    std::string shared_with_marker() {
        std::string d = tmp_ + "/shared";
        make_dirs(d);
        write_file(d + "/marker", "from settings\n");
        return d;
    }
};

TEST_F(Settings, FileNextToImageSetsHostname) {
    settings("[exec]\nhostname = \"from-settings\"\n");
    auto r = sh("hostname");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "from-settings\n");
}

TEST_F(Settings, CommandLineWinsOverFile) {
    settings("[exec]\nhostname = \"from-settings\"\n");
    auto r = sh("hostname", {"--hostname=from-cli"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "from-cli\n");
}

TEST_F(Settings, SettingsNoIgnoresFile) {
    settings("[exec]\nhostname = \"from-settings\"\n");
    auto r = sh("hostname", {"--settings=no"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, machine_ + "\n");
}

TEST_F(Settings, UntrustedFileBindIsIgnored) {
    settings("[files]\nbind = [\"" + shared_with_marker() + ":/data\"]\n");
    auto r = sh("test -e /data/marker && echo bound || echo not bound");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "not bound\n");
}

TEST_F(Settings, TrustedFileBindIsApplied) {
    settings("[files]\nbind = [\"" + shared_with_marker() + ":/data\"]\n");
    auto r = sh("cat /data/marker", {"--settings=trusted"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "from settings\n");
}

}  // namespace
}  // namespace berth::test
