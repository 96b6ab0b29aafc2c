// Netlink for the network modules: one libnl socket per namespace; every request waits for the
// kernel's answer and keeps its errno. Links: look up, list, label, bring up, address, remove.
#pragma once

#include <netlink/msg.h>
#include <netlink/netlink.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::nspawn::net {

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

struct Link {
    int index = 0;
    int master = 0;
    uint32_t group = 0;  // the device group (IFLA_GROUP)
    std::string name, alias, kind;
};

// An error with the kernel's errno from `e` and the text `what`.
Error failed(const Error& e, const std::string& what);

// A bare RTM_*LINK request for `ifindex`, flags IFF_UP set in `up` and changed.
nl_msg* link_request(int type, int flags, int ifindex, unsigned up = 0);
Link parse_link(nlmsghdr* h);
// One link by name (ENODEV when there is none).
Result<Link> get_link(const Netlink& nl, const std::string& name);
Result<std::vector<Link>> dump_links(const Netlink& nl);
Status set_alias(const Netlink& nl, int ifindex, const std::string& alias);
Status set_up(const Netlink& nl, int ifindex);
// RTM_NEWADDR or RTM_DELADDR of an IPv4 address (host byte order) with scope link.
Status change_address(const Netlink& nl, int type, int ifindex, uint32_t addr, int prefix);
// Every IPv4 address on the host, for picking a subnet nobody uses.
Result<std::vector<uint32_t>> host_ipv4_addresses(const Netlink& nl);
// The removal of the link with `ifindex`, begun on construction; wait() returns once the link is gone
// from the host (false: still there after `timeout_ms`). In between, the caller can do other work.
class LinkRemoval {
public:
    explicit LinkRemoval(int ifindex);
    LinkRemoval(LinkRemoval&& o) noexcept;
    LinkRemoval& operator=(LinkRemoval&&) = delete;
    ~LinkRemoval();
    bool wait(int timeout_ms);

private:
    bool still_there() const;
    int ifindex_;
    bool gone_ = false;
    Netlink query_;
    nl_sock* events_ = nullptr;  // subscribed to link changes before the removal was asked for
};

// Removes the link with `ifindex` and returns once it is gone from the host (false: still there after
// `timeout_ms`).
bool remove_link(int ifindex, int timeout_ms);

}  // namespace berth::nspawn::net
