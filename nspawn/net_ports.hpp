// Port forwards (--port) as nftables rules in a table of our own: added for a machine, removed with it,
// and collected after a killed supervisor.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "nspawn/net.hpp"
#include "nspawn/netlink.hpp"

namespace berth::nspawn::net {

// "[tcp|udp:]HOSTPORT[:GUESTPORT]"; the error names the value and why.
Result<PortForward> parse_port(const std::string& value);
// Forwards `net.ports` to the machine over `dev` (its link, or the bridge it is on); `owned`: the device
// is ours, so 127.0.0.1 may be routed to it.
Status forward_ports(const Netlink& nl, const NetworkPlan& net, const std::string& machine, pid_t child,
                     const Link& dev, bool owned);
// Removes the forwards of the machines `dead` says yes to; the table goes with its last forward. The
// caller holds lock_network().
void remove_forwards(const Netlink* nl, const std::function<bool(const std::string&)>& dead);
// Whether our table exists, asked over nfnetlink without loading libnftables.
bool nft_table_exists();

}  // namespace berth::nspawn::net
