// Networking over netlink (libnl-route-3) and nftables (libnftables). Nothing runs `ip` or `nft`.
//
// What a start creates is found again from the kernel alone, so a supervisor killed with SIGKILL leaves
// nothing that the next start cannot recognise:
//   - ve-/vb- links carry the alias "berth machine=NAME" (names may be shortened, the alias never is);
//   - zone bridges we created carry the alias "berth zone";
//   - port forwards are rules in the nftables table `inet berth`, each with a comment naming its machine
//     (and, on the SNAT rule, the host-side address we added for it).
// A machine is running while its supervisor holds /run/berth/locks/machine-NAME (see lock.cpp).
//
// Port forwards need to know where the guest is before the guest has said anything, so a machine with
// --port gets a fixed IPv4 /30 from 169.254.0.0/16 (link-local: never routed anywhere, so it cannot clash
// with a real network): .1 on the host side (ve-NAME, or the bridge of --network-bridge/--network-zone),
// .2 on host0, which we bring up. The guest may add whatever it likes next to it. DNATed connections are
// SNATed to .1, so the guest answers them over the link without needing a route of its own. Forwarding
// from other hosts needs net.ipv4.ip_forward: if it is off we turn it on while the table exists, with a
// forward chain that drops everything but our forwarded connections (and br_netfilter's bridged frames),
// and turn it off again with the table. Limits: IPv4 only; 127.0.0.1 is forwarded only over links we own
// (ve-NAME, vz-ZONE get route_localnet=1), not over the administrator's bridge of --network-bridge; a
// guest network manager that flushes foreign addresses (systemd-networkd without KeepConfiguration=)
// removes .2 from host0 and with it the forwards.
//
// Moved interfaces (--network-interface) are given back by us at exit: we hold the machine's network
// namespace open until then, so they outlive its last process. If the supervisor itself is killed, the
// kernel returns physical devices to the host when the namespace dies and destroys virtual ones (veth,
// dummy, ...), as with systemd-nspawn.
//
// Removing a link blocks the caller for ~20 ms in rcu_barrier() after the link is already gone from the
// host; a detached helper process makes that call and we wait only until the kernel announces it gone
// (remove_link), which keeps teardown at about a millisecond.
#include "net.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <functional>
#include <set>
#include <sstream>

#include "fd.hpp"
#include "fileio.hpp"
#include "log.hpp"

