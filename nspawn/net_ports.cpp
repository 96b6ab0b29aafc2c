// Port forwards as nftables rules in the table `inet berth` (through libnftables, loaded on first use:
// starts without --port never map it), each rule with a comment naming its machine (and, on the SNAT
// rule, the host-side address we added for it), so what a killed supervisor left is found again.
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
#include "nspawn/net_ports.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netlink/attr.h>
#include <nftables/libnftables.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "common/fileio.hpp"
#include "common/log.hpp"
#include "common/values.hpp"
#include "nspawn/net_util.hpp"

namespace berth::nspawn::net {

namespace {

constexpr const char* kLoopbackGuard = "berth loopback-guard";

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
        auto handle = parse_uint(l.substr(h + 9));
        if (!handle) continue;
        NftRule r;
        r.chain = chain;
        r.handle = *handle;
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

struct Subnet {
    uint32_t host = 0, guest = 0;
};

// A /30 of 169.254.1.0-169.254.254.255 that no host address is in, starting from a hash of the name.
Result<Subnet> pick_subnet(const Netlink& nl, const std::string& machine) {
    auto used = host_ipv4_addresses(nl);
    if (!used.ok()) return failed(used.error(), "Failed to list the host's IPv4 addresses");
    constexpr uint32_t kSlots = 254 * 64;
    uint32_t start = static_cast<uint32_t>(hash64(machine) % kSlots);
    for (uint32_t i = 0; i < kSlots; i++) {
        uint32_t slot = (start + i) % kSlots, third = 1 + slot / 64;
        if (third == 169) continue;  // 169.254.169.254 is where clouds keep their metadata service
        uint32_t base = (169u << 24) | (254u << 16) | (third << 8) | ((slot % 64) * 4);
        if (std::none_of(used->begin(), used->end(), [&](uint32_t a) { return (a & ~3u) == base; }))
            return Subnet{base + 1, base + 2};
    }
    return plain_error("No free link-local subnet left for port forwarding", EADDRNOTAVAIL);
}

}  // namespace

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
    bool drop_table = !others && (!rules.empty() || nft_table_exists());
    if (drop_table) batch = fmt::format("delete table {}\n", kTable);
    if (batch.empty()) return;
    // Forwarding goes back before its record (the forward chain) goes: a supervisor killed in between
    // leaves the record, and the next start restores again, never ip_forward=1 with nothing to tell it.
    if (drop_table && forward_chain) restore_forwarding(drop_comment);
    if (auto r = nft(batch); !r.ok()) spdlog::warn("Failed to remove port forwards: {}", r.error().message);
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
        std::string key = fmt::format("{}/{}", p.protocol == IPPROTO_UDP ? "udp" : "tcp", p.host_port);
        for (auto& r : rules)
            if (field(r.comment, "port") == key)  // whole field: tcp/8 is not tcp/80
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
        "add chain {0} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n"
        "add chain {0} input {{ type filter hook input priority filter; policy accept; }}\n",
        kTable);
    // route_localnet on our links (for 127.0.0.1 forwards) would also let a guest reach the host's loopback
    // services by sending to 127.0.0.1 over its link: from outside lo only the replies of our forwards
    // (DNATed connections) may reach 127.0.0.0/8. One guard for all machines, gone with the table.
    bool guarded = std::any_of(rules.begin(), rules.end(), [](const NftRule& r) { return r.comment == kLoopbackGuard; });
    if (!guarded)
        batch += fmt::format("add rule {0} input iifname != \"lo\" ip daddr 127.0.0.0/8 ct status dnat accept comment \"{1}\"\n"
                             "add rule {0} input iifname != \"lo\" ip daddr 127.0.0.0/8 drop comment \"{1}\"\n",
                             kTable, kLoopbackGuard);
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
        auto v = parse_uint(parts[i]);
        if (!v) return bad(fmt::format("\"{}\" is not a port number", parts[i]));
        if (*v < 1 || *v > 65535) return bad(fmt::format("port {} is out of range 1-65535", parts[i]));
        ports[i] = static_cast<uint16_t>(*v);
    }
    p.host_port = ports[0];
    p.guest_port = parts.size() == 2 ? ports[1] : ports[0];
    return p;
}

}  // namespace berth::nspawn::net
