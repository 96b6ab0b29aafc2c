// PLACEHOLDER until the network module lands: refuses every network option but --private-network.
#include "net.hpp"

#include <sys/ioctl.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd.hpp"

namespace berth::nspawn {

Result<NetworkPlan> parse_network(const Options& o, const std::string&) {
    if (o.network_veth || o.network_bridge || o.network_zone || o.network_interface || o.port)
        return plain_error("network options are not available yet", EOPNOTSUPP);
    return NetworkPlan{};
}

Result<NetworkState> configure_network(const NetworkPlan&, const std::string&, pid_t) { return NetworkState{}; }

Status apply_network_in_child(const NetworkPlan& net) {
    if (!net.private_network) return {};
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s) return errno_error("Failed to open a socket to configure lo");
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) return errno_error("Failed to read flags of lo");
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0) return errno_error("Failed to bring lo up");
    return {};
}

void cleanup_network(const NetworkState&, const std::string&) {}
void collect_stale_network() {}

}  // namespace berth::nspawn
