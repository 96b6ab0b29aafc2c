// Removing a link blocks the caller for ~20 ms in rcu_barrier() after the link is already gone from the
// host; a helper process makes that call and we wait only until the kernel announces it gone
// (LinkRemoval), which keeps teardown under a millisecond.
#include "nspawn/netlink.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netlink/attr.h>
#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "common/fd.hpp"
#include "common/log.hpp"

namespace berth::nspawn::net {

namespace {

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

std::string attr_string(nlattr* a) {
    return std::string(static_cast<const char*>(nla_data(a)), strnlen(static_cast<const char*>(nla_data(a)), nla_len(a)));
}

}  // namespace

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

Status Netlink::talk(nl_msg* msg, const std::function<void(nlmsghdr*)>& each) const {
    int r = nl_send_auto(sk_, msg);
    nlmsg_free(msg);
    if (r < 0) return Error{EIO, ""};
    talk_cb::State st{&each};
    // nl_socket_get_cb() takes a reference: put back, or the socket's own callbacks outlive it.
    nl_cb* own = nl_socket_get_cb(sk_);
    nl_cb* cb = nl_cb_clone(own);
    nl_cb_put(own);
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

nl_msg* link_request(int type, int flags, int ifindex, unsigned up) {
    nl_msg* m = nlmsg_alloc_simple(type, NLM_F_REQUEST | flags);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = ifindex;
    ifi.ifi_flags = up;
    ifi.ifi_change = up;
    nlmsg_append(m, &ifi, sizeof ifi, NLMSG_ALIGNTO);
    return m;
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
    if (tb[IFLA_GROUP]) l.group = nla_get_u32(tb[IFLA_GROUP]);
    nlattr* info[IFLA_INFO_MAX + 1];
    if (tb[IFLA_LINKINFO] && nla_parse_nested(info, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) == 0 &&
        info[IFLA_INFO_KIND])
        l.kind = attr_string(info[IFLA_INFO_KIND]);
    return l;
}

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

namespace {

// Helpers still making their RTM_DELLINK: reaped when done (the last ones by whoever inherits them).
std::vector<pid_t> g_helpers;

void reap_helpers() {
    std::erase_if(g_helpers, [](pid_t p) { return ::waitpid(p, nullptr, WNOHANG) != 0; });
}

// RTM_DELLINK keeps its caller blocked for ~20 ms in rcu_barrier() after the link has vanished from
// every list, so a helper process makes the call. It holds none of our descriptors or locks; a single
// fork (a double fork would cost as much again): we reap it if it ends first, else whoever inherits it.
void delete_link_in_helper(int ifindex) {
    reap_helpers();
    pid_t child = ::fork();
    if (child == 0) {
        ::close_range(0, ~0U, 0);
        auto own = Netlink::open(NETLINK_ROUTE);
        if (own.ok()) (void)own->talk(link_request(RTM_DELLINK, NLM_F_ACK, ifindex));
        ::_exit(0);
    }
    if (child > 0) {
        g_helpers.push_back(child);
        return;
    }
    auto own = Netlink::open(NETLINK_ROUTE);  // no process to spare: block here
    if (own.ok()) (void)own->talk(link_request(RTM_DELLINK, NLM_F_ACK, ifindex));
}

}  // namespace

LinkRemoval::LinkRemoval(int ifindex) : ifindex_(ifindex) {
    // Subscribed before asking, so the removal cannot slip between the two.
    auto nl = Netlink::open(NETLINK_ROUTE);
    events_ = nl_socket_alloc();
    if (!nl.ok() || !events_) return;
    query_ = std::move(*nl);
    nl_socket_disable_seq_check(events_);
    if (nl_connect(events_, NETLINK_ROUTE) < 0 || nl_socket_add_membership(events_, RTNLGRP_LINK) < 0 ||
        nl_socket_set_nonblocking(events_) < 0)
        return;
    gone_ = !still_there();
    if (!gone_) delete_link_in_helper(ifindex_);
}

LinkRemoval::LinkRemoval(LinkRemoval&& o) noexcept
    : ifindex_(o.ifindex_), gone_(o.gone_), query_(std::move(o.query_)), events_(std::exchange(o.events_, nullptr)) {}

LinkRemoval::~LinkRemoval() {
    if (events_) nl_socket_free(events_);
}

bool LinkRemoval::still_there() const {
    nl_msg* m = link_request(RTM_GETLINK, 0, ifindex_);
    nla_put_u32(m, IFLA_EXT_MASK, 0);
    auto s = query_.talk(m);
    return s.ok() || s.error().code != ENODEV;
}

bool LinkRemoval::wait(int timeout_ms) {
    if (gone_ || !events_) return gone_;
    auto on_event = [](nl_msg* msg, void* arg) -> int {
        nlmsghdr* h = nlmsg_hdr(msg);
        auto* self = static_cast<LinkRemoval*>(arg);
        if (h->nlmsg_type == RTM_DELLINK && static_cast<ifinfomsg*>(nlmsg_data(h))->ifi_index == self->ifindex_)
            self->gone_ = true;
        return NL_OK;
    };
    nl_socket_modify_cb(events_, NL_CB_VALID, NL_CB_CUSTOM, on_event, this);
    timespec start{}, now{};
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!gone_) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        if (left <= 0) break;
        pollfd p{nl_socket_get_fd(events_), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        // An overrun (busy host) loses events: then ask instead of trusting the stream.
        if (nl_recvmsgs_default(events_) == -NLE_NOMEM && !still_there()) gone_ = true;
    }
    reap_helpers();
    return gone_;
}

bool remove_link(int ifindex, int timeout_ms) { return LinkRemoval(ifindex).wait(timeout_ms); }

}  // namespace berth::nspawn::net
