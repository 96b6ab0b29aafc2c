// The client side of org.freedesktop.machine1 and io.berth.Manager1/Machine1: synchronous calls over
// sdbus-c++ proxies on the system bus (DBUS_SYSTEM_BUS_ADDRESS honoured), D-Bus errors as values.
#pragma once

#include <sys/socket.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sdbus-c++/sdbus-c++.h>

#include "common/bus_names.hpp"
#include "common/result.hpp"
#include "machinectl/properties.hpp"

namespace berth::machinectl {

using bus::kBusName;
using bus::kManagerPath;
inline constexpr const char* kManagerIface = bus::kManagerInterface;
inline constexpr const char* kMachineIface = bus::kMachineInterface;
inline constexpr const char* kBerthManagerIface = bus::kBerthManagerInterface;
inline constexpr const char* kBerthMachineIface = bus::kBerthMachineInterface;

struct MachineEntry {
    std::string name, cls, service, path;
};

struct Address {
    int family = 0;  // AF_INET, AF_INET6
    std::string text;
};

// "10.0.0.2", "fe80::1"; "" for a family we do not know or a wrong length.
std::string format_address(int family, const std::vector<uint8_t>& bytes);

// The text of a D-Bus error for a one-line message: its message, or its name when it has none.
std::string bus_error_text(const sdbus::Error& e);

class Bus {
public:
    static Result<std::unique_ptr<Bus>> connect();

    Result<std::vector<MachineEntry>> list_machines();
    Result<std::string> machine_path(const std::string& name);
    Result<std::map<std::string, std::string>> os_release(const std::string& name);
    Result<std::vector<Address>> addresses(const std::string& name);
    Result<uint32_t> uid_shift(const std::string& name);
    // Properties.GetAll(iface) in the order the object sends them; iface "" means all interfaces.
    Result<std::vector<Property>> properties(const std::string& path, const std::string& iface);

    // A method on the manager object that returns nothing.
    template <typename... Args>
    Status call(const char* iface, const char* method, const Args&... args) {
        try {
            manager_->callMethod(method).onInterface(iface).withArguments(args...);
            return {};
        } catch (const sdbus::Error& e) {
            return plain_error(bus_error_text(e), EIO);
        }
    }

    // The same without a time limit: a copy takes as long as it takes (systemd's machinectl waits too).
    template <typename... Args>
    Status call_unbounded(const char* iface, const char* method, const Args&... args) {
        try {
            manager_->callMethod(method).onInterface(iface).withTimeout(UINT64_MAX).withArguments(args...);
            return {};
        } catch (const sdbus::Error& e) {
            return plain_error(bus_error_text(e), EIO);
        }
    }

private:
    explicit Bus(std::unique_ptr<sdbus::IConnection> c);
    std::unique_ptr<sdbus::IConnection> conn_;
    std::unique_ptr<sdbus::IProxy> manager_;
};

}  // namespace berth::machinectl
