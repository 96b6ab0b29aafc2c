// sd_notify in both directions: the guest's messages on /run/host/notify (read by the supervisor), and
// our own READY=1/STATUS= to $NOTIFY_SOCKET (the unit manager that started us).
#pragma once

#include <string>

#include "common/fd.hpp"
#include "nspawn/plan.hpp"

namespace berth::nspawn {

// Child: create and bind the socket at /run/host/notify inside `rootfd`.
Result<UniqueFd> bind_notify_socket_in_child(const Plan& plan, int rootfd);

// Supervisor: read one datagram; returns its text ("" on EAGAIN).
std::string read_notify_message(int fd);
bool notify_has(const std::string& message, const std::string& assignment);  // "READY=1"

// Send `state` to $NOTIFY_SOCKET if set (path or abstract "@name"); silently nothing otherwise.
void notify_host(const std::string& state);

}  // namespace berth::nspawn