namespace berth::nspawn {

namespace {

constexpr const char* kLockDir = "/run/berth/locks";
constexpr const char* kMachineAlias = "berth machine=";
constexpr const char* kZoneAlias = "berth zone";
constexpr const char* kTable = "inet berth";
constexpr const char* kGuestLink = "host0";
constexpr size_t kIfNameMax = IFNAMSIZ - 1;
constexpr int kRemoveTimeoutMs = 2000;

// ---------------------------------------------------------------------------------------------------
// Names, hashes, small parsers

uint64_t hash64(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, then a splitmix finalizer to spread the bits
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

bool ifname_valid(std::string_view n) {
    if (n.empty() || n.size() > kIfNameMax || n == "." || n == "..") return false;
    return std::all_of(n.begin(), n.end(), [](char c) { return c > ' ' && c < 127 && c != '/' && c != ':'; });
}

// The host side of a veth pair: PREFIX + machine name, as systemd-nspawn names it: a name longer than
// IFNAMSIZ-1 keeps its first 11 characters and ends in 4 characters of a 24-bit hash of the whole name.
// After a collision, `attempt` salts the hash.
std::string host_link_name(const char* prefix, const std::string& machine, unsigned attempt) {
    std::string full = prefix + machine;
    if (full.size() <= kIfNameMax && attempt == 0) return full;
    static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
    uint64_t h = hash64(attempt ? fmt::format("{}#{}", full, attempt) : full);
    std::string name = full.substr(0, kIfNameMax - 4);
    for (int i = 0; i < 4; i++) name += kDigits[(h >> (6 * i)) & 63];
    return name;
}

// Stable MAC addresses (DHCP leases survive restarts), distinct per host through its machine ID.
nl_addr* link_mac(const std::string& machine, std::string_view side) {
    static const std::string host_id = [] {
        auto id = read_file("/etc/machine-id");
        return id.ok() ? *id : std::string();
    }();
    uint64_t h = hash64(fmt::format("{}|{}|{}", host_id, machine, side));
    uint8_t mac[6];
    for (int i = 0; i < 6; i++) mac[i] = static_cast<uint8_t>(h >> (8 * i));
    mac[0] = static_cast<uint8_t>((mac[0] & 0xfe) | 0x02);  // unicast, locally administered
    return nl_addr_build(AF_LLC, mac, sizeof mac);
}

std::string ip4(uint32_t a) {
    return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

// "key=value" out of a space-separated comment or alias; "" when absent.
std::string field(const std::string& text, std::string_view key) {
    std::string k = std::string(key) + "=";
    size_t at = 0;
    while ((at = text.find(k, at)) != std::string::npos) {
        if (at == 0 || text[at - 1] == ' ') {
            size_t end = text.find(' ', at);
            return text.substr(at + k.size(), end == std::string::npos ? std::string::npos : end - at - k.size());
        }
        at += k.size();
    }
    return "";
}

std::string alias_machine(const std::string& alias) {
    return alias.rfind(kMachineAlias, 0) == 0 ? field(alias, "machine") : "";
}

// Whether a supervisor holds the machine's lock. Read from /proc/locks rather than by taking the lock,
// which would make a start of that machine fail with "already running" in the meantime.
bool machine_running(const std::string& machine) {
    struct stat st {};
    if (::stat(fmt::format("{}/machine-{}", kLockDir, machine).c_str(), &st) < 0) return false;
    auto locks = read_file("/proc/locks");
    if (!locks.ok()) return true;  // when in doubt, leave it alone
    std::string id = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev),
                                 static_cast<unsigned long>(st.st_ino));
    std::istringstream in(*locks);
    for (std::string line; std::getline(in, line);) {
        if (line.find("FLOCK") == std::string::npos || line.find("->") != std::string::npos) continue;
        std::istringstream words(line);
        for (std::string w; words >> w;)
            if (w == id) return true;
    }
    return false;
}

// Held while shared objects change (zone bridges, link-local subnets, the nft table and ip_forward):
// a flock on the lock directory, which exists whenever a machine runs and nobody else locks.
Result<UniqueFd> lock_network() {
    ::mkdir("/run/berth", 0755);
    ::mkdir(kLockDir, 0700);
    UniqueFd fd(::open(kLockDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return errno_error(fmt::format("Failed to open {}", kLockDir));
    while (::flock(fd.get(), LOCK_EX) < 0)
        if (errno != EINTR) return errno_error(fmt::format("Failed to lock {}", kLockDir));
    return fd;
}

std::string trim_nl(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// ---------------------------------------------------------------------------------------------------
// Netlink: one libnl socket; every request waits for the kernel's answer and keeps its errno.

class Netlink {
public:
    Netlink() = default;
    Netlink(Netlink&& o) noexcept : sk_(std::exchange(o.sk_, nullptr)) {}
    Netlink& operator=(Netlink&& o) noexcept {
        std::swap(sk_, o.sk_);
        return *this;
    }
    ~Netlink() {
        if (sk_) nl_socket_free(sk_);
    }

    // A socket in our network namespace, or in `netns` (an nsfs descriptor) when given.
    static Result<Netlink> open(int protocol, int netns = -1);
    // Sends `msg` (and frees it); `each` sees every message of the answer. The error carries the
    // kernel's errno and no text: callers say what failed.
    Status talk(nl_msg* msg, const std::function<void(nlmsghdr*)>& each = nullptr) const;
private:
    nl_sock* sk_ = nullptr;
};

Result<Netlink> Netlink::open(int protocol, int netns) {
    UniqueFd home;
    if (netns >= 0) {
        home.reset(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
        if (!home) return errno_error("Failed to open our network namespace");
        if (::setns(netns, CLONE_NEWNET) < 0) return errno_error("Failed to enter the machine's network namespace");
    }
    Netlink nl;
    nl.sk_ = nl_socket_alloc();
    int r = nl.sk_ ? nl_connect(nl.sk_, protocol) : -NLE_NOMEM;
    if (home && ::setns(home.get(), CLONE_NEWNET) < 0) {
        // Going on would change the machine's network instead of the host's.
        spdlog::critical("Failed to return to the host's network namespace: {}", std::strerror(errno));
        std::abort();
    }
    if (r < 0) return plain_error(fmt::format("Failed to open a netlink socket: {}", nl_geterror(r)), EIO);
    return nl;
}

namespace talk_cb {
struct State {
    const std::function<void(nlmsghdr*)>* each;
    int error = 0;
    bool done = false;
};
int valid(nl_msg* m, void* arg) {
    auto* s = static_cast<State*>(arg);
    if (*s->each) (*s->each)(nlmsg_hdr(m));
    return NL_OK;
}
int finish(nl_msg*, void* arg) {
    static_cast<State*>(arg)->done = true;
    return NL_STOP;
}
int error(sockaddr_nl*, nlmsgerr* e, void* arg) {
    auto* s = static_cast<State*>(arg);
    s->error = -e->error;
    s->done = true;
    return NL_STOP;
}
}  // namespace talk_cb

Status Netlink::talk(nl_msg* msg, const std::function<void(nlmsghdr*)>& each) const {
    int r = nl_send_auto(sk_, msg);
    nlmsg_free(msg);
    if (r < 0) return Error{EIO, ""};
    talk_cb::State st{&each};
    nl_cb* cb = nl_cb_clone(nl_socket_get_cb(sk_));
    if (!cb) return Error{ENOMEM, ""};
    nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, talk_cb::valid, &st);
    nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, talk_cb::finish, &st);
    nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, talk_cb::finish, &st);
    nl_cb_err(cb, NL_CB_CUSTOM, talk_cb::error, &st);
    while (!st.done) {
        r = nl_recvmsgs(sk_, cb);
        if (r < 0 && !st.done) {
            st.error = EIO;
            break;
        }
    }
    nl_cb_put(cb);
    if (st.error) return Error{st.error, ""};
    return {};
}

Error failed(const Error& e, const std::string& what) { return sys_error(e.code, what); }

nl_msg* link_request(int type, int flags, int ifindex, unsigned up = 0) {
    nl_msg* m = nlmsg_alloc_simple(type, NLM_F_REQUEST | flags);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    ifi.ifi_flags = up;
    ifi.ifi_change = up;
    nlmsg_append(m, &ifi, sizeof ifi, NLMSG_ALIGNTO);
    return m;
}

struct Link {
    int index = 0;
    int master = 0;
    std::string name, alias, kind;
};

std::string attr_string(nlattr* a) {
    return std::string(static_cast<const char*>(nla_data(a)), strnlen(static_cast<const char*>(nla_data(a)), nla_len(a)));
}

Link parse_link(nlmsghdr* h) {
    Link l;
    if (h->nlmsg_type != RTM_NEWLINK) return l;
    l.index = static_cast<ifinfomsg*>(nlmsg_data(h))->ifi_index;
    nlattr* tb[IFLA_MAX + 1];
    if (nlmsg_parse(h, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0) return l;
    if (tb[IFLA_IFNAME]) l.name = attr_string(tb[IFLA_IFNAME]);
    if (tb[IFLA_IFALIAS]) l.alias = attr_string(tb[IFLA_IFALIAS]);
    if (tb[IFLA_MASTER]) l.master = static_cast<int>(nla_get_u32(tb[IFLA_MASTER]));
    nlattr* info[IFLA_INFO_MAX + 1];
    if (tb[IFLA_LINKINFO] && nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) == 0 &&
        info[IFLA_INFO_KIND])
        l.kind = attr_string(info[IFLA_INFO_KIND]);
    return l;
}

// One link by name (ENODEV when there is none).
Result<Link> get_link(const Netlink& nl, const std::string& name) {
    nl_msg* m = link_request(RTM_GETLINK, 0, 0);
    nla_put_u32(m, IFLA_EXT_MASK, 0);
    nla_put_string(m, IFLA_IFNAME, name.c_str());
    Link link;
    BERTH_TRY(nl.talk(m, [&](nlmsghdr* h) { link = parse_link(h); }));
    if (!link.index) return Error{ENODEV, ""};
    return link;
}

Result<std::vector<Link>> dump_links(const Netlink& nl) {
    nl_msg* m = link_request(RTM_GETLINK, NLM_F_DUMP, 0);
    nla_put_u32(m, IFLA_EXT_MASK, 0);
    std::vector<Link> links;
    BERTH_TRY(nl.talk(m, [&](nlmsghdr* h) {
        if (auto l = parse_link(h); l.index) links.push_back(std::move(l));
    }));
    return links;
}

Status set_alias(const Netlink& nl, int ifindex, const std::string& alias) {
    nl_msg* m = link_request(RTM_SETLINK, NLM_F_ACK, ifindex);
    nla_put_string(m, IFLA_IFALIAS, alias.c_str());
    return nl.talk(m);
}

Status set_up(const Netlink& nl, int ifindex) { return nl.talk(link_request(RTM_SETLINK, NLM_F_ACK, ifindex, IFF_UP)); }

Status change_address(const Netlink& nl, int type, int ifindex, uint32_t addr, int prefix) {
    nl_msg* m = nlmsg_alloc_simple(type, NLM_F_REQUEST | NLM_F_ACK | (type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0));
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_INET;
    ifa.ifa_prefixlen = static_cast<unsigned char>(prefix);
    ifa.ifa_scope = RT_SCOPE_LINK;
    ifa.ifa_index = static_cast<unsigned>(ifindex);
    nlmsg_append(m, &ifa, sizeof ifa, NLMSG_ALIGNTO);
    uint32_t be = htonl(addr);
    nla_put(m, IFA_LOCAL, sizeof be, &be);
    nla_put(m, IFA_ADDRESS, sizeof be, &be);
    return nl.talk(m);
}

// Every IPv4 address on the host, for picking a subnet nobody uses.
Result<std::vector<uint32_t>> host_ipv4_addresses(const Netlink& nl) {
    nl_msg* m = nlmsg_alloc_simple(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_INET;
    nlmsg_append(m, &ifa, sizeof ifa, NLMSG_ALIGNTO);
    std::vector<uint32_t> out;
    BERTH_TRY(nl.talk(m, [&](nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWADDR) return;
        nlattr* tb[IFA_MAX + 1];
        if (nlmsg_parse(h, sizeof(ifaddrmsg), tb, IFA_MAX, nullptr) < 0) return;
        nlattr* a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
        if (a && nla_len(a) == 4) out.push_back(ntohl(nla_get_u32(a)));
    }));
    return out;
}

// RTM_DELLINK keeps the caller blocked for ~20 ms in rcu_barrier() after the link has already vanished
// from every list. So the call is made by a detached helper process (double fork: nobody waits for it,
// and it holds none of our descriptors or locks) while we wait only for the kernel's announcement.
void delete_link_detached(const Netlink& nl, int ifindex) {
    pid_t child = ::fork();
    if (child == 0) {
        if (::fork() == 0) {
            ::setsid();
            ::close_range(0, ~0U, 0);
            auto own = Netlink::open(NETLINK_ROUTE);
            if (own.ok()) (void)own->talk(link_request(RTM_DELLINK, NLM_F_ACK, ifindex));
            ::_exit(0);
        }
        ::_exit(0);
    }
    if (child < 0) {
        (void)nl.talk(link_request(RTM_DELLINK, NLM_F_ACK, ifindex));  // no process to spare: block here
        return;
    }
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
}

// Removes the link with `ifindex` and returns once it is gone from the host (false: still there after
// `timeout_ms`).
bool remove_link(const Netlink& nl, int ifindex, int timeout_ms) {
    // Subscribed before asking, so the removal cannot slip between the two.
    nl_sock* ev = nl_socket_alloc();
    if (!ev) return false;
    nl_socket_disable_seq_check(ev);
    bool gone = false;
    if (nl_connect(ev, NETLINK_ROUTE) == 0 && nl_socket_add_membership(ev, RTNLGRP_LINK) == 0 &&
        nl_socket_set_nonblocking(ev) == 0) {
        auto still_there = [&] {
            nl_msg* m = link_request(RTM_GETLINK, 0, ifindex);
            nla_put_u32(m, IFLA_EXT_MASK, 0);
            auto s = nl.talk(m);
            return s.ok() || s.error().code != ENODEV;
        };
        gone = !still_there();
        if (!gone) delete_link_detached(nl, ifindex);
        auto on_event = [](nl_msg* msg, void* arg) -> int {
            nlmsghdr* h = nlmsg_hdr(msg);
            auto* want = static_cast<std::pair<int, bool>*>(arg);
            if (h->nlmsg_type == RTM_DELLINK && static_cast<ifinfomsg*>(nlmsg_data(h))->ifi_index == want->first)
                want->second = true;
            return NL_OK;
        };
        std::pair<int, bool> want{ifindex, false};
        nl_socket_modify_cb(ev, NL_CB_VALID, NL_CB_CUSTOM, on_event, &want);
        timespec start{}, now{};
        clock_gettime(CLOCK_MONOTONIC, &start);
        while (!gone) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            long left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
            if (left <= 0) break;
            pollfd p{nl_socket_get_fd(ev), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
            // An overrun (busy host) loses events: then ask instead of trusting the stream.
            if (nl_recvmsgs_default(ev) == -NLE_NOMEM) want.second = !still_there();
            gone = want.second;
        }
    }
    nl_socket_free(ev);
    return gone;
}

// ---------------------------------------------------------------------------------------------------
// Links

// A veth pair: the host side named after the machine (up, on `master` when given), host0 created
// directly in the machine's network namespace.
Result<Link> create_veth(const Netlink& nl, const char* prefix, const std::string& machine, pid_t child, int master) {
    std::string name;
    for (unsigned attempt = 0, tries = 0; attempt < 8 && tries < 16; tries++) {
        name = host_link_name(prefix, machine, attempt);
        rtnl_link* link = rtnl_link_veth_alloc();
        if (!link) return plain_error("Out of memory", ENOMEM);
        rtnl_link* peer = rtnl_link_veth_get_peer(link);
        rtnl_link_set_name(link, name.c_str());
        nl_addr* mac = link_mac(machine, "host"), *peer_mac = link_mac(machine, "guest");
        rtnl_link_set_addr(link, mac);
        rtnl_link_set_flags(link, IFF_UP);
        if (master) rtnl_link_set_master(link, master);
        rtnl_link_set_name(peer, kGuestLink);
        rtnl_link_set_addr(peer, peer_mac);
        rtnl_link_set_ns_pid(peer, child);
        nl_msg* m = nullptr;
        // NLM_F_ECHO: the kernel answers with the new link (its index), saving a lookup.
        int r = rtnl_link_build_add_request(link, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK | NLM_F_ECHO, &m);
        nl_addr_put(mac);
        nl_addr_put(peer_mac);
        rtnl_link_put(peer);
        rtnl_link_veth_release(link);
        if (r < 0) return plain_error(fmt::format("Failed to build a netlink request: {}", nl_geterror(r)), EIO);
        Link made;
        auto s = nl.talk(m, [&](nlmsghdr* h) {
            if (auto l = parse_link(h); l.name == name) made = l;
        });
        if (s.ok()) {
            if (!made.index) {
                BERTH_ASSIGN(made, get_link(nl, name));
            }
            if (auto a = set_alias(nl, made.index, kMachineAlias + machine); !a.ok()) {
                (void)remove_link(nl, made.index, kRemoveTimeoutMs);
                return failed(a.error(), fmt::format("Failed to label link {}", name));
            }
            return made;
        }
        if (s.error().code != EEXIST)
            return failed(s.error(), fmt::format("Failed to create veth link {} for machine \"{}\"", name, machine));
        // Taken: by this machine in an earlier life (we hold its lock now), by a dead machine, or by
        // another running machine or something else entirely (then the next name).
        auto other = get_link(nl, name);
        if (!other.ok()) continue;  // vanished meanwhile: try the same name again
        std::string owner = alias_machine(other->alias);
        if (!owner.empty() && (owner == machine || !machine_running(owner))) {
            if (!remove_link(nl, other->index, kRemoveTimeoutMs)) attempt++;
            continue;
        }
        attempt++;
    }
    return plain_error(fmt::format("Failed to create a veth link for machine \"{}\": {} and the names after it "
                                   "are taken",
                                   machine, host_link_name(prefix, machine, 0)),
                       EEXIST);
}

// The zone's bridge, created (up) unless it exists.
Result<Link> ensure_zone(const Netlink& nl, const std::string& zone) {
    std::string name = "vz-" + zone;
    auto existing = get_link(nl, name);
    if (existing.ok()) {
        if (existing->kind != "bridge")
            return plain_error(fmt::format("Network zone \"{}\": {} exists and is not a bridge", zone, name));
        return existing;
    }
    rtnl_link* link = rtnl_link_alloc();
    rtnl_link_set_name(link, name.c_str());
    rtnl_link_set_type(link, "bridge");
    rtnl_link_set_flags(link, IFF_UP);
    nl_msg* m = nullptr;
    int r = rtnl_link_build_add_request(link, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, &m);
    rtnl_link_put(link);
    if (r < 0) return plain_error(fmt::format("Failed to build a netlink request: {}", nl_geterror(r)), EIO);
    if (auto s = nl.talk(m); !s.ok()) return failed(s.error(), fmt::format("Failed to create bridge {}", name));
    BERTH_ASSIGN(Link made, get_link(nl, name));
    if (auto s = set_alias(nl, made.index, kZoneAlias); !s.ok()) {
        (void)remove_link(nl, made.index, kRemoveTimeoutMs);
        return failed(s.error(), fmt::format("Failed to label bridge {}", name));
    }
    return made;
}

// Removes zone bridges we created that no link is a port of any more (`only` limits it to one).
void remove_empty_zones(const Netlink& nl, const std::string& only = "") {
    auto links = dump_links(nl);
    if (!links.ok()) return;
    for (auto& l : *links) {
        if (l.kind != "bridge" || l.alias != kZoneAlias || (!only.empty() && l.name != only)) continue;
        bool used = std::any_of(links->begin(), links->end(), [&](const Link& p) { return p.master == l.index; });
        if (used) continue;
        if (!remove_link(nl, l.index, kRemoveTimeoutMs)) spdlog::warn("Failed to remove bridge {}", l.name);
    }
}

// The machine's network namespace while host interfaces live in it: held open, so that they can be
// given back after its last process is gone (the kernel would destroy virtual ones with it, and return
// physical ones only under whatever name is free).
struct MovedInterfaces {
    UniqueFd netns;
    std::vector<std::pair<int, std::string>> links;  // index inside the machine, name on the host
};
MovedInterfaces g_moved;

Status move_interface(const Netlink& nl, const std::string& name, const std::string& machine, pid_t child) {
    auto link = get_link(nl, name);
    if (!link.ok())
        return failed(link.error(), fmt::format("Failed to find network interface {} (--network-interface)", name));
    if (!g_moved.netns) {
        g_moved.netns.reset(::open(fmt::format("/proc/{}/ns/net", child).c_str(), O_RDONLY | O_CLOEXEC));
        if (!g_moved.netns) return errno_error("Failed to open the machine's network namespace");
    }
    nl_msg* m = link_request(RTM_SETLINK, NLM_F_ACK, link->index);
    nla_put_u32(m, IFLA_NET_NS_PID, static_cast<uint32_t>(child));
    if (auto s = nl.talk(m); !s.ok())
        return failed(s.error(), fmt::format("Failed to move network interface {} into machine \"{}\"", name, machine));
    BERTH_ASSIGN(Netlink inside, Netlink::open(NETLINK_ROUTE, g_moved.netns.get()));
    auto moved = get_link(inside, name);
    g_moved.links.emplace_back(moved.ok() ? moved->index : link->index, name);
    return {};
}

void give_back_interfaces() {
    if (!g_moved.netns) return;
    auto inside = Netlink::open(NETLINK_ROUTE, g_moved.netns.get());
    UniqueFd home(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
    for (auto& [index, name] : g_moved.links) {
        Status s = Error{EIO, ""};
        if (inside.ok() && home) {
            nl_msg* m = link_request(RTM_SETLINK, NLM_F_ACK, index);
            nla_put_u32(m, IFLA_NET_NS_FD, static_cast<uint32_t>(home.get()));
            nla_put_string(m, IFLA_IFNAME, name.c_str());  // its name again, whatever the guest called it
            s = inside->talk(m);
        }
        if (!s.ok())
            spdlog::warn("Failed to give network interface {} back to the host: {}", name, std::strerror(s.error().code));
    }
    g_moved = MovedInterfaces{};
}

// ---------------------------------------------------------------------------------------------------
// nftables, through libnftables loaded on first use (starts without --port never map it)

struct NftApi {
    decltype(&nft_ctx_new) ctx_new;
    decltype(&nft_ctx_free) ctx_free;
    decltype(&nft_ctx_output_set_flags) set_flags;
    decltype(&nft_ctx_buffer_output) buffer_output;
    decltype(&nft_ctx_buffer_error) buffer_error;
    decltype(&nft_ctx_get_output_buffer) output;
    decltype(&nft_ctx_get_error_buffer) error;
    decltype(&nft_run_cmd_from_buffer) run;
};

Result<const NftApi*> nft_api() {
    static NftApi api{};
    static std::string failure;
    static bool loaded = false;
    if (loaded) return &api;
    if (!failure.empty()) return plain_error(failure, ENOPKG);
    void* lib = ::dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    auto sym = [&](auto& fn, const char* name) {
        if (lib) fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
        return fn != nullptr;
    };
    if (!lib || !sym(api.ctx_new, "nft_ctx_new") || !sym(api.ctx_free, "nft_ctx_free") ||
        !sym(api.set_flags, "nft_ctx_output_set_flags") || !sym(api.buffer_output, "nft_ctx_buffer_output") ||
        !sym(api.buffer_error, "nft_ctx_buffer_error") || !sym(api.output, "nft_ctx_get_output_buffer") ||
        !sym(api.error, "nft_ctx_get_error_buffer") || !sym(api.run, "nft_run_cmd_from_buffer")) {
        failure = fmt::format("Port forwarding needs libnftables (libnftables.so.1): {}", ::dlerror());
        return plain_error(failure, ENOPKG);
    }
    loaded = true;
    return &api;
}

Result<std::string> nft(const std::string& commands) {
    BERTH_ASSIGN(const NftApi* api, nft_api());
    nft_ctx* ctx = api->ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) return plain_error("Failed to set up libnftables", ENOMEM);
    api->set_flags(ctx, NFT_CTX_OUTPUT_HANDLE);
    api->buffer_output(ctx);
    api->buffer_error(ctx);
    int r = api->run(ctx, commands.c_str());
    std::string out = api->output(ctx), err = api->error(ctx);
    api->ctx_free(ctx);
    if (r != 0) {
        err = trim_nl(err.substr(0, err.find('\n')));
        return plain_error(fmt::format("nftables refused table {}: {}", kTable, err.empty() ? "unknown error" : err), EIO);
    }
    return out;
}

// Cheap test for our table straight over nfnetlink, so that a start does not load libnftables just to
// learn that there is nothing to collect.
bool nft_table_exists() {
    auto nl = Netlink::open(NETLINK_NETFILTER);
    if (!nl.ok()) return false;
    nl_msg* m = nlmsg_alloc_simple((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_REQUEST | NLM_F_ACK);
    nfgenmsg g{};
    g.nfgen_family = NFPROTO_INET;
    g.version = NFNETLINK_V0;
    nlmsg_append(m, &g, sizeof g, NLMSG_ALIGNTO);
    nla_put_string(m, NFTA_TABLE_NAME, "berth");
    return nl->talk(m).ok();
}

struct NftRule {
    std::string chain;
    unsigned long handle = 0;
    std::string comment;
};

// The rules of our table from `nft -a list table` text (the table missing: none).
std::vector<NftRule> list_rules() {
    std::vector<NftRule> rules;
    auto text = nft(fmt::format("list table {}", kTable));
    if (!text.ok()) return rules;
    std::istringstream in(*text);
    std::string chain;
    for (std::string line; std::getline(in, line);) {
        size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos) continue;
        std::string_view l(line);
        l.remove_prefix(first);
        if (l.rfind("chain ", 0) == 0) {
            chain = std::string(l.substr(6, l.find(' ', 6) - 6));
            continue;
        }
        size_t h = l.rfind("# handle ");
        if (l.rfind("table ", 0) == 0 || h == std::string_view::npos || chain.empty()) continue;
        NftRule r;
        r.chain = chain;
        r.handle = std::stoul(std::string(l.substr(h + 9)));
        if (size_t c = l.find("comment \""); c != std::string_view::npos && c < h) {
            size_t end = l.find('"', c + 9);
            r.comment = std::string(l.substr(c + 9, end - c - 9));
        }
        rules.push_back(std::move(r));
    }
    return rules;
}

std::string rule_machine(const NftRule& r) { return r.comment.rfind("berth machine=", 0) == 0 ? field(r.comment, "machine") : ""; }

// Global IPv4 forwarding, switched on for port forwards while the table exists (see the top).
std::string forwarding_keep_list() {
    std::string keep;
    DIR* d = ::opendir("/proc/sys/net/ipv4/conf");
    if (!d) return keep;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == ".." || n == "all" || n == "default" || n == "lo") continue;
        auto v = read_file(fmt::format("/proc/sys/net/ipv4/conf/{}/forwarding", n));
        if (v.ok() && trim_nl(*v) == "1") keep += (keep.empty() ? "" : ",") + n;
    }
    ::closedir(d);
    return keep;
}

void restore_forwarding(const std::string& drop_comment) {
    if (auto s = write_file("/proc/sys/net/ipv4/ip_forward", "0"); !s.ok()) {
        spdlog::warn("Failed to turn IPv4 forwarding off again: {}", s.error().message);
        return;
    }
    std::string keep = field(drop_comment, "keep");
    for (size_t i = 0; !keep.empty() && i != std::string::npos;) {
        size_t j = keep.find(',', i);
        std::string n = keep.substr(i, j == std::string::npos ? j : j - i);
        (void)write_file(fmt::format("/proc/sys/net/ipv4/conf/{}/forwarding", n), "1");
        i = j == std::string::npos ? j : j + 1;
    }
}

// Removes the port forwards of the machines `dead` says yes to (and the host-side addresses noted on
// them); the table goes with its last forward. The caller holds the network lock.
void remove_forwards(const Netlink* nl, const std::function<bool(const std::string&)>& dead) {
    auto rules = list_rules();
    std::string batch, drop_comment;
    bool others = false, forward_chain = false;
    for (auto& r : rules) {
        if (r.chain == "forward") {
            forward_chain = true;
            if (r.comment.rfind("berth ip_forward=", 0) == 0) drop_comment = r.comment;
            continue;
        }
        std::string m = rule_machine(r);
        if (m.empty() || !dead(m)) {
            others = others || !m.empty();
            continue;
        }
        batch += fmt::format("delete rule {} {} handle {}\n", kTable, r.chain, r.handle);
        std::string dev = field(r.comment, "dev"), addr = field(r.comment, "addr");
        if (nl && !dev.empty() && !addr.empty()) {
            in_addr a{};
            auto link = get_link(*nl, dev);
            if (link.ok() && ::inet_pton(AF_INET, addr.c_str(), &a) == 1)
                (void)change_address(*nl, RTM_DELADDR, link->index, ntohl(a.s_addr), 30);
        }
    }
    if (!others && (!rules.empty() || nft_table_exists())) batch = fmt::format("delete table {}\n", kTable);
    if (batch.empty()) return;
    if (auto r = nft(batch); !r.ok()) {
        spdlog::warn("Failed to remove port forwards: {}", r.error().message);
        return;
    }
    if (!others && forward_chain) restore_forwarding(drop_comment);
}

struct Subnet {
    uint32_t host = 0, guest = 0;
};

// A /30 of 169.254.1.0-169.254.254.255 that no host address is in, starting from a hash of the name.
Result<Subnet> pick_subnet(const Netlink& nl, const std::string& machine) {
    BERTH_ASSIGN(auto used, host_ipv4_addresses(nl));
    constexpr uint32_t kSlots = 254 * 64;
    uint32_t start = static_cast<uint32_t>(hash64(machine) % kSlots);
    for (uint32_t i = 0; i < kSlots; i++) {
        uint32_t slot = (start + i) % kSlots, third = 1 + slot / 64;
        if (third == 169) continue;  // 169.254.169.254 is where clouds keep their metadata service
        uint32_t base = (169u << 24) | (254u << 16) | (third << 8) | ((slot % 64) * 4);
        if (std::none_of(used.begin(), used.end(), [&](uint32_t a) { return (a & ~3u) == base; }))
            return Subnet{base + 1, base + 2};
    }
    return plain_error("No free link-local subnet left for port forwarding", EADDRNOTAVAIL);
}

// Port forwards to the machine, reached over `dev` (ve-NAME or the bridge its link is on). `owned`: the
// device is ours (dies with the machine or the zone), so 127.0.0.1 may be routed to it.
Status forward_ports(const Netlink& nl, const NetworkPlan& net, const std::string& machine, pid_t child,
                     const Link& dev, bool owned) {
    BERTH_ASSIGN(UniqueFd lock, lock_network());
    // Ours from an earlier life (we hold the machine's lock, so they are stale).
    remove_forwards(&nl, [&](const std::string& m) { return m == machine; });
    auto rules = list_rules();
    for (auto& p : net.ports) {
        std::string key = fmt::format("port={}/{}", p.protocol == IPPROTO_UDP ? "udp" : "tcp", p.host_port);
        for (auto& r : rules)
            if (r.comment.find(key) != std::string::npos)
                return plain_error(fmt::format("Port {}:{} is already forwarded to machine \"{}\"",
                                               p.protocol == IPPROTO_UDP ? "udp" : "tcp", p.host_port,
                                               rule_machine(r)),
                                   EADDRINUSE);
    }
    BERTH_ASSIGN(Subnet sub, pick_subnet(nl, machine));
    std::string guest = ip4(sub.guest), host = ip4(sub.host);

    std::string batch = fmt::format(
        "add table {0}\n"
        "add chain {0} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n"
        "add chain {0} output {{ type nat hook output priority -100; policy accept; }}\n"
        "add chain {0} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n",
        kTable);
    for (auto& p : net.ports) {
        const char* proto = p.protocol == IPPROTO_UDP ? "udp" : "tcp";
        std::string match = fmt::format("fib daddr type local meta l4proto {} th dport {} dnat ip to {}:{} comment "
                                        "\"berth machine={} port={}/{}\"",
                                        proto, p.host_port, guest, p.guest_port, machine, proto, p.host_port);
        batch += fmt::format("add rule {} prerouting {}\nadd rule {} output {}\n", kTable, match, kTable, match);
    }
    batch += fmt::format("add rule {0} postrouting ip daddr {1} ct status dnat snat ip to {2} comment "
                         "\"berth machine={3} dev={4} addr={2}\"\n",
                         kTable, guest, host, machine, dev.name);
    auto fwd = read_file("/proc/sys/net/ipv4/ip_forward");
    bool flip = fwd.ok() && trim_nl(*fwd) == "0";
    std::string keep;
    if (flip) {
        keep = forwarding_keep_list();
        batch += fmt::format(
            "add chain {0} forward {{ type filter hook forward priority filter; policy accept; }}\n"
            "add rule {0} forward ct status dnat accept\n"
            "add rule {0} forward meta iifkind \"bridge\" meta oifkind \"bridge\" accept\n",
            kTable);
        if (!keep.empty()) {
            std::string set;
            for (size_t i = 0; i != std::string::npos;) {
                size_t j = keep.find(',', i);
                set += fmt::format("{}\"{}\"", set.empty() ? "" : ", ", keep.substr(i, j == std::string::npos ? j : j - i));
                i = j == std::string::npos ? j : j + 1;
            }
            batch += fmt::format("add rule {} forward iifname {{ {} }} accept\n", kTable, set);
        }
        batch += fmt::format("add rule {} forward meta nfproto ipv4 drop comment \"berth ip_forward=0{}{}\"\n", kTable,
                             keep.empty() ? "" : " keep=", keep);
    }
    if (auto r = nft(batch); !r.ok()) return r.error();
    if (flip) {
        if (auto s = write_file("/proc/sys/net/ipv4/ip_forward", "1"); !s.ok())
            spdlog::warn("Failed to turn IPv4 forwarding on; forwarded ports are reachable from this host only: {}",
                         s.error().message);
    }

    if (auto s = change_address(nl, RTM_NEWADDR, dev.index, sub.host, 30); !s.ok())
        return failed(s.error(), fmt::format("Failed to add address {}/30 to {}", host, dev.name));
    if (owned) (void)write_file(fmt::format("/proc/sys/net/ipv4/conf/{}/route_localnet", dev.name), "1");

    UniqueFd ns(::open(fmt::format("/proc/{}/ns/net", child).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) return errno_error("Failed to open the machine's network namespace");
    BERTH_ASSIGN(Netlink inside, Netlink::open(NETLINK_ROUTE, ns.get()));
    auto host0 = get_link(inside, kGuestLink);
    if (!host0.ok()) return failed(host0.error(), fmt::format("Failed to find {} in machine \"{}\"", kGuestLink, machine));
    if (auto s = change_address(inside, RTM_NEWADDR, host0->index, sub.guest, 30); !s.ok())
        return failed(s.error(), fmt::format("Failed to add address {}/30 to {} in machine \"{}\"", guest, kGuestLink, machine));
    if (auto s = set_up(inside, host0->index); !s.ok())
        return failed(s.error(), fmt::format("Failed to bring up {} in machine \"{}\"", kGuestLink, machine));
    return {};
}

// ---------------------------------------------------------------------------------------------------
// Option parsing

Result<PortForward> parse_port(const std::string& value) {
    auto bad = [&](std::string_view why) {
        return plain_error(fmt::format("Invalid --port value \"{}\": {} (expected [tcp|udp:]HOSTPORT[:GUESTPORT])", value, why));
    };
    std::vector<std::string> parts;
    for (size_t i = 0;;) {
        size_t j = value.find(':', i);
        parts.push_back(value.substr(i, j == std::string::npos ? j : j - i));
        if (j == std::string::npos) break;
        i = j + 1;
    }
    PortForward p;
    if (!parts.empty() && (parts[0] == "tcp" || parts[0] == "udp")) {
        p.protocol = parts[0] == "udp" ? IPPROTO_UDP : IPPROTO_TCP;
        parts.erase(parts.begin());
    }
    if (parts.empty() || parts.size() > 2) return bad("wrong number of fields");
    uint16_t ports[2] = {0, 0};
    for (size_t i = 0; i < parts.size(); i++) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(parts[i].data(), parts[i].data() + parts[i].size(), v);
        if (parts[i].empty() || ec != std::errc() || end != parts[i].data() + parts[i].size())
            return bad(fmt::format("\"{}\" is not a port number", parts[i]));
        if (v < 1 || v > 65535) return bad(fmt::format("port {} is out of range 1-65535", parts[i]));
        ports[i] = static_cast<uint16_t>(v);
    }
    p.host_port = ports[0];
    p.guest_port = parts.size() == 2 ? ports[1] : ports[0];
    return p;
}

}  // namespace

