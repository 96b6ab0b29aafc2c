// The API: docs/dbus-api.md, "Callers and access".
// Who may do what: root everything; everyone may read; mutating calls from others need a group in
// `allowed_groups`. The caller's identity comes from the bus (the credentials dbus-daemon recorded when
// the caller connected), cached per unique connection name since they never change for a connection.
#pragma once

#include <sys/types.h>

#include <systemd/sd-bus.h>

#include <map>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "machined/register_request.hpp"

namespace berth::machined {

class AccessControl {
public:
    // Group names are resolved now; an unknown group is a warning, not an error (it may be created later,
    // but then machined must be restarted to see it).
    explicit AccessControl(const std::vector<std::string>& allowed_groups);

    // Throws BusError (AccessDenied) when the bus cannot tell (the caller left already).
    Caller caller_of(sd_bus_message* call);
    // AccessDenied (EACCES) unless root or in an allowed group; `what` names the call for the message.
    Status authorize(const Caller& caller, const std::string& what) const;

private:
    std::vector<gid_t> allowed_;
    std::map<std::string, Caller> cache_;
};

}  // namespace berth::machined
