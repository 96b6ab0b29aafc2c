// The fixture of the network link tests (network_links_test.cpp, and port_forward_test.cpp as the suite
// PortForward): helpers that look at the host's links, nftables and forwarding, and NetworkLinks, whose
// every test also proves that nothing is left: no ve-/vb-/vz- link, no nftables table `inet berth`,
// net.ipv4.ip_forward as before.
//
// All traffic stays on this host: links and namespaces the test or nspawn creates, addresses from
// 10.21x.0.0/24 on those links only.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "tests/integration/fixture.hpp"

namespace berth::test {

inline std::vector<std::string> our_kind_of_links() {
    std::vector<std::string> out;
    for (auto& n : list_dir("/sys/class/net"))
        if (n.rfind("ve-", 0) == 0 || n.rfind("vb-", 0) == 0 || n.rfind("vz-", 0) == 0) out.push_back(n);
    return out;
}

inline bool link_exists(const std::string& name) { return exists("/sys/class/net/" + name); }

inline RunResult ip(const std::vector<std::string>& args) {
    return run(exists("/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip", args);
}

inline bool nft_table_exists() {
    return run(exists("/usr/sbin/nft") ? "/usr/sbin/nft" : "/sbin/nft", {"list", "table", "inet", "berth"}).exited(0);
}

inline std::string ip_forward() { return trim(read_file("/proc/sys/net/ipv4/ip_forward")); }

// Something the test created on the host, removed whatever happens.
struct Undo {
    std::vector<std::string> args;
    ~Undo() {
        if (!args.empty()) ip(args);
    }
};

// One HTTP GET, retried for a few seconds (the guest may still be starting its server). The body, or "".
inline std::string http_get(const std::string& addr, int port) {
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
inline std::string http_get_in_netns(const std::string& netns, const std::string& addr, int port) {
    return text_from_child([&]() -> std::string {
        int fd = ::open(netns.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::setns(fd, CLONE_NEWNET) < 0) return "";
        return http_get(addr, port);
    });
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
inline std::string host_address() {
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

    // A machine running `script` with /sync bound, in the image `root` (default: this test's).
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
        auto r = make_busybox_rootfs(root);
        EXPECT_TRUE(r.exited(0)) << r.describe();
        return root;
    }

    // A machine serving "hello from the guest" on port 80, published as tcp:18080 (the port tests).
    Process start_server(const std::vector<std::string>& link = {"--network-veth"}) const {
        std::vector<std::string> opts = link;
        opts.push_back("-p");
        opts.push_back("tcp:18080:80");
        return start_sh("mkdir -p /www && echo hello from the guest >/www/index.html && httpd -p 80 -h /www && "
                        "touch /sync/serving; " +
                            std::string(kWaitDone),
                        opts);
    }

    static constexpr const char* kWaitDone = "while [ ! -e /sync/done ]; do sleep 0.1; done";

    std::vector<std::string> links_before_;
    bool table_before_ = false;
    std::string forward_before_;
};

}  // namespace berth::test
