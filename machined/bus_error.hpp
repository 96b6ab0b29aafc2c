// D-Bus error names, and the one place where an Error value becomes an sdbus::Error for the caller.
#pragma once

#include <sdbus-c++/Error.h>

#include "result.hpp"

namespace berth::machined {

inline constexpr const char* kNoSuchMachine = "org.freedesktop.machine1.NoSuchMachine";
inline constexpr const char* kNoSuchImage = "org.freedesktop.machine1.NoSuchImage";
inline constexpr const char* kMachineExists = "org.freedesktop.machine1.MachineExists";
inline constexpr const char* kNoMachineForPID = "org.freedesktop.machine1.NoMachineForPID";
inline constexpr const char* kNoPrivateNetworking = "org.freedesktop.machine1.NoPrivateNetworking";
inline constexpr const char* kNoSuchUserMapping = "org.freedesktop.machine1.NoSuchUserMapping";
inline constexpr const char* kNoSuchGroupMapping = "org.freedesktop.machine1.NoSuchGroupMapping";
inline constexpr const char* kInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";
inline constexpr const char* kAccessDenied = "org.freedesktop.DBus.Error.AccessDenied";
inline constexpr const char* kNotSupported = "org.freedesktop.DBus.Error.NotSupported";
inline constexpr const char* kFailed = "org.freedesktop.DBus.Error.Failed";

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
