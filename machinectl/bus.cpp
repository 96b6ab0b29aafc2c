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

Error bus_error(const sdbus::Error& e) {
    const std::string& n = e.getName();
    bool unknown = n == "org.freedesktop.DBus.Error.UnknownMethod" || n == "org.freedesktop.DBus.Error.UnknownInterface" ||
                   n == "org.freedesktop.DBus.Error.UnknownObject";
    return plain_error(bus_error_text(e), unknown ? kNoSuchMethod : EIO);
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

namespace {

UniqueFd take(sdbus::UnixFd& fd) { return UniqueFd(fd.release()); }

}  // namespace

Result<MachinePty> Bus::open_login(const std::string& name) {
    try {
        sdbus::UnixFd fd;
        std::string path;
        manager_->callMethod("OpenMachineLogin").onInterface(kManagerIface).withArguments(name).storeResultsTo(fd, path);
        return MachinePty{take(fd), path};
    } catch (const sdbus::Error& e) {
        return bus_error(e);
    }
}

Result<MachinePty> Bus::open_shell(const std::string& name, const ShellCommand& c) {
    try {
        sdbus::UnixFd fd;
        std::string path;
        manager_->callMethod("OpenMachineShell")
            .onInterface(kManagerIface)
            .withArguments(name, c.user, c.path, c.args, c.env)
            .storeResultsTo(fd, path);
        return MachinePty{take(fd), path};
    } catch (const sdbus::Error& e) {
        return bus_error(e);
    }
}

Result<std::pair<MachinePty, UniqueFd>> Bus::execute_pty(const std::string& path, const ShellCommand& c) {
    try {
        auto proxy = sdbus::createProxy(*conn_, kBusName, path);
        sdbus::UnixFd pty, status;
        std::string pty_path;
        proxy->callMethod("ExecutePTY")
            .onInterface(kBerthMachineIface)
            .withArguments(c.user, c.path, c.args, c.env)
            .storeResultsTo(pty, pty_path, status);
        return std::pair{MachinePty{take(pty), pty_path}, take(status)};
    } catch (const sdbus::Error& e) {
        return bus_error(e);
    }
}

Result<UniqueFd> Bus::execute(const std::string& path, const ShellCommand& c, int in, int out, int err) {
    try {
        auto proxy = sdbus::createProxy(*conn_, kBusName, path);
        sdbus::UnixFd status;
        proxy->callMethod("Execute")
            .onInterface(kBerthMachineIface)
            .withArguments(c.user, c.path, c.args, c.env, sdbus::UnixFd(in), sdbus::UnixFd(out), sdbus::UnixFd(err))
            .storeResultsTo(status);
        return take(status);
    } catch (const sdbus::Error& e) {
        return bus_error(e);
    }
}

Result<UniqueFd> Bus::open_root_directory(const std::string& name) {
    try {
        sdbus::UnixFd fd;
        manager_->callMethod("OpenMachineRootDirectory").onInterface(kManagerIface).withArguments(name).storeResultsTo(fd);
        return take(fd);
    } catch (const sdbus::Error& e) {
        return bus_error(e);
    }
}

std::unique_ptr<sdbus::IProxy> Bus::on_machine_removed(std::function<void(const std::string&)> removed) {
    auto proxy = sdbus::createProxy(*conn_, kBusName, kManagerPath);
    proxy->uponSignal("MachineRemoved")
        .onInterface(kManagerIface)
        .call([removed = std::move(removed)](const std::string& name, const sdbus::ObjectPath&) { removed(name); });
    proxy->finishRegistration();
    return proxy;
}

}  // namespace berth::machinectl
