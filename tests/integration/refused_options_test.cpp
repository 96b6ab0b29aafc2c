// More refused input: hostnames, environment assignments and settings files that cannot be right. As for
// every refusal: exit status 1, one line on stderr naming the culprit, nothing created (the fixture's leak
// check) and the image directory untouched.
#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class RefusedOptions : public BusyboxTest {
protected:
    void SetUp() override {
        BusyboxTest::SetUp();
        before_ = tree_snapshot(tmp_);
    }
    void TearDown() override {
        EXPECT_EQ(tree_snapshot(tmp_), before_) << "refused input changed files in " << tmp_;
        BusyboxTest::TearDown();
    }
    // nspawn base() + args + a command that would show it ran.
    RunResult attempt(const std::vector<std::string>& args) const {
        auto r = sh("echo ran", args);
        EXPECT_EQ(r.out, "") << "the command ran";
        return r;
    }
    // A settings file next to the image (taken into the snapshot: only nspawn's doing counts).
    std::string settings(const std::string& toml) {
        std::string path = tmp_ + "/" + machine_ + ".toml";
        write_file(path, toml);
        before_ = tree_snapshot(tmp_);
        return path;
    }

    std::map<std::string, std::string> before_;
};

TEST_F(RefusedOptions, HostnameLongerThan64IsRefused) {
    std::string name(65, 'h');
    EXPECT_TRUE(refused_with(attempt({"--hostname=" + name}), name));
}

TEST_F(RefusedOptions, HostnameOf64CharactersIsAccepted) {
    std::string name(64, 'h');
    auto r = sh("hostname", {"--hostname=" + name});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, name + "\n");
}

TEST_F(RefusedOptions, HostnameWithInvalidCharacterIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--hostname=web_1"}), "web_1"));
}

TEST_F(RefusedOptions, HostnameWithSpaceIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--hostname=my host"}), "my host"));
}

TEST_F(RefusedOptions, HostnameStartingWithHyphenIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--hostname=-web"}), "-web"));
}

// An empty value stays empty: it must not take the next argument (here the command) as the hostname.
TEST_F(RefusedOptions, EmptyHostnameIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--hostname="}), "hostname"));
}

TEST_F(RefusedOptions, SetenvWithoutEqualsIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--setenv=NOVALUE"}), "NOVALUE"));
}

TEST_F(RefusedOptions, ShortSetenvWithoutEqualsIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"-E", "NOVALUE"}), "NOVALUE"));
}

TEST_F(RefusedOptions, SetenvWithEmptyNameIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--setenv==value"}), "=value"));
}

TEST_F(RefusedOptions, SettingsFileWithUnknownSectionIsRefused) {
    std::string file = settings("[exec]\nhostname = \"fine\"\n\n[nonsense]\nkey = 1\n");
    auto r = attempt({});
    EXPECT_TRUE(refused_with(r, file));
    EXPECT_NE(r.err.find("nonsense"), std::string::npos) << r.describe();
}

TEST_F(RefusedOptions, SettingsFileWithUnknownKeyIsRefused) {
    std::string file = settings("[exec]\nno_such_key = true\n");
    auto r = attempt({});
    EXPECT_TRUE(refused_with(r, file));
    EXPECT_NE(r.err.find("no_such_key"), std::string::npos) << r.describe();
}

TEST_F(RefusedOptions, SettingsFileThatIsNotTomlIsRefused) {
    std::string file = settings("[exec\nhostname = \n");
    EXPECT_TRUE(refused_with(attempt({}), file));
}

}  // namespace
}  // namespace berth::test