Result<NetworkPlan> parse_network(const Options& o, const std::string&) {
    NetworkPlan n;
    n.veth = o.network_veth.value_or(false);
    if (o.network_bridge) {
        if (!ifname_valid(*o.network_bridge))
            return plain_error(fmt::format("Invalid --network-bridge value \"{}\": not a network interface name",
                                           *o.network_bridge));
        n.bridge = *o.network_bridge;
    }
    if (o.network_zone) {
        const std::string& z = *o.network_zone;
        bool ok = !z.empty() && z.size() <= kIfNameMax - 3 &&
                  std::all_of(z.begin(), z.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; });
        if (!ok)
            return plain_error(fmt::format("Invalid --network-zone value \"{}\": 1-{} letters, digits, '-', '_' or '.'",
                                           z, kIfNameMax - 3));
        n.zone = z;
    }
    if (!n.bridge.empty() && !n.zone.empty())
        return plain_error("--network-bridge and --network-zone cannot be combined: a link joins one bridge");
    for (auto& i : o.network_interface.value_or(std::vector<std::string>{})) {
        if (!ifname_valid(i))
            return plain_error(fmt::format("Invalid --network-interface value \"{}\": not a network interface name", i));
        if (i == "lo") return plain_error("Invalid --network-interface value \"lo\": loopback cannot be moved");
        if (std::find(n.interfaces.begin(), n.interfaces.end(), i) != n.interfaces.end())
            return plain_error(fmt::format("--network-interface={} is given twice", i));
        n.interfaces.push_back(i);
    }
    for (auto& v : o.port.value_or(std::vector<std::string>{})) {
        BERTH_ASSIGN(PortForward p, parse_port(v));
        for (auto& q : n.ports)
            if (q.protocol == p.protocol && q.host_port == p.host_port)
                return plain_error(fmt::format("--port forwards {} port {} twice", p.protocol == IPPROTO_UDP ? "udp" : "tcp",
                                               p.host_port));
        n.ports.push_back(p);
    }
    n.private_network = o.private_network.value_or(false) || n.veth || !n.bridge.empty() || !n.zone.empty() ||
                        !n.interfaces.empty();

    // What must exist on the host, checked now so that a typo fails before anything is created.
    if (!n.bridge.empty() || !n.interfaces.empty()) {
        BERTH_ASSIGN(Netlink nl, Netlink::open(NETLINK_ROUTE));
        if (!n.bridge.empty()) {
            auto br = get_link(nl, n.bridge);
            if (!br.ok())
                return failed(br.error(), fmt::format("Invalid --network-bridge value \"{}\"", n.bridge));
            if (br->kind != "bridge")
                return plain_error(fmt::format("Invalid --network-bridge value \"{}\": not a bridge", n.bridge));
        }
        for (auto& i : n.interfaces)
            if (auto l = get_link(nl, i); !l.ok())
                return failed(l.error(), fmt::format("Invalid --network-interface value \"{}\"", i));
    }
    return n;
}

