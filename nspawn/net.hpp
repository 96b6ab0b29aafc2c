// Networking over netlink (libnl-route-3), never by running `ip`: private network namespace, veth
// (ve-NAME <-> host0), bridge (vb-NAME on BR), zones (vz-ZONE created on demand, removed with its last
// machine), moved host interfaces (given back at exit), and port forwards as nftables rules in a table
// of our own.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::nspawn {

struct PortForward {
    int protocol = 6;  // IPPROTO_TCP or IPPROTO_UDP
    uint16_t host_port = 0, guest_port = 0;
};

struct NetworkPlan {
    bool private_network = false;  // any of the below implies it
    bool veth = false;
    std::string bridge;  // --network-bridge
    std::string zone;    // --network-zone
    std::vector<std::string> interfaces;
    std::vector<PortForward> ports;
};

// The network options, one value each (errors name the option and the value).
Status set_network_bridge(const std::string& bridge, NetworkPlan& n);
Status set_network_zone(const std::string& zone, NetworkPlan& n);
Status add_network_interface(const std::string& ifname, NetworkPlan& n);
Status add_port(const std::string& spec, NetworkPlan& n);
// Once all are in: what they need together, and what must exist on the host (checked now, so that a typo
// fails before anything is created). `private_network`: --private-network, which the links imply.
Status finish_network(NetworkPlan& n, bool private_network);

// What a start created on the host, for registration (ifindices) and for cleanup.
struct NetworkState {
    std::vector<int> host_ifindices;  // host side of veth pairs
    // Implementation details (names, created bridge, nft handles) live here too.
    std::vector<std::string> created_links;
    std::vector<std::string> moved_interfaces;
    std::string zone_bridge;
    bool nft_table = false;
};

// Supervisor, after clone (the child's network namespace exists, child waits): create and move links.
Result<NetworkState> configure_network(const NetworkPlan& net, const std::string& machine, pid_t child);
// Child, right after it made its network namespace: lo up (host0 is configured by the guest itself).
Status apply_network_in_child(const NetworkPlan& net);
// Supervisor, when the machine is gone (also on failed starts): remove what configure_network created.
// The removal of its links is only begun (the kernel takes most of a millisecond): the caller goes on
// with its own teardown and then calls finish_network_cleanup(), which returns once they are gone.
void cleanup_network(const NetworkState& state, const std::string& machine);
void finish_network_cleanup();
// What a supervisor killed with SIGKILL left (ve-/vb- links of machines no longer running, empty zones,
// stale nft rules): called at every start.
void collect_stale_network();

}  // namespace berth::nspawn
