// Network links: veth pairs (ve-NAME <-> host0), bridges (vb-NAME on BR), zones (vz-ZONE, created on demand
// and removed with its last machine), moved host interfaces, and forwarded ports. Every test also proves
// that nothing is left: no ve-/vb-/vz- link, no nftables table `inet berth`, net.ipv4.ip_forward as before.
//
// All traffic stays on this host: links and namespaces the test or nspawn creates, addresses from
// 10.21x.0.0/24 on those links only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <thread>

#include "fixture.hpp"

namespace berth::test {
namespace {

std::vector<std::string> our_kind_of_links() {
    std::vector<std::string> out;
    for (auto& n : list_dir("/sys/class/net"))
        if (n.rfind("ve-", 0) == 0 || n.rfind("vb-", 0) == 0 || n.rfind("vz-", 0) == 0) out.push_back(n);
    return out;
}

bool link_exists(const std::string& name) { return exists("/sys/class/net/" + name); }

RunResult ip(const std::vector<std::string>& args) {
    return run(exists("/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip", args);
}

bool nft_table_exists() {
    return run(exists("/usr/sbin/nft") ? "/usr/sbin/nft" : "/sbin/nft", {"list", "table", "inet", "berth"}).exited(0);
}

std::string ip_forward() { return trim(read_file("/proc/sys/net/ipv4/ip_forward")); }

// Something the test created on the host, removed whatever happens.
struct Undo {
    std::vector<std::string> args;
    ~Undo() {
        if (!args.empty()) ip(args);
    }
};

// One HTTP GET, retried for a few seconds (the guest may still be starting its server). The body, or "".
std::string http_get(const std::string& addr, int port) {
    for (int attempt = 0; attempt < 30; attempt++) {
        int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval tv{2, 0};
        ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<uint16_t>(port));
        ::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
        std::string reply;
        if (::connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
            std::string req = "GET / HTTP/1.0\r\nHost: guest\r\n\r\n";
            if (::write(s, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
                char buf[4096];
                for (ssize_t n; (n = ::read(s, buf, sizeof buf)) > 0;) reply.append(buf, n);
            }
        }
        ::close(s);
        if (size_t body = reply.find("\r\n\r\n"); body != std::string::npos) return reply.substr(body + 4);
        std::this_thread::sleep_for(100ms);
    }
    return "";
}

// http_get() from inside the network namespace at `netns` (/proc/PID/ns/net).
std::string http_get_in_netns(const std::string& netns, const std::string& addr, int port) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) < 0) return "";
    pid_t pid = ::fork();
    if (pid == 0) {
        int fd = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::setns(fd, CLONE_NEWNET) < 0) ::_exit(1);
        std::string body = http_get(addr, port);
        (void)!::write(pipefd[1], body.data(), body.size());
        ::_exit(0);
    }
    ::close(pipefd[1]);
    std::string body;
    char buf[4096];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) body.append(buf, n);
    ::close(pipefd[0]);
    ::waitpid(pid, nullptr, 0);
    return body;
}

// A TCP listener on the host: accept() one connection and return what it sent ("" on timeout).
class Listener {
public:
    Listener(const std::string& addr, int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<uint16_t>(port));
        ::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
        ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && ::listen(fd_, 1) == 0;
    }
    ~Listener() { ::close(fd_); }
    bool ok() const { return ok_; }
    std::string receive(Millis timeout) {
        timeval tv{static_cast<time_t>(timeout.count() / 1000), 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return "";
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string got;
        char buf[256];
        for (ssize_t n; (n = ::read(c, buf, sizeof buf)) > 0;) got.append(buf, n);
        ::close(c);
        return got;
    }

private:
    int fd_ = -1;
    bool ok_ = false;
};