namespace {

Status configure(const NetworkPlan& net, const std::string& machine, pid_t child, NetworkState& st) {
    BERTH_ASSIGN(Netlink nl, Netlink::open(NETLINK_ROUTE));
    auto add_veth = [&](const char* prefix, int master) -> Status {
        BERTH_ASSIGN(Link host, create_veth(nl, prefix, machine, child, master));
        st.created_links.push_back(host.name);
        st.host_ifindices.push_back(host.index);
        return {};
    };
    // Where the host reaches the machine (for port forwards): the bridge its link is on, else its link.
    Link l3;
    bool ours = true;  // a device of our own, which may take 127.0.0.1 traffic (route_localnet)
    if (!net.bridge.empty()) {
        auto br = get_link(nl, net.bridge);
        if (!br.ok()) return failed(br.error(), fmt::format("Failed to find bridge {}", net.bridge));
        l3 = *br;
        ours = false;
        BERTH_TRY(add_veth("vb-", l3.index));
    } else if (!net.zone.empty()) {
        // Under the lock from creating the zone to joining it, so that no one removes it as empty between.
        BERTH_ASSIGN(UniqueFd lock, lock_network());
        BERTH_ASSIGN(l3, ensure_zone(nl, net.zone));
        st.zone_bridge = l3.name;
        BERTH_TRY(add_veth("vb-", l3.index));
    } else if (net.veth) {
        BERTH_TRY(add_veth("ve-", 0));
        l3.index = st.host_ifindices.front();
        l3.name = st.created_links.front();
    }
    for (auto& i : net.interfaces) {
        BERTH_TRY(move_interface(nl, i, machine, child));
        st.moved_interfaces.push_back(i);
    }
    if (!net.ports.empty()) {
        st.nft_table = true;  // from here on, cleanup looks for our rules
        BERTH_TRY(forward_ports(nl, net, machine, child, l3, ours));
    }
    return {};
}

}  // namespace

