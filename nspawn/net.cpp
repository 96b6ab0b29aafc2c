// Networking over netlink (libnl-route-3; netlink.cpp) and nftables (net_ports.cpp). Nothing runs `ip`
// or `nft`.
//
// What a start creates is found again from the kernel alone, so a supervisor killed with SIGKILL leaves
// nothing that the next start cannot recognise:
//   - ve-/vb- links carry the alias "berth machine=NAME" (names may be shortened, the alias never is);
//   - zone bridges we created carry the alias "berth zone" and are created in the device group
//     kZoneGroup (the alias needs a second request: a killed supervisor may never have sent it);
//   - port forwards are rules in the nftables table `inet berth`, each with a comment naming its machine
//     (and, on the SNAT rule, the host-side address we added for it).
// A machine is running while its supervisor holds /run/berth/locks/machine-NAME (see lock.cpp).
//
// Moved interfaces (--network-interface) are given back by us at exit: we hold the machine's network
// namespace open until then, so they outlive its last process. If the supervisor itself is killed, the
// kernel returns physical devices to the host when the namespace dies and destroys virtual ones (veth,
// dummy, ...), as with systemd-nspawn.
#include "nspawn/net.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "common/fileio.hpp"
#include "common/log.hpp"
#include "nspawn/net_ports.hpp"
#include "nspawn/net_util.hpp"
#include "nspawn/netlink.hpp"

