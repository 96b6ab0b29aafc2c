// The client side of org.freedesktop.machine1 and io.berth.Manager1/Machine1: synchronous calls over
// sdbus-c++ proxies on the system bus (DBUS_SYSTEM_BUS_ADDRESS honoured), D-Bus errors as values.
#pragma once

#include <sys/socket.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sdbus-c++/sdbus-c++.h>

#include "common/bus_names.hpp"
#include "common/fd.hpp"
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
// The error as a value: bus_error_text, with kNoSuchMethod as its code for an unknown method/interface.
Error bus_error(const sdbus::Error& e);

// The error code of a method the machined does not have (systemd's machined for io.berth.Machine1):
// org.freedesktop.DBus.Error.UnknownMethod, UnknownInterface or UnknownObject.
inline constexpr int kNoSuchMethod = ENOSYS;

// A pty whose slave is a session inside the machine: the master, the slave's path there.
struct MachinePty {
    UniqueFd master;
    std::string path;
};

// What machinectl shell asks for (io.berth.Machine1.ExecutePTY/Execute, or OpenMachineShell).
struct ShellCommand {
    std::string user;               // "" = root
    std::string path;               // "" = the user's login shell
    std::vector<std::string> args;  // empty = [path]
    std::vector<std::string> env;   // "K=V"
};

// A transfer of org.freedesktop.import1 (ListTransfers).
struct TransferEntry {
    uint32_t id = 0;
    std::string type, remote, local;
    double progress = 0;
    std::string path;
};

// What a client waiting for a transfer hears of it: its LogMessage lines, and its Progress (0..1), asked
// about twice a second while it runs.
struct TransferCallbacks {
    std::function<void(unsigned priority, const std::string& line)> log;
    std::function<void(double progress)> progress;
};

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

    // OpenMachineLogin, OpenMachineShell (org.freedesktop.machine1.Manager).
    Result<MachinePty> open_login(const std::string& name);
    Result<MachinePty> open_shell(const std::string& name, const ShellCommand& cmd);
    // io.berth.Machine1 on the machine object at `path`: the command on a pty, or on our fds; the read end
    // of its status pipe (one line "exited N", "killed SIG" or "dumped SIG", then EOF).
    Result<std::pair<MachinePty, UniqueFd>> execute_pty(const std::string& path, const ShellCommand& cmd);
    Result<UniqueFd> execute(const std::string& path, const ShellCommand& cmd, int in, int out, int err);
    // OpenMachineRootDirectory: the machine's root as it sees it.
    Result<UniqueFd> open_root_directory(const std::string& name);
    // Calls `removed(name)` on the manager's MachineRemoved signals, as long as the returned proxy lives;
    // dispatched by process_pending().
    std::unique_ptr<sdbus::IProxy> on_machine_removed(std::function<void(const std::string&)> removed);
    int fd() const { return conn_->getEventLoopPollData().fd; }
    void process_pending() {
        while (conn_->processPendingRequest()) {
        }
    }

    // org.freedesktop.import1's METHOD (ImportTar, ExportRaw, ...), which starts a transfer, then waiting
    // for the transfer to end: its result, "done", "failed" or "canceled". `started` is told its id. An
    // error when it could not be started, or when SIGINT or SIGTERM came first (the transfer goes on).
    template <typename... Args>
    Result<std::string> transfer(const char* method, const TransferCallbacks& cb,
                                 const std::function<void(uint32_t id)>& started, const Args&... args) {
        auto watch = watch_transfers();
        uint32_t id = 0;
        sdbus::ObjectPath path;
        try {
            import_proxy().callMethod(method).onInterface(bus::kImportManagerInterface).withArguments(args...).storeResultsTo(id, path);
        } catch (const sdbus::Error& e) {
            return plain_error(bus_error_text(e), EIO);
        }
        if (started) started(id);
        return wait_transfer(*watch, path, cb);
    }
    Result<std::vector<TransferEntry>> list_transfers();
    Status cancel_transfer(uint32_t id);

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

    // A method on the manager object and its one result.
    template <typename R, typename... Args>
    Result<R> call_returning(const char* iface, const char* method, const Args&... args) {
        return returning<R>(false, iface, method, args...);
    }
    template <typename R, typename... Args>
    Result<R> call_returning_unbounded(const char* iface, const char* method, const Args&... args) {
        return returning<R>(true, iface, method, args...);
    }

    struct TransferWatch;  // bus_transfer.cpp

private:
    sdbus::IProxy& import_proxy();
    std::shared_ptr<TransferWatch> watch_transfers();
    Result<std::string> wait_transfer(TransferWatch& w, const std::string& path, const TransferCallbacks& cb);

    template <typename R, typename... Args>
    Result<R> returning(bool unbounded, const char* iface, const char* method, const Args&... args) {
        try {
            R out{};
            // 0: sd-bus's default time limit.
            manager_->callMethod(method).onInterface(iface).withTimeout(unbounded ? UINT64_MAX : 0).withArguments(args...).storeResultsTo(out);
            return out;
        } catch (const sdbus::Error& e) {
            return plain_error(bus_error_text(e), EIO);
        }
    }

    explicit Bus(std::unique_ptr<sdbus::IConnection> c);
    std::unique_ptr<sdbus::IConnection> conn_;
    std::unique_ptr<sdbus::IProxy> manager_;
    std::unique_ptr<sdbus::IProxy> import_;
};

}  // namespace berth::machinectl
