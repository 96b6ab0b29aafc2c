// --private-network: the machine gets a network namespace of its own with only loopback, and loopback is
// up; without it the machine shares the host's network.
#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class Network : public BusyboxTest {};

std::string lines(const std::vector<std::string>& items) {
    std::string s;
    for (auto& i : items) s += i + "\n";
    return s;
}

TEST_F(Network, PrivateNetworkShowsOnlyLoopback) {
    auto r = sh("ls /sys/class/net", {"--private-network"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "lo\n");
}

TEST_F(Network, PrivateNetworkIpLinkListsOnlyLoopback) {
    auto r = sh("ip -o link | cut -d: -f2", {"--private-network"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, " lo\n");
}

TEST_F(Network, PrivateNetworkLoopbackIsUp) {
    // IFF_UP is bit 0 of the interface flags.
    auto r = sh("echo $(( $(cat /sys/class/net/lo/flags) & 1 ))", {"--private-network"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "1\n") << "lo is down";
}

TEST_F(Network, PrivateNetworkLoopbackCarriesTraffic) {
    auto r = sh("ping -c 1 -W 2 127.0.0.1 >/dev/null && echo reached", {"--private-network"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "reached\n");
}

TEST_F(Network, PrivateNetworkIsNotTheHostsNamespace) {
    auto r = sh("readlink /proc/self/ns/net", {"--private-network"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out, read_link("/proc/self/ns/net") + "\n");
}

TEST_F(Network, WithoutPrivateNetworkMachineSeesHostInterfaces) {
    auto r = sh("ls /sys/class/net");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, lines(list_dir("/sys/class/net")));
}

TEST_F(Network, WithoutPrivateNetworkMachineSharesHostsNamespace) {
    auto r = sh("readlink /proc/self/ns/net");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, read_link("/proc/self/ns/net") + "\n");
}

}  // namespace
}  // namespace berth::test
