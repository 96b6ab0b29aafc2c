// machinectl copy-to, copy-from and bind, ours and systemd 252's, against our machined and a busybox
// machine of our nspawn (its own user namespace, nspawn's default).
#include <sys/stat.h>

#include <optional>

#include "tests/integration/machinectl_fixture.hpp"

namespace berth::test {
namespace {

class MachinectlFiles : public MachinectlTest {
protected:
    void SetUp() override {
        MachinectlTest::SetUp();
        machine_process_.emplace(start_registered_up("sleep 1000"));
        ASSERT_TRUE(wait_listed(machine_));
        leader_ = show_value(machine_, "Leader");
        host_dir_ = tmp_ + "/host";
        make_dirs(host_dir_);
    }
    void TearDown() override {
        if (machine_process_) {
            machinectl({"terminate", machine_});
            machine_process_->wait(60s);
            machine_process_.reset();
        }
        MachinectlTest::TearDown();
    }

    std::string in_machine(const std::string& script) const {
        auto r = run("/usr/bin/nsenter", {"-t", leader_, "-a", "-r", "-w", "/bin/sh", "-c", script});
        EXPECT_TRUE(r.exited(0)) << script << "\n" << r.describe();
        return trim(r.out);
    }
    // Our machinectl with `args`, in directory `dir` (for relative host paths).
    RunResult machinectl_in(const std::string& dir, const std::vector<std::string>& args) const {
        std::vector<std::string> all{"-c", "cd \"$0\" && exec \"$@\"", dir, machinectl_path()};
        all.insert(all.end(), args.begin(), args.end());
        return run("/bin/sh", all, {.env = {bus_->env()}, .timeout = 60s});
    }

    std::optional<Process> machine_process_;
    std::string leader_, host_dir_;
};

TEST_F(MachinectlFiles, CopyToAndFromTakeRelativeHostPathsFromTheWorkingDirectory) {
    write_file(host_dir_ + "/note", "hello\n");
    auto r = machinectl_in(host_dir_, {"copy-to", machine_, "note", "/tmp/note"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(in_machine("cat /tmp/note"), "hello");
    r = machinectl_in(host_dir_, {"copy-from", machine_, "/tmp/note", "back"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(host_dir_ + "/back"), "hello\n");
}

TEST_F(MachinectlFiles, CopyWithoutDestinationUsesTheSamePath) {
    write_file(host_dir_ + "/same", "same\n");
    in_machine("mkdir -p " + host_dir_);
    auto r = machinectl({"copy-to", machine_, host_dir_ + "/same"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine("cat " + host_dir_ + "/same"), "same");
}

TEST_F(MachinectlFiles, ForceReplacesAnExistingFile) {
    write_file(host_dir_ + "/f", "new\n");
    in_machine("echo old > /tmp/f");
    auto r = machinectl({"copy-to", machine_, host_dir_ + "/f", "/tmp/f"});
    EXPECT_TRUE(refused_with(r, "File exists")) << r.describe();
    EXPECT_EQ(in_machine("cat /tmp/f"), "old");
    r = machinectl({"copy-to", "--force", machine_, host_dir_ + "/f", "/tmp/f"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine("cat /tmp/f"), "new");
}

TEST_F(MachinectlFiles, BindReadOnlyWithMkdir) {
    write_file(host_dir_ + "/seen", "bound\n");
    auto r = machinectl({"bind", "--read-only", "--mkdir", machine_, host_dir_, "/srv/bound"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine("cat /srv/bound/seen"), "bound");
    EXPECT_EQ(in_machine("touch /srv/bound/x 2>/dev/null || echo refused"), "refused");
}

TEST_F(MachinectlFiles, BadArgumentsAreRefusedBeforeAnyCall) {
    EXPECT_TRUE(refused_with(machinectl({"copy-to", machine_}), "Too few arguments"));
    EXPECT_TRUE(refused_with(machinectl({"bind", machine_, "/a", "/b", "/c"}), "Too many arguments"));
    EXPECT_TRUE(refused_with(machinectl({"copy-from", "bad/name", "/a"}), "Invalid machine name"));
}

TEST_F(MachinectlFiles, SystemdMachinectlCopiesBothWays) {
    if (!have_systemd_machinectl()) GTEST_SKIP() << "systemd's machinectl is not installed";
    write_file(host_dir_ + "/from-host", "systemd copy\n");
    auto r = systemd_machinectl({"copy-to", machine_, host_dir_ + "/from-host", "/tmp/from-host"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine("cat /tmp/from-host; stat -c %u /tmp/from-host"), "systemd copy\n0");
    r = systemd_machinectl({"copy-to", machine_, host_dir_ + "/from-host", "/tmp/from-host"});
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("File exists"), std::string::npos) << r.describe();
    r = systemd_machinectl({"copy-to", "--force", machine_, host_dir_ + "/from-host", "/tmp/from-host"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    in_machine("echo guest > /tmp/from-guest && chown 1000:1000 /tmp/from-guest");
    r = systemd_machinectl({"copy-from", machine_, "/tmp/from-guest", host_dir_ + "/from-guest"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(host_dir_ + "/from-guest"), "guest\n");
    struct stat st {};
    ASSERT_EQ(::lstat((host_dir_ + "/from-guest").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u);
}

TEST_F(MachinectlFiles, SystemdMachinectlBindMounts) {
    if (!have_systemd_machinectl()) GTEST_SKIP() << "systemd's machinectl is not installed";
    write_file(host_dir_ + "/seen", "via systemd\n");
    auto r = systemd_machinectl({"bind", "--read-only", "--mkdir", machine_, host_dir_, "/srv/sd"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine("cat /srv/sd/seen"), "via systemd");
    EXPECT_EQ(in_machine("touch /srv/sd/x 2>/dev/null || echo refused"), "refused");
}

}  // namespace
}  // namespace berth::test
