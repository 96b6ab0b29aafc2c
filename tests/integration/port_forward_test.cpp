// Forwarded ports (--port): reached from the host's loopback and addresses and from other namespaces,
// guarded, refused when taken, and gone (rules, addresses, ip_forward) after exit or a killed supervisor.
#include <filesystem>
#include <random>

#include "tests/integration/network_fixture.hpp"

namespace berth::test {
namespace {

// --port --------------------------------------------------------------------------------------------

using PortForward = NetworkLinks;

TEST_F(PortForward, HostReachesGuestThroughLoopback) {
    auto p = start_server();
    ASSERT_TRUE(wait_sync("serving", p)) << p.wait(0ms).describe();
    EXPECT_EQ(http_get("127.0.0.1", 18080), "hello from the guest\n");
    release();
    EXPECT_TRUE(p.wait(20s).exited(0));
}

TEST_F(PortForward, HostReachesGuestThroughItsOwnAddress) {
    std::string host = host_address();
    if (host.empty()) GTEST_SKIP() << "the host has no IPv4 address besides loopback";
    auto p = start_server();
    ASSERT_TRUE(wait_sync("serving", p)) << p.wait(0ms).describe();
    EXPECT_EQ(http_get(host, 18080), "hello from the guest\n");
    release();
    EXPECT_TRUE(p.wait(20s).exited(0));
}

// The other host is a network namespace held by a process of ours (not `ip netns add`, whose /run/netns
// mount would outlive the test), joined to the host by a veth pair.
TEST_F(PortForward, AnotherNetworkNamespaceReachesGuest) {
    std::string outside = "po" + id_, inside = "pi" + id_;
    auto other = Process::start("/usr/bin/unshare", {"--net", "/bin/sleep", "600"});
    std::string ns = "/proc/" + std::to_string(other.pid()) + "/ns/net";
    for (int i = 0; i < 100 && read_link(ns) == read_link("/proc/self/ns/net"); i++) std::this_thread::sleep_for(10ms);
    ASSERT_NE(read_link(ns), read_link("/proc/self/ns/net")) << "unshare --net did not start";
    auto in_other = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"--net=" + ns, exists("/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"});
        return run("/usr/bin/nsenter", args);
    };
    ASSERT_TRUE(ip({"link", "add", outside, "type", "veth", "peer", "name", inside, "netns",
                    std::to_string(other.pid())}).exited(0));
    Undo undo_link{{"link", "del", outside}};
    ASSERT_TRUE(ip({"addr", "add", "10.217.0.1/30", "dev", outside}).exited(0));
    ASSERT_TRUE(ip({"link", "set", outside, "up"}).exited(0));
    ASSERT_TRUE(in_other({"addr", "add", "10.217.0.2/30", "dev", inside}).exited(0));
    ASSERT_TRUE(in_other({"link", "set", inside, "up"}).exited(0));
    auto p = start_server();
    ASSERT_TRUE(wait_sync("serving", p)) << p.wait(0ms).describe();
    EXPECT_EQ(http_get_in_netns(ns, "10.217.0.1", 18080), "hello from the guest\n");
    release();
    EXPECT_TRUE(p.wait(20s).exited(0));
}

TEST_F(PortForward, ZoneMachineIsReachedThroughLoopback) {
    auto p = start_server({"--network-zone=z" + id_});
    ASSERT_TRUE(wait_sync("serving", p)) << p.wait(0ms).describe();
    EXPECT_EQ(http_get("127.0.0.1", 18080), "hello from the guest\n");
    release();
    EXPECT_TRUE(p.wait(20s).exited(0));
}

// route_localnet on the machine's link (for the forwards of 127.0.0.1) must not open the host's loopback
// services to the guest: only replies of forwarded connections may reach 127.0.0.0/8 from outside lo.
TEST_F(PortForward, HostLoopbackIsGuardedWhilePortsAreForwarded) {
    auto p = start_server();
    ASSERT_TRUE(wait_sync("serving", p)) << p.wait(0ms).describe();
    auto chain = run(exists("/usr/sbin/nft") ? "/usr/sbin/nft" : "/sbin/nft", {"list", "chain", "inet", "berth", "input"});
    ASSERT_TRUE(chain.exited(0)) << chain.describe();
    EXPECT_NE(chain.out.find("iifname != \"lo\" ip daddr 127.0.0.0/8 ct status dnat accept"), std::string::npos) << chain.out;
    EXPECT_NE(chain.out.find("iifname != \"lo\" ip daddr 127.0.0.0/8 drop"), std::string::npos) << chain.out;
    EXPECT_EQ(http_get("127.0.0.1", 18080), "hello from the guest\n") << "the guard stopped a forward";
    release();
    EXPECT_TRUE(p.wait(20s).exited(0));
}