Result<NetworkState> configure_network(const NetworkPlan& net, const std::string& machine, pid_t child) {
    NetworkState st;
    if (!net.veth && net.bridge.empty() && net.zone.empty() && net.interfaces.empty()) return st;
    if (auto s = configure(net, machine, child, st); !s.ok()) {
        cleanup_network(st, machine);
        return s.error();
    }
    return st;
}

Status apply_network_in_child(const NetworkPlan& net) {
    if (!net.private_network) return {};
    BERTH_ASSIGN(Netlink nl, Netlink::open(NETLINK_ROUTE));
    constexpr int kLoopbackIndex = 1;  // in every network namespace
    if (auto s = set_up(nl, kLoopbackIndex); !s.ok()) return failed(s.error(), "Failed to bring up lo");
    return {};
}

void cleanup_network(const NetworkState& st, const std::string& machine) {
    if (st.created_links.empty() && st.moved_interfaces.empty() && st.zone_bridge.empty() && !st.nft_table) return;
    auto nl = Netlink::open(NETLINK_ROUTE);
    if (!nl.ok()) {
        spdlog::warn("Failed to remove the network of machine \"{}\": {}", machine, nl.error().message);
        return;
    }
    if (st.nft_table) {
        if (auto lock = lock_network(); lock.ok())
            remove_forwards(&*nl, [&](const std::string& m) { return m == machine; });
    }
    give_back_interfaces();
    // Often gone already: the kernel removes host0 and its peer with the machine's network namespace.
    for (size_t i = 0; i < st.host_ifindices.size(); i++)
        if (!remove_link(*nl, st.host_ifindices[i], kRemoveTimeoutMs))
            spdlog::warn("Failed to remove link {} of machine \"{}\"", st.created_links.at(i), machine);
    if (!st.zone_bridge.empty()) {
        if (auto lock = lock_network(); lock.ok()) remove_empty_zones(*nl, st.zone_bridge);
    }
}