namespace berth::nspawn {

using namespace net;

namespace {

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

// A zone bridge we created: labelled, or (its supervisor killed between creating and labelling it)
// unlabelled in our device group.
bool our_zone(const Link& l) {
    return l.kind == "bridge" && l.name.rfind("vz-", 0) == 0 &&
           (l.alias == kZoneAlias || (l.alias.empty() && l.group == kZoneGroup));
}

std::string alias_machine(const std::string& alias) {
    return alias.rfind(kMachineAlias, 0) == 0 ? field(alias, "machine") : "";
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
                auto found = get_link(nl, name);
                if (!found.ok()) return failed(found.error(), fmt::format("Failed to find the new link {}", name));
                made = *found;
            }
            if (auto a = set_alias(nl, made.index, kMachineAlias + machine); !a.ok()) {
                (void)remove_link(made.index, kRemoveTimeoutMs);
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
            if (!remove_link(other->index, kRemoveTimeoutMs)) attempt++;
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
        if (our_zone(*existing) && existing->alias.empty()) (void)set_alias(nl, existing->index, kZoneAlias);
        return existing;
    }
    rtnl_link* link = rtnl_link_alloc();
    rtnl_link_set_name(link, name.c_str());
    rtnl_link_set_type(link, "bridge");
    rtnl_link_set_flags(link, IFF_UP);
    rtnl_link_set_group(link, kZoneGroup);
    nl_msg* m = nullptr;
    int r = rtnl_link_build_add_request(link, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, &m);
    rtnl_link_put(link);
    if (r < 0) return plain_error(fmt::format("Failed to build a netlink request: {}", nl_geterror(r)), EIO);
    if (auto s = nl.talk(m); !s.ok()) return failed(s.error(), fmt::format("Failed to create bridge {}", name));
    auto found = get_link(nl, name);
    if (!found.ok()) return failed(found.error(), fmt::format("Failed to find the new bridge {}", name));
    Link made = *found;
    if (auto s = set_alias(nl, made.index, kZoneAlias); !s.ok()) {
        (void)remove_link(made.index, kRemoveTimeoutMs);
        return failed(s.error(), fmt::format("Failed to label bridge {}", name));
    }
    return made;
}

// Removes zone bridges we created that no link is a port of any more (`only` limits it to one).
void remove_empty_zones(const Netlink& nl, const std::string& only = "") {
    auto links = dump_links(nl);
    if (!links.ok()) return;
    for (auto& l : *links) {
        if (!our_zone(l) || (!only.empty() && l.name != only)) continue;
        bool used = std::any_of(links->begin(), links->end(), [&](const Link& p) { return p.master == l.index; });
        if (used) continue;
        if (!remove_link(l.index, kRemoveTimeoutMs)) spdlog::warn("Failed to remove bridge {}", l.name);
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

// Links whose removal cleanup_network began and finish_network_cleanup waits for.
struct PendingRemoval {
    LinkRemoval removal;
    std::string link, machine;
};
std::vector<PendingRemoval> g_removals;

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
    // Recorded at once, so that it is given back whatever fails next; the index usually survives the move.
    g_moved.links.emplace_back(link->index, name);
    BERTH_ASSIGN(Netlink inside, Netlink::open(NETLINK_ROUTE, g_moved.netns.get()));
    if (auto moved = get_link(inside, name); moved.ok()) g_moved.links.back().first = moved->index;
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

}  // namespace

Status set_network_bridge(const std::string& bridge, NetworkPlan& n) {
    if (!ifname_valid(bridge))
        return plain_error(fmt::format("Invalid --network-bridge value \"{}\": not a network interface name", bridge));
    n.bridge = bridge;
    return {};
}

Status set_network_zone(const std::string& z, NetworkPlan& n) {
    bool ok = !z.empty() && z.size() <= kIfNameMax - 3 &&
              std::all_of(z.begin(), z.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; });
    if (!ok)
        return plain_error(fmt::format("Invalid --network-zone value \"{}\": 1-{} letters, digits, '-', '_' or '.'", z,
                                       kIfNameMax - 3));
    n.zone = z;
    return {};
}

Status add_network_interface(const std::string& i, NetworkPlan& n) {
    if (!ifname_valid(i))
        return plain_error(fmt::format("Invalid --network-interface value \"{}\": not a network interface name", i));
    if (i == "lo") return plain_error("Invalid --network-interface value \"lo\": loopback cannot be moved");
    if (std::find(n.interfaces.begin(), n.interfaces.end(), i) != n.interfaces.end())
        return plain_error(fmt::format("--network-interface={} is given twice", i));
    n.interfaces.push_back(i);
    return {};
}

Status add_port(const std::string& spec, NetworkPlan& n) {
    BERTH_ASSIGN(PortForward p, parse_port(spec));
    for (auto& q : n.ports)
        if (q.protocol == p.protocol && q.host_port == p.host_port)
            return plain_error(fmt::format("--port forwards {} port {} twice", p.protocol == IPPROTO_UDP ? "udp" : "tcp",
                                           p.host_port));
    n.ports.push_back(p);
    return {};
}

Status finish_network(NetworkPlan& n, bool private_network) {
    if (!n.bridge.empty() && !n.zone.empty())
        return plain_error("--network-bridge and --network-zone cannot be combined: a link joins one bridge");
    n.private_network = private_network || n.veth || !n.bridge.empty() || !n.zone.empty() || !n.interfaces.empty();
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
    return {};
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
    finish_network_cleanup();  // of the boot before a reboot: its link has the name ours is to have
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
    // Sometimes gone already: the kernel removes host0 and its peer with the machine's network namespace.
    for (size_t i = 0; i < st.host_ifindices.size(); i++)
        g_removals.push_back({LinkRemoval(st.host_ifindices[i]), st.created_links.at(i), machine});
    if (!st.zone_bridge.empty()) {
        finish_network_cleanup();  // the zone is empty only once its port is gone
        if (auto lock = lock_network(); lock.ok()) remove_empty_zones(*nl, st.zone_bridge);
    }
}

void finish_network_cleanup() {
    for (auto& r : g_removals)
        if (!r.removal.wait(kRemoveTimeoutMs))
            spdlog::warn("Failed to remove link {} of machine \"{}\"", r.link, r.machine);
    g_removals.clear();
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
        if (!remove_link(l.index, kRemoveTimeoutMs)) spdlog::warn("Failed to remove stale link {}", l.name);
        removed.insert(l.index);
    }
    // A zone whose ports are all gone. Removed only under the lock (and after a fresh look): a starting
    // machine creates its zone a moment before its link joins it.
    bool empty_zone = std::any_of(links->begin(), links->end(), [&](const Link& z) {
        return our_zone(z) && std::all_of(links->begin(), links->end(), [&](const Link& p) {
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
