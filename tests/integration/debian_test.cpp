// Full Debian 12 machines with systemd as PID 1, each on an ephemeral overlay of the cached rootfs so
// tests never disturb each other or the cache. A probe unit (tests/fixtures/berth-probe.service) runs
// after multi-user.target, records that in a host directory and powers off (or reboots once).
#include <sys/stat.h>

#include <csignal>
#include <cstdlib>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class Debian : public DebianTest {
protected:
    std::string failed_units() const { return read_file(probe_ + "/failed"); }
    RunResult boot_with_probe(const std::vector<std::string>& extra = {}) const {
        return nspawn(probe_args(extra), {.timeout = 100s});
    }
};

TEST_F(Debian, BootsToMultiUserTargetThenPowersOff) {
    auto r = boot_with_probe();
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\n") << "one boot that reached multi-user.target\n" << r.describe();
    EXPECT_EQ(failed_units(), "") << "units failed in the guest";
}

// The secure default (a user namespace, the root idmapped) boots exactly as a host-root machine does.
TEST_F(Debian, BootsToMultiUserTargetWithoutUserNamespaceToo) {
    auto r = boot_with_probe({"--private-users=no"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\n") << "one boot that reached multi-user.target\n" << r.describe();
    EXPECT_EQ(failed_units(), "") << "units failed in the guest";
}

// A guest with a veth link (a private network, its own writable /proc/sys/net) boots as cleanly.
TEST_F(Debian, BootsToMultiUserTargetWithAVethLink) {
    auto r = boot_with_probe({"--network-veth"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\n") << "one boot that reached multi-user.target\n" << r.describe();
    EXPECT_EQ(failed_units(), "") << "units failed in the guest";
}

TEST_F(Debian, RebootStartsMachineAgainThenPowersOff) {
    write_file(probe_ + "/reboot-once", "");
    auto r = boot_with_probe();
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\nactive\n") << "two boots expected\n" << r.describe();
    EXPECT_FALSE(exists(probe_ + "/reboot-once"));
}

// A reboot ends the first boot's link (its removal finishes before the next boot makes one of the same
// name) and the machine comes back with a link of its own; nothing is left once nspawn has exited.
TEST_F(Debian, RebootWithAVethLinkComesBackLinkedAndLeavesNoLink) {
    write_file(probe_ + "/reboot-once", "");
    auto r = boot_with_probe({"--network-veth"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\nactive\n") << "two boots expected\n" << r.describe();
    EXPECT_EQ(failed_units(), "") << "units failed in the guest";
    EXPECT_FALSE(exists("/sys/class/net/ve-" + machine_)) << "the host side of the veth link outlived nspawn";
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
