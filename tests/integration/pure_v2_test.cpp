// A pure cgroup v2 host, as most current distributions are: nspawn runs in a private mount namespace of
// its own whose /sys/fs/cgroup is the unified hierarchy alone (the v1 hierarchies of this hybrid host
// unmounted there, the host's own mounts untouched). The machine must start and a Debian guest boot
// cleanly, with the devices guarded and nothing made in v1 hierarchies.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

// The command line that runs nspawn `args` on the pure-v2 view of this host.
std::vector<std::string> on_pure_v2(const std::vector<std::string>& args) {
    std::vector<std::string> cmd{"-m", "--propagation", "private", "/bin/sh", "-c",
                                 "umount -R /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && "
                                 "exec \"$0\" \"$@\"",
                                 nspawn_path()};
    cmd.insert(cmd.end(), args.begin(), args.end());
    return cmd;
}

std::string fmt(const char* format, unsigned a, unsigned b) {
    char buf[256];
    std::snprintf(buf, sizeof buf, format, a, b);
    return buf;
}

bool host_is_hybrid() { return cgroup2_root() == "/sys/fs/cgroup/unified"; }

class PureV2 : public BusyboxTest {
protected:
    void SetUp() override {
        BusyboxTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        // On a pure v2 host every other test already is this test.
        if (!host_is_hybrid()) GTEST_SKIP() << "the host is not hybrid: the other tests run on pure v2";
        ::chmod(sync_.c_str(), 0777);  // a plain bind below: the machine's root is someone else here
    }
    Process start_v2(const std::string& script) const {
        auto args = base();
        args.insert(args.end(), {"--bind=" + sync_ + ":/sync", "/bin/sh", "-c", "touch /sync/up; " + script});
        return Process::start("/usr/bin/unshare", on_pure_v2(args), {.timeout = 60s});
    }
};

TEST_F(PureV2, MachineRunsInItsUnifiedCgroupWithTheDevicesGuarded) {
    auto p = start_v2("cat /proc/self/cgroup > /sync/cgroup; while [ ! -e /sync/done ]; do sleep 0.1; done");
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    EXPECT_TRUE(exists(cgroup2_root() + "/berth/" + machine_));
    EXPECT_EQ(device_programs(cgroup2_root() + "/berth/" + machine_), 1);
    for (auto* v1 : {"devices", "memory", "pids", "cpu"})
        EXPECT_FALSE(exists(std::string("/sys/fs/cgroup/") + v1 + "/berth/" + machine_)) << v1;
    write_file(sync_ + "/done", "");
    auto r = p.wait(20s);
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(read_file(sync_ + "/cgroup").find("0::/\n"), std::string::npos) << read_file(sync_ + "/cgroup");
    EXPECT_FALSE(exists(cgroup2_root() + "/berth/" + machine_)) << "cgroup left behind";
}

// Host root in the machine (CAP_MKNOD kept) tries to make and read the node of the host's root disk: the
// device program alone refuses it, already at mknod.
TEST_F(PureV2, HostRootInTheMachineCannotReadTheHostsDisk) {
    struct stat st {};
    ASSERT_EQ(::stat("/", &st), 0);
    if (major(st.st_dev) == 0) GTEST_SKIP() << "the host's root is not on a block device";
    auto args = base();
    args.insert(args.end(), {"--private-users=no", "/bin/sh", "-c",
                             fmt("mknod /tmp/disk b %u %u 2>&1; head -c 1 /tmp/disk >/dev/null 2>&1 && echo read; true",
                                 major(st.st_dev), minor(st.st_dev))});
    auto r = run("/usr/bin/unshare", on_pure_v2(args));
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("Operation not permitted"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("read"), std::string::npos) << r.out;
}

class PureV2Debian : public DebianTest {
protected:
    void SetUp() override {
        DebianTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        if (!host_is_hybrid()) GTEST_SKIP() << "the host is not hybrid: the other tests run on pure v2";
    }
};

TEST_F(PureV2Debian, BootsToMultiUserTargetWithNoFailedUnit) {
    auto r = run("/usr/bin/unshare", on_pure_v2(probe_args()), {.timeout = 100s});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\n") << r.describe();
    EXPECT_EQ(read_file(probe_ + "/failed"), "") << "units failed in the guest";
}

}  // namespace
}  // namespace berth::test
