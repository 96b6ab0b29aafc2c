// The API: docs/dbus-api.md, "Errors".
// D-Bus error names, and the one place where an Error value becomes an sdbus::Error for the caller.
#pragma once

#include <sdbus-c++/Error.h>

#include "common/bus_names.hpp"
#include "common/result.hpp"

namespace berth::machined {

using bus::kAccessDenied;
using bus::kFailed;
using bus::kInvalidArgs;
using bus::kMachineExists;
using bus::kNoMachineForPID;
using bus::kNoPrivateNetworking;
using bus::kNoSuchGroupMapping;
using bus::kNoSuchImage;
using bus::kNoSuchMachine;
using bus::kNoSuchUserMapping;
using bus::kNotSupported;

// The D-Bus name for an errno: EINVAL InvalidArgs, EEXIST MachineExists, EPERM/EACCES AccessDenied,
// EOPNOTSUPP NotSupported, ESRCH NoMachineForPID, anything else Failed.
const char* bus_error_name(int code);

[[noreturn]] inline void throw_bus_error(const char* name, const std::string& message) {
    throw sdbus::Error(name, message);
}
[[noreturn]] inline void throw_bus_error(const Error& e) { throw sdbus::Error(bus_error_name(e.code), e.message); }

template <typename T>
T value_or_throw(Result<T> r) {
    if (!r.ok()) throw_bus_error(r.error());
    return std::move(r).value();
}
inline void ok_or_throw(const Status& s) {
    if (!s.ok()) throw_bus_error(s.error());
}

}  // namespace berth::machined
