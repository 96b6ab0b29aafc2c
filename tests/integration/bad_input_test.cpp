// Bad input: exit status 1, one line on stderr naming the thing, and nothing created anywhere. The
// fixture proves no mount, cgroup or /run/berth entry appeared; each test adds that the image and its
// directory are untouched.
#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class BadInput : public BusyboxTest {
protected:
    void SetUp() override {
        BusyboxTest::SetUp();
        image_before_ = tree_snapshot(tmp_);
    }
    void TearDown() override {
        EXPECT_EQ(tree_snapshot(tmp_), image_before_) << "refused input changed files in " << tmp_;
        BusyboxTest::TearDown();
    }
    // nspawn base() + args, with /bin/true as the command unless the args bring their own.
    RunResult attempt(std::vector<std::string> args, bool add_command = true) const {
        auto all = base();
        all.insert(all.end(), args.begin(), args.end());
        if (add_command) all.push_back("/bin/true");
        return nspawn(all);
    }

    std::map<std::string, std::string> image_before_;
};

TEST_F(BadInput, MissingDirectoryIsRefused) {
    std::string missing = tmp_ + "/no-such-image";
    auto r = nspawn({"-q", "--register=no", "-D", missing, "/bin/true"});
    EXPECT_TRUE(refused_with(r, missing));
}

TEST_F(BadInput, BootWithoutInitIsRefused) {
    auto r = attempt({"-b"}, false);
    EXPECT_TRUE(refused_with(r, "init"));
}

TEST_F(BadInput, MachineNameWithSlashIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"-M", "a/b"}), "a/b"));
}

TEST_F(BadInput, MachineNameLongerThan64IsRefused) {
    std::string name(65, 'a');
    EXPECT_TRUE(refused_with(attempt({"-M", name}), name));
}

// A refused name is echoed escaped (one line, no escape sequence reaches the terminal) and cut.
TEST_F(BadInput, MachineNameWithControlCharactersIsEchoedEscapedOnOneLine) {
    EXPECT_TRUE(refused_with(attempt({"-M", "a\nb"}), "\"a\\x0ab\""));
    auto r = attempt({"-M", "x\x1b]0;pwned\x07"});
    EXPECT_TRUE(refused_with(r, "\"x\\x1b]0;pwned\\x07\""));
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.describe();
}

TEST_F(BadInput, HugeMachineNameIsEchoedCut) {
    auto r = attempt({"-M", std::string(100000, 'a')});
    EXPECT_TRUE(refused_with(r, "more bytes)"));
    EXPECT_LT(r.err.size(), 400u) << r.describe();
}

TEST_F(BadInput, MachineNameDotDotIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"-M", ".."}), "\"..\""));
}

TEST_F(BadInput, MachineNameWithoutDirectoryMustNotEscapeThePool) {
    auto r = nspawn({"-q", "--register=no", "-M", "../../tmp", "/bin/true"});
    EXPECT_TRUE(refused_with(r, "../../tmp"));
}

TEST_F(BadInput, BootWithAsPid2IsRefused) {
    auto r = attempt({"--boot", "--as-pid2"}, false);
    EXPECT_TRUE(refused_with(r, "as-pid2"));
    EXPECT_NE(r.err.find("boot"), std::string::npos) << r.err;
}

TEST_F(BadInput, UnknownOptionIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--no-such-option"}), "--no-such-option"));
}

TEST_F(BadInput, BindWithMissingSourceIsRefused) {
    std::string missing = tmp_ + "/no-such-source";
    EXPECT_TRUE(refused_with(attempt({"--bind=" + missing + ":/data"}), missing));
}

TEST_F(BadInput, RelativeChdirIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--chdir=etc"}), "etc"));
}

TEST_F(BadInput, BadKillSignalIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--kill-signal=SIGNOPE"}), "SIGNOPE"));
}

TEST_F(BadInput, BadUuidIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--uuid=not-a-uuid"}), "not-a-uuid"));
}

TEST_F(BadInput, UnknownUserIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"--user=mallory"}), "mallory"));
}

TEST_F(BadInput, MissingCommandIsRefused) {
    EXPECT_TRUE(refused_with(attempt({"/bin/no-such-command"}, false), "/bin/no-such-command"));
}

TEST_F(BadInput, NonRootIsRefused) {
    std::vector<std::string> args{"--reuid=65534", "--regid=65534", "--clear-groups", nspawn_path()};
    auto b = base();
    args.insert(args.end(), b.begin(), b.end());
    args.push_back("/bin/true");
    auto r = run("/usr/bin/setpriv", args);
    EXPECT_TRUE(refused_with(r, "root"));
}

TEST_F(BadInput, BrokenSettingsFileIsRefused) {
    std::string settings = tmp_ + "/" + machine_ + ".toml";
    write_file(settings, "[exec]\nhostname = 5\n");
    image_before_ = tree_snapshot(tmp_);
    EXPECT_TRUE(refused_with(attempt({}), settings));
}

// One machine runs; a second start under the same name must be refused and must not disturb it.
TEST_F(BadInput, SameNameAlreadyRunningIsRefused) {
    auto first = start_sh("exec sleep 1000");
    ASSERT_TRUE(wait_up(first)) << first.wait(0ms).describe();
    image_before_ = tree_snapshot(tmp_);  // the running machine may own files; only the second start counts
    auto second = attempt({});
    EXPECT_TRUE(refused_with(second, machine_));
    EXPECT_TRUE(first.running()) << "the refused start disturbed the running machine";
    first.signal(SIGTERM);
    auto r = first.wait(10s);
    EXPECT_FALSE(r.timed_out) << r.describe();
}

}  // namespace
}  // namespace berth::test
