// Network links: veth pairs (ve-NAME <-> host0), bridges (vb-NAME on BR), zones (vz-ZONE, created on demand
// and removed with its last machine) and moved host interfaces. Forwarded ports: port_forward_test.cpp.
#include "tests/integration/network_fixture.hpp"

namespace berth::test {
namespace {

// --private-network -------------------------------------------------------------------------------

TEST_F(NetworkLinks, PrivateNetworkLoopbackAnswersPing) {
    auto r = sh("ping -c 1 -W 2 127.0.0.1 >/dev/null && echo reached", {"--private-network"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "reached\n");
}

TEST_F(NetworkLinks, PrivateNetworkCannotReachHostAddresses) {
    std::string host = host_address();
    if (host.empty()) GTEST_SKIP() << "the host has no IPv4 address besides loopback";
    auto r = sh("ping -c 1 -W 1 " + host + " >/dev/null 2>&1 && echo reached || echo unreachable", {"--private-network"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "unreachable\n");
}

// --network-veth ----------------------------------------------------------------------------------

TEST_F(NetworkLinks, VethGuestSideIsHost0NextToLoopback) {
    auto r = sh("ls /sys/class/net", {"--network-veth"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "host0\nlo\n");
}

TEST_F(NetworkLinks, VethHostSideIsNamedAfterMachineAndUp) {
    auto p = start_sh(kWaitDone, {"--network-veth"});
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    std::string name = "ve-" + machine_;
    EXPECT_TRUE(link_exists(name)) << "no " << name;
    EXPECT_EQ(std::stoul(trim(read_file("/sys/class/net/" + name + "/flags")), nullptr, 16) & IFF_UP, IFF_UP);
    release();
    EXPECT_TRUE(p.wait(20s).exited(0));
}

TEST_F(NetworkLinks, VethHostSideOfLongMachineNameIsShortenedToFifteenCharacters) {
    std::string machine = "averylongmachinename-" + id_;
    auto p = start_sh(kWaitDone, {"--network-veth", "-M", machine});
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    std::vector<std::string> mine;
    for (auto& l : our_kind_of_links())
        if (l.rfind("ve-averylon", 0) == 0) mine.push_back(l);  // 11 characters kept, 4 of hash
    ASSERT_EQ(mine.size(), 1u) << ::testing::PrintToString(our_kind_of_links());
    EXPECT_EQ(mine[0].size(), 15u) << mine[0];
    release();
    EXPECT_TRUE(p.wait(20s).exited(0));
}

TEST_F(NetworkLinks, VethLinkIsGoneWhenNspawnHasExited) {
    auto r = sh("true", {"--network-veth"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_FALSE(link_exists("ve-" + machine_));
}

TEST_F(NetworkLinks, VethCarriesPingBothWays) {
    auto p = start_sh("ip addr add 10.218.0.2/24 dev host0 && ip link set host0 up && touch /sync/configured; "
                      "while [ ! -e /sync/host-configured ]; do sleep 0.1; done; "
                      "ping -c 3 -W 2 10.218.0.1 >/dev/null && echo guest-reached-host; " +
                          std::string(kWaitDone),
                      {"--network-veth"});
    ASSERT_TRUE(wait_sync("configured", p)) << p.wait(0ms).describe();
    ASSERT_TRUE(ip({"addr", "add", "10.218.0.1/24", "dev", "ve-" + machine_}).exited(0));
    write_file(sync_ + "/host-configured", "");
    auto ping = run("/bin/busybox", {"ping", "-c", "3", "-W", "2", "10.218.0.2"});
    EXPECT_TRUE(ping.exited(0)) << "host could not ping the guest: " << ping.describe();
    release();
    auto r = p.wait(20s);
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "guest-reached-host\n");
}

TEST_F(NetworkLinks, VethCarriesTcpBothWays) {
    auto p = start_sh("ip addr add 10.219.0.2/24 dev host0 && ip link set host0 up; "
                      "(echo from-host-ok | nc -l -p 15556 >/sync/from-host) & touch /sync/configured; "
                      "while [ ! -e /sync/host-configured ]; do sleep 0.1; done; "
                      "echo from-guest | nc 10.219.0.1 15555; " +
                          std::string(kWaitDone),
                      {"--network-veth"});
    ASSERT_TRUE(wait_sync("configured", p)) << p.wait(0ms).describe();
    ASSERT_TRUE(ip({"addr", "add", "10.219.0.1/24", "dev", "ve-" + machine_}).exited(0));
    Listener listener("10.219.0.1", 15555);
    ASSERT_TRUE(listener.ok());
    write_file(sync_ + "/host-configured", "");
    EXPECT_EQ(listener.receive(10s), "from-guest\n");

    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(15556);
    ::inet_pton(AF_INET, "10.219.0.2", &sa.sin_addr);
    bool connected = false;
    for (int i = 0; i < 50 && !connected; i++) {
        connected = ::connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
        if (!connected) {
            ::close(s);
            s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            std::this_thread::sleep_for(100ms);
        }
    }
    ASSERT_TRUE(connected) << "host could not connect to the guest";
    std::string msg = "from-host\n";
    ASSERT_EQ(::write(s, msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
    ::shutdown(s, SHUT_WR);
    std::string back;
    char buf[64];
    timeval tv{5, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (ssize_t n; (n = ::read(s, buf, sizeof buf)) > 0;) back.append(buf, n);
    ::close(s);
    EXPECT_EQ(back, "from-host-ok\n");
    release();
    EXPECT_TRUE(p.wait(20s).exited(0));
    EXPECT_EQ(read_file(sync_ + "/from-host"), "from-host\n");
}

// --network-bridge --------------------------------------------------------------------------------

TEST_F(NetworkLinks, BridgeConnectsTwoMachines) {
    std::string br = "bt" + id_;
    ASSERT_TRUE(ip({"link", "add", br, "type", "bridge"}).exited(0));
    Undo undo{{"link", "del", br}};
    ASSERT_TRUE(ip({"link", "set", br, "up"}).exited(0));
    auto a = start(ping_peer("a", "b", "10.216.0.1", "10.216.0.2"), {"-M", "a-" + id_, "--network-bridge=" + br});
    auto b = start(ping_peer("b", "a", "10.216.0.2", "10.216.0.1"), {"-M", "b-" + id_, "--network-bridge=" + br},
                   second_image());
    ASSERT_TRUE(wait_sync("a-up", a)) << a.wait(0ms).describe();
    ASSERT_TRUE(wait_sync("b-up", b)) << b.wait(0ms).describe();
    std::string master = read_link("/sys/class/net/vb-a-" + id_ + "/master");
    EXPECT_EQ(master.substr(master.rfind('/') + 1), br) << "vb-a-" << id_ << " is not a port of " << br;
    auto ra = a.wait(30s), rb = b.wait(30s);
    EXPECT_TRUE(ra.exited(0)) << ra.describe();
    EXPECT_TRUE(rb.exited(0)) << rb.describe();
    EXPECT_EQ(ra.out, "reached\n");
    EXPECT_EQ(rb.out, "reached\n");
    EXPECT_TRUE(link_exists(br)) << "the bridge of --network-bridge is not ours to remove";
}

TEST_F(NetworkLinks, MissingBridgeIsRefused) {
    std::string br = "nobr" + id_;
    EXPECT_TRUE(refused_with(sh("echo ran", {"--network-bridge=" + br}), br));
}

TEST_F(NetworkLinks, BridgeThatIsNotABridgeIsRefused) {
    EXPECT_TRUE(refused_with(sh("echo ran", {"--network-bridge=lo"}), "not a bridge"));
}

// --network-zone ----------------------------------------------------------------------------------

TEST_F(NetworkLinks, ZoneConnectsTwoMachines) {
    std::string zone = "z" + id_;
    auto a = start(ping_peer("a", "b", "10.215.0.1", "10.215.0.2"), {"-M", "a-" + id_, "--network-zone=" + zone});
    auto b = start(ping_peer("b", "a", "10.215.0.2", "10.215.0.1"), {"-M", "b-" + id_, "--network-zone=" + zone},
                   second_image());
    ASSERT_TRUE(wait_sync("a-up", a)) << a.wait(0ms).describe();
    ASSERT_TRUE(wait_sync("b-up", b)) << b.wait(0ms).describe();
    EXPECT_TRUE(link_exists("vz-" + zone));
    auto ra = a.wait(30s), rb = b.wait(30s);
    EXPECT_TRUE(ra.exited(0)) << ra.describe();
    EXPECT_TRUE(rb.exited(0)) << rb.describe();
    EXPECT_EQ(ra.out, "reached\n");
    EXPECT_EQ(rb.out, "reached\n");
}

TEST_F(NetworkLinks, ZoneBridgeStaysUntilItsLastMachineLeaves) {
    std::string zone = "z" + id_;
    auto a = start("touch /sync/a-up; while [ ! -e /sync/a-go ]; do sleep 0.1; done", {"-M", "a-" + id_, "--network-zone=" + zone});
    auto b = start("touch /sync/b-up; " + std::string(kWaitDone), {"-M", "b-" + id_, "--network-zone=" + zone},
                   second_image());
    ASSERT_TRUE(wait_sync("a-up", a)) << a.wait(0ms).describe();
    ASSERT_TRUE(wait_sync("b-up", b)) << b.wait(0ms).describe();
    EXPECT_EQ(trim(read_file("/sys/class/net/vz-" + zone + "/ifalias")), "berth zone");
    EXPECT_EQ(trim(read_file("/sys/class/net/vz-" + zone + "/netdev_group")), std::to_string(0x62657274))
        << "created in berth's device group, which marks it as ours before the alias is set";
    write_file(sync_ + "/a-go", "");
    EXPECT_TRUE(a.wait(20s).exited(0));
    EXPECT_TRUE(link_exists("vz-" + zone)) << "removed while machine b is still in the zone";
    release();
    EXPECT_TRUE(b.wait(20s).exited(0));
    EXPECT_FALSE(link_exists("vz-" + zone)) << "left behind after its last machine";
}

// A supervisor killed between creating its zone's bridge and labelling it (two netlink requests) left
// the bridge in berth's device group ("bert") but without the alias: the next start collects it. A
// bridge of that name that is not ours (another group) stays.
TEST_F(NetworkLinks, UnlabelledZoneBridgeOfAKilledSupervisorIsCollectedByTheNextStart) {
    std::string zone = "z" + id_, other = "y" + id_;
    ASSERT_TRUE(ip({"link", "add", "name", "vz-" + zone, "group", std::to_string(0x62657274), "type", "bridge"}).exited(0));
    Undo undo{{"link", "del", "vz-" + zone}};
    ASSERT_TRUE(ip({"link", "add", "name", "vz-" + other, "type", "bridge"}).exited(0));
    Undo undo_other{{"link", "del", "vz-" + other}};
    auto r = sh("true");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_FALSE(link_exists("vz-" + zone)) << "the unlabelled bridge in berth's group was left behind";
    EXPECT_TRUE(link_exists("vz-" + other)) << "a bridge that is not berth's was removed";
}

// Joining a zone whose bridge is such a leftover labels it, so that it is known as ours from then on.
TEST_F(NetworkLinks, ZoneBridgeLeftUnlabelledIsLabelledWhenAMachineJoinsIt) {
    std::string zone = "z" + id_;
    ASSERT_TRUE(ip({"link", "add", "name", "vz-" + zone, "group", std::to_string(0x62657274), "type", "bridge"}).exited(0));
    Undo undo{{"link", "del", "vz-" + zone}};
    auto p = start("touch /sync/up; " + std::string(kWaitDone), {"--network-zone=" + zone});
    ASSERT_TRUE(wait_sync("up", p)) << p.wait(0ms).describe();
    EXPECT_EQ(trim(read_file("/sys/class/net/vz-" + zone + "/ifalias")), "berth zone");
    release();
    auto r = p.wait(20s);
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_FALSE(link_exists("vz-" + zone)) << "left behind after its last machine";
}

TEST_F(NetworkLinks, InvalidZoneNameIsRefused) {
    EXPECT_TRUE(refused_with(sh("echo ran", {"--network-zone=a/b"}), "a/b"));
}

TEST_F(NetworkLinks, OverlongZoneNameIsRefused) {
    EXPECT_TRUE(refused_with(sh("echo ran", {"--network-zone=thirteenchars"}), "thirteenchars"));
}

// --network-interface -----------------------------------------------------------------------------

TEST_F(NetworkLinks, MovedInterfaceIsInsideAndBackOnTheHostAfterExit) {
    std::string mine = "mi" + id_, peer = "mp" + id_;
    ASSERT_TRUE(ip({"link", "add", mine, "type", "veth", "peer", "name", peer}).exited(0));
    Undo undo{{"link", "del", peer}};
    auto r = sh("ls /sys/class/net", {"--network-interface=" + mine});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "lo\n" + mine + "\n");
    EXPECT_TRUE(link_exists(mine)) << mine << " was not given back";
}

TEST_F(NetworkLinks, MissingInterfaceIsRefused) {
    std::string name = "noif" + id_;
    EXPECT_TRUE(refused_with(sh("echo ran", {"--network-interface=" + name}), name));
}

}  // namespace
}  // namespace berth::test
