// Full Debian 12 machines with systemd as PID 1, each on an ephemeral overlay of the cached rootfs so
// tests never disturb each other or the cache. A probe unit (tests/fixtures/berth-probe.service) runs
// after multi-user.target, records that in a host directory and powers off (or reboots once).
#include <sys/stat.h>

#include <csignal>
#include <cstdlib>

#include "fixture.hpp"

namespace berth::test {
namespace {

class Debian : public NspawnTest {
protected:
    void SetUp() override {
        NspawnTest::SetUp();
        if (!exists(debian_rootfs() + "/usr/lib/systemd/systemd")) {
            const char* allow = std::getenv("BERTH_ALLOW_SKIP");
            if (allow && *allow) GTEST_SKIP() << "no Debian rootfs at " << debian_rootfs();
            FAIL() << "no Debian rootfs at " << debian_rootfs()
                   << " (test.sh builds it; set BERTH_ALLOW_SKIP=1 to skip these tests instead)";
        }
        probe_ = tmp_ + "/probe";
        make_dirs(probe_);
        cache_before_ = cache_signature();
    }
    void TearDown() override {
        if (!cache_before_.empty()) {
            EXPECT_EQ(cache_signature(), cache_before_) << "a machine wrote into the cached rootfs";
        }
        NspawnTest::TearDown();
    }

    // Top level and /etc of the cache: where a write that escaped the overlay would show first.
    std::vector<std::string> cache_signature() const {
        std::vector<std::string> sig;
        for (const char* dir : {"", "/etc"}) {
            struct stat st {};
            std::string d = debian_rootfs() + dir;
            ::lstat(d.c_str(), &st);
            sig.push_back(d + " " + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
            for (auto& n : list_dir(d)) sig.push_back(d + "/" + n);
        }
        return sig;
    }

    std::vector<std::string> machine_args() const {
        return {"-q", "--register=no", "-D", debian_rootfs(), "-M", "deb-" + id_, "-x"};
    }

    // Boot with the probe unit; arguments after the options go to systemd.
    std::vector<std::string> probe_args() const {
        auto args = machine_args();
        args.insert(args.end(), {"--bind-ro=" + fixtures_dir() + "/berth-probe.service:/etc/systemd/system/berth-probe.service",
                                 "--bind=" + probe_ + ":/berth-probe:idmap", "-b", "systemd.wants=berth-probe.service"});
        return args;
    }
    RunResult boot_with_probe() const { return nspawn(probe_args(), {.timeout = 100s}); }

    std::string probe_;  // host side of /berth-probe

private:
    std::vector<std::string> cache_before_;
};

TEST_F(Debian, BootsToMultiUserTargetThenPowersOff) {
    auto r = boot_with_probe();
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\n") << "one boot that reached multi-user.target\n" << r.describe();
}

TEST_F(Debian, RebootStartsMachineAgainThenPowersOff) {
    write_file(probe_ + "/reboot-once", "");
    auto r = boot_with_probe();
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\nactive\n") << "two boots expected\n" << r.describe();
    EXPECT_FALSE(exists(probe_ + "/reboot-once"));
}

// SIGTERM to nspawn asks a booted guest to halt (SIGRTMIN+3 for systemd); a clean halt is exit 0.
TEST_F(Debian, SigtermHaltsBootedMachineCleanly) {
    write_file(probe_ + "/stay-up", "");
    auto p = start_nspawn(probe_args(), {.timeout = 100s});
    ASSERT_TRUE(wait_for_file(probe_ + "/boots", p, 90s)) << p.wait(0ms).describe();
    p.signal(SIGTERM);
    auto r = p.wait(60s);
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

TEST_F(Debian, AsPid2RunsCommandAsPid2) {
    auto args = machine_args();
    args.insert(args.end(), {"--as-pid2", "/bin/sh", "-c", "echo $$"});
    auto r = nspawn(args, {.timeout = 60s});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "2\n");
}

}  // namespace
}  // namespace berth::test
