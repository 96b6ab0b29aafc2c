// --keep-unit: nspawn stays in the cgroup of whoever started it and leaves restarts to its unit manager,
// so a guest reboot ends nspawn with exit status 133 ("restart me") instead of booting again in place.
// Without systemd on the host (as here) the machine still gets a cgroup of its own.
#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class KeepUnit : public DebianTest {};

TEST_F(KeepUnit, GuestRebootExits133) {
    write_file(probe_ + "/reboot-once", "");
    auto r = nspawn(probe_args({"--keep-unit"}), {.timeout = 100s});
    EXPECT_TRUE(r.exited(133)) << r.describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\n") << "one boot, no second one in place\n" << r.describe();
    EXPECT_FALSE(exists(probe_ + "/reboot-once")) << "the guest never asked to reboot";
}

TEST_F(KeepUnit, GuestPoweroffExits0) {
    auto r = nspawn(probe_args({"--keep-unit"}), {.timeout = 100s});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(probe_ + "/boots"), "active\n") << r.describe();
}

class KeepUnitBusybox : public BusyboxTest {};

TEST_F(KeepUnitBusybox, CommandExitStatusStillPropagates) {
    auto r = sh("exit 9", {"--keep-unit"});
    EXPECT_TRUE(r.exited(9)) << r.describe();
}

}  // namespace
}  // namespace berth::test