// The first IPv4 address of the host that is neither loopback nor link-local, or "".
std::string host_address() {
    ifaddrs* all = nullptr;
    if (::getifaddrs(&all) < 0) return "";
    std::string found;
    for (ifaddrs* i = all; i && found.empty(); i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK)) continue;
        uint32_t a = ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
        if ((a >> 16) == 0xa9fe) continue;  // 169.254.0.0/16
        char text[INET_ADDRSTRLEN];
        ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
        found = text;
    }
    ::freeifaddrs(all);
    return found;
}

class NetworkLinks : public BusyboxTest {
protected:
    void SetUp() override {
        BusyboxTest::SetUp();
        ::chmod(sync_.c_str(), 01777);  // the guest's root is not the host's root under a user namespace
        links_before_ = our_kind_of_links();
        table_before_ = nft_table_exists();
        forward_before_ = ip_forward();
    }
    void TearDown() override {
        auto now = our_kind_of_links();
        std::vector<std::string> left;
        for (auto& l : now)
            if (std::find(links_before_.begin(), links_before_.end(), l) == links_before_.end()) left.push_back(l);
        EXPECT_TRUE(left.empty()) << "links left behind: " << ::testing::PrintToString(left);
        if (!table_before_) {
            EXPECT_FALSE(nft_table_exists()) << "nftables table inet berth left behind";
        }
        EXPECT_EQ(ip_forward(), forward_before_) << "net.ipv4.ip_forward not restored";
        BusyboxTest::TearDown();
    }

    // A machine running `script` with /sync bound; `name` picks -M (default: the image's name).
    Process start(const std::string& script, const std::vector<std::string>& opts, const std::string& root = "") const {
        std::vector<std::string> args = {"-q", "--register=no", "-D", root.empty() ? root_ : root, "--bind=" + sync_ + ":/sync"};
        args.insert(args.end(), opts.begin(), opts.end());
        args.insert(args.end(), {"/bin/sh", "-c", script});
        return start_nspawn(args, {.timeout = 60s});
    }
    bool wait_sync(const std::string& file, const Process& p) const { return wait_for_file(sync_ + "/" + file, p, 20s); }
    void release() const { write_file(sync_ + "/done", ""); }
    // One of two machines on a shared link: `me` takes `addr` on host0, waits for `other`, pings `peer`
    // ("reached" on success), and stays until `other` is done too.
    static std::string ping_peer(const std::string& me, const std::string& other, const std::string& addr,
                                 const std::string& peer) {
        return "ip addr add " + addr + "/24 dev host0 && ip link set host0 up && touch /sync/" + me + "-up; " +
               "while [ ! -e /sync/" + other + "-up ]; do sleep 0.1; done; ping -c 3 -W 2 " + peer +
               " >/dev/null && echo reached; touch /sync/" + me + "-done; while [ ! -e /sync/" + other +
               "-done ]; do sleep 0.1; done";
    }
    // A second image, for a second machine at the same time.
    std::string second_image() const {
        std::string root = tmp_ + "/bb2-" + id_;
        auto r = run(fixtures_dir() + "/busybox-rootfs.sh", {root});
        EXPECT_TRUE(r.exited(0)) << r.describe();
        return root;
    }

    static constexpr const char* kWaitDone = "while [ ! -e /sync/done ]; do sleep 0.1; done";

    std::vector<std::string> links_before_;
    bool table_before_ = false;
    std::string forward_before_;
};

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

// --port --------------------------------------------------------------------------------------------

class PortForward : public NetworkLinks {
protected:
    // A machine serving "hello from the guest" on port 80, published as tcp:18080.
    Process start_server(const std::vector<std::string>& link = {"--network-veth"}) {
        std::vector<std::string> opts = link;
        opts.push_back("-p");
        opts.push_back("tcp:18080:80");
        return start_sh("mkdir -p /www && echo hello from the guest >/www/index.html && httpd -p 80 -h /www && "
                        "touch /sync/serving; " +
                            std::string(kWaitDone),
                        opts);
    }
};

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
