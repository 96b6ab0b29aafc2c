#include "machinectl/bus.hpp"

#include <arpa/inet.h>

namespace berth::machinectl {

std::string format_address(int family, const std::vector<uint8_t>& bytes) {
    char buf[INET6_ADDRSTRLEN] = "";
    if (family == AF_INET && bytes.size() == 4) inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
    else if (family == AF_INET6 && bytes.size() == 16) inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

std::string bus_error_text(const sdbus::Error& e) {
    std::string text = e.getMessage().empty() ? e.getName() : e.getMessage();
    for (char& c : text)
        if (c == '\n') c = ' ';
    return text;
}

Bus::Bus(std::unique_ptr<sdbus::IConnection> c)
    : conn_(std::move(c)), manager_(sdbus::createProxy(*conn_, kBusName, kManagerPath)) {}

Result<std::unique_ptr<Bus>> Bus::connect() {
    try {
        return std::unique_ptr<Bus>(new Bus(sdbus::createSystemBusConnection()));
    } catch (const sdbus::Error& e) {
        return plain_error("Failed to connect to the system bus: " + bus_error_text(e), EIO);
    }
}

Result<std::vector<MachineEntry>> Bus::list_machines() {
    try {
        std::vector<sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>> list;
        manager_->callMethod("ListMachines").onInterface(kManagerIface).storeResultsTo(list);
        std::vector<MachineEntry> out;
        for (auto& m : list)
            out.push_back({m.get<0>(), m.get<1>(), m.get<2>(), std::string(m.get<3>())});
        return out;
    } catch (const sdbus::Error& e) {
        return plain_error("Could not get machines: " + bus_error_text(e), EIO);
    }
}

Result<std::string> Bus::machine_path(const std::string& name) {
    try {
        sdbus::ObjectPath path;
        manager_->callMethod("GetMachine").onInterface(kManagerIface).withArguments(name).storeResultsTo(path);
        return std::string(path);
    } catch (const sdbus::Error& e) {
        return plain_error(bus_error_text(e), EIO);
    }
}

Result<std::map<std::string, std::string>> Bus::os_release(const std::string& name) {
    try {
        std::map<std::string, std::string> m;
        manager_->callMethod("GetMachineOSRelease").onInterface(kManagerIface).withArguments(name).storeResultsTo(m);
        return m;
    } catch (const sdbus::Error& e) {
        return plain_error(bus_error_text(e), EIO);
    }
}

Result<std::vector<Address>> Bus::addresses(const std::string& name) {
    try {
        std::vector<sdbus::Struct<int32_t, std::vector<uint8_t>>> list;
        manager_->callMethod("GetMachineAddresses").onInterface(kManagerIface).withArguments(name).storeResultsTo(list);
        std::vector<Address> out;
        for (auto& a : list) {
            std::string text = format_address(a.get<0>(), a.get<1>());
            if (!text.empty()) out.push_back({a.get<0>(), text});
        }
        return out;
    } catch (const sdbus::Error& e) {
        return plain_error(bus_error_text(e), EIO);
    }
}

Result<uint32_t> Bus::uid_shift(const std::string& name) {
    try {
        uint32_t shift = 0;
        manager_->callMethod("GetMachineUIDShift").onInterface(kManagerIface).withArguments(name).storeResultsTo(shift);
        return shift;
    } catch (const sdbus::Error& e) {
        return plain_error(bus_error_text(e), EIO);
    }
}

Result<std::vector<Property>> Bus::properties(const std::string& path, const std::string& iface) {
    try {
        auto proxy = sdbus::createProxy(*conn_, kBusName, path);
        auto call = proxy->createMethodCall("org.freedesktop.DBus.Properties", "GetAll");
        call << iface;
        auto reply = proxy->callMethod(call);
        // Read the a{sv} by hand: a std::map would sort the names, systemd keeps the object's order.
        std::vector<Property> out;
        reply.enterContainer("{sv}");
        while (reply.enterDictEntry("sv")) {
            std::string name;
            sdbus::Variant value;
            reply >> name >> value;
            reply.exitDictEntry();
            out.push_back(make_property(name, value));
        }
        reply.clearFlags();
        reply.exitContainer();
        return out;
    } catch (const sdbus::Error& e) {
        return plain_error(bus_error_text(e), EIO);
    }
}

}  // namespace berth::machinectl
