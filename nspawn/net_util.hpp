// What the network modules share (net.cpp: links; net_ports.cpp: port forwards): the names and labels
// of what we create, the lock that guards shared objects, small text helpers.
#pragma once

#include <linux/if.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth::nspawn::net {

inline constexpr const char* kMachineAlias = "berth machine=";  // alias of our ve-/vb- links
inline constexpr const char* kZoneAlias = "berth zone";         // alias of the zone bridges we created
// The device group zone bridges are created in ("bert"). The kernel takes a group, unlike an alias, with
// the creation itself, so a bridge whose supervisor was killed before labelling it is still known as ours.
inline constexpr uint32_t kZoneGroup = 0x62657274;
inline constexpr const char* kTable = "inet berth";             // our nftables table
inline constexpr const char* kGuestLink = "host0";
inline constexpr size_t kIfNameMax = IFNAMSIZ - 1;
inline constexpr int kRemoveTimeoutMs = 2000;

uint64_t hash64(std::string_view s);
std::string ip4(uint32_t a);
// "key=value" out of a space-separated comment or alias; "" when absent.
std::string field(const std::string& text, std::string_view key);
std::string trim_nl(std::string s);
// Whether a supervisor holds the machine's lock.
bool machine_running(const std::string& machine);
// Held while shared objects change (zone bridges, link-local subnets, the nft table and ip_forward).
Result<UniqueFd> lock_network();

}  // namespace berth::nspawn::net