TEST_F(PortForward, RulesAndForwardingAreGoneAfterExit) {
    auto p = start_server();
    ASSERT_TRUE(wait_sync("serving", p)) << p.wait(0ms).describe();
    EXPECT_TRUE(nft_table_exists());
    EXPECT_EQ(ip_forward(), "1");
    release();
    EXPECT_TRUE(p.wait(20s).exited(0));
    if (!table_before_) {
        EXPECT_FALSE(nft_table_exists());
    }
    EXPECT_EQ(ip_forward(), forward_before_);
}

TEST_F(PortForward, PortForwardedToAnotherMachineIsRefused) {
    auto p = start_server();
    ASSERT_TRUE(wait_sync("serving", p)) << p.wait(0ms).describe();
    auto r = nspawn({"-q", "--register=no", "-D", second_image(), "--network-veth", "-p", "18080", "/bin/true"});
    EXPECT_TRUE(refused_with(r, "already forwarded")) << r.describe();
    release();
    EXPECT_TRUE(p.wait(20s).exited(0));
}

TEST_F(PortForward, InvalidPortsAreRefused) {
    for (std::string bad : {"0", "70000", "sctp:80", "tcp:", "80:", "1:2:3", "http"})
        EXPECT_TRUE(refused_with(sh("echo ran", {"--network-veth", "-p", bad}), bad)) << bad;
}

TEST_F(PortForward, PortWithoutVirtualLinkIsRefused) {
    EXPECT_TRUE(refused_with(sh("echo ran", {"-p", "18080"}), "--port"));
}

// After SIGKILL -----------------------------------------------------------------------------------

TEST_F(PortForward, WhatAKilledSupervisorLeftIsCollectedByTheNextStart) {
    std::string zone = "z" + id_;
    auto p = start_server({"--network-zone=" + zone});
    ASSERT_TRUE(wait_sync("serving", p)) << p.wait(0ms).describe();
    pid_t pid1 = guest_pid1(p.pid());
    p.signal(SIGKILL);
    p.wait(10s);
    // The machine dies with its supervisor; make sure of it, so that only the supervisor's cleanup is missing.
    if (pid1 > 0) ::kill(pid1, SIGKILL);
    for (int i = 0; i < 100 && pid1 > 0 && !process_dead(pid1); i++) std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(nft_table_exists()) << "nothing to collect: the test proves nothing";
    auto r = nspawn({"-q", "--register=no", "-D", second_image(), "/bin/true"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_FALSE(link_exists("vz-" + zone));
    EXPECT_FALSE(link_exists("vb-" + machine_));
}

// The supervisor SIGKILLed at random moments of its teardown (while it removes the forwards and turns
// forwarding off again): whatever it left, the next start puts ip_forward back as it was before.
TEST_F(PortForward, KillsDuringTeardownNeverLeaveForwardingOn) {
    if (forward_before_ != "0") GTEST_SKIP() << "net.ipv4.ip_forward is already 1: nothing is flipped";
    std::mt19937 rng(std::random_device{}());
    auto image = second_image();
    for (int round = 0; round < 20; round++) {
        std::filesystem::remove(sync_ + "/done");
        std::filesystem::remove(sync_ + "/serving");
        auto p = start_server();
        ASSERT_TRUE(wait_sync("serving", p)) << p.wait(0ms).describe();
        ASSERT_EQ(ip_forward(), "1");
        pid_t pid1 = guest_pid1(p.pid());
        release();
        std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 150000)(rng)));
        p.signal(SIGKILL);
        p.wait(10s);
        if (pid1 > 0) ::kill(pid1, SIGKILL);
        for (int i = 0; i < 100 && pid1 > 0 && !process_dead(pid1); i++) std::this_thread::sleep_for(50ms);
        auto r = nspawn({"-q", "--register=no", "-D", image, "/bin/true"});
        ASSERT_TRUE(r.exited(0)) << r.describe();
        ASSERT_EQ(ip_forward(), forward_before_) << "round " << round;
        ASSERT_FALSE(nft_table_exists()) << "round " << round;
    }
}

}  // namespace
}  // namespace berth::test