void collect_stale_network() {
    auto nl = Netlink::open(NETLINK_ROUTE);
    if (!nl.ok()) return;
    auto links = dump_links(*nl);
    if (!links.ok()) return;
    std::set<int> removed;
    for (auto& l : *links) {
        std::string owner = alias_machine(l.alias);
        if (owner.empty() || machine_running(owner)) continue;
        if (!remove_link(*nl, l.index, kRemoveTimeoutMs)) spdlog::warn("Failed to remove stale link {}", l.name);
        removed.insert(l.index);
    }
    // A zone whose ports are all gone. Removed only under the lock (and after a fresh look): a starting
    // machine creates its zone a moment before its link joins it.
    bool empty_zone = std::any_of(links->begin(), links->end(), [&](const Link& z) {
        return z.kind == "bridge" && z.alias == kZoneAlias && std::all_of(links->begin(), links->end(), [&](const Link& p) {
                   return p.master != z.index || removed.count(p.index);
               });
    });
    if (empty_zone) {
        if (auto lock = lock_network(); lock.ok()) remove_empty_zones(*nl);
    }
    if (nft_table_exists()) {
        if (auto lock = lock_network(); lock.ok())
            remove_forwards(&*nl, [](const std::string& m) { return !machine_running(m); });
    }
}

}  // namespace berth::nspawn
