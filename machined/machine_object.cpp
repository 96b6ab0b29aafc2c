// org.freedesktop.machine1.Machine and io.berth.Machine1 on /org/freedesktop/machine1/machine/LABEL.
#include <sdbus-c++/Types.h>

#include "bus_error.hpp"
#include "bus_path.hpp"
#include "daemon.hpp"
#include "objects.hpp"
#include "operations.hpp"

namespace berth::machined {

namespace {

using Address = sdbus::Struct<int32_t, std::vector<uint8_t>>;
using Limit = sdbus::Struct<std::string, std::string>;

void reply_empty(sdbus::MethodCall& call) { call.createReply().send(); }

}  // namespace

void add_machine_interfaces(sdbus::IObject& o, Daemon& d, MachineResolver resolve) {
    auto method = [&](const char* iface, const char* name, const char* in, const char* out,
                      std::function<void(sdbus::MethodCall&)> fn) {
        o.registerMethod(iface, name, in, out, guarded(std::move(fn)));
    };
    auto property = [&](const char* iface, const char* name, const char* sig,
                        std::function<void(sdbus::PropertyGetReply&, Machine&)> fn) {
        o.registerProperty(iface, name, sig, guarded_get([resolve, fn = std::move(fn)](sdbus::PropertyGetReply& r) {
                               fn(r, resolve(r));
                           }));
    };

    method(kMachineInterface, "Terminate", "", "", [&d, resolve](sdbus::MethodCall& call) {
        d.authorize(call, "Terminate");
        d.terminate_machine(resolve(call));
        reply_empty(call);
    });
    method(kMachineInterface, "Kill", "si", "", [&d, resolve](sdbus::MethodCall& call) {
        d.authorize(call, "Kill");
        std::string who;
        int32_t sig;
        call >> who >> sig;
        ok_or_throw(kill_machine(resolve(call), who, sig));
        reply_empty(call);
    });
    method(kMachineInterface, "GetAddresses", "", "a(iay)", [resolve](sdbus::MethodCall& call) {
        auto r = machine_addresses(resolve(call));
        if (!r.ok() && r.error().code == ENXIO) throw_bus_error(kNoPrivateNetworking, r.error().message);
        std::vector<Address> out;
        for (auto& [family, bytes] : value_or_throw(std::move(r))) out.emplace_back(family, bytes);
        auto reply = call.createReply();
        reply << out;
        reply.send();
    });
    method(kMachineInterface, "GetOSRelease", "", "a{ss}", [resolve](sdbus::MethodCall& call) {
        auto reply = call.createReply();
        reply << value_or_throw(machine_os_release(resolve(call)));
        reply.send();
    });
    method(kMachineInterface, "GetUIDShift", "", "u", [resolve](sdbus::MethodCall& call) {
        auto reply = call.createReply();
        reply << value_or_throw(machine_uid_shift(resolve(call)));
        reply.send();
    });
    struct Stub {
        const char* name;
        const char* in;
        const char* out;
    };
    static constexpr Stub kStubs[] = {
        {"OpenPTY", "", "hs"},          {"OpenLogin", "", "hs"},        {"OpenShell", "ssasas", "hs"},
        {"BindMount", "ssbb", ""},      {"CopyFrom", "ss", ""},         {"CopyTo", "ss", ""},
        {"CopyFromWithFlags", "sst", ""}, {"CopyToWithFlags", "sst", ""}, {"OpenRootDirectory", "", "h"},
    };
    for (auto& s : kStubs) {
        std::string name = s.name;
        method(kMachineInterface, s.name, s.in, s.out, [name](sdbus::MethodCall&) {
            throw_bus_error(kNotSupported, name + " is not supported by this machined yet");
        });
    }

    property(kMachineInterface, "Name", "s", [](auto& r, Machine& m) { r << m.name; });
    property(kMachineInterface, "Id", "ay",
             [](auto& r, Machine& m) { r << std::vector<uint8_t>(m.id.begin(), m.id.end()); });
    property(kMachineInterface, "Timestamp", "t", [](auto& r, Machine& m) { r << m.timestamp_realtime; });
    property(kMachineInterface, "TimestampMonotonic", "t", [](auto& r, Machine& m) { r << m.timestamp_monotonic; });
    property(kMachineInterface, "Service", "s", [](auto& r, Machine& m) { r << m.service; });
    property(kMachineInterface, "Unit", "s", [](auto& r, Machine& m) { r << m.unit; });
    property(kMachineInterface, "Leader", "u", [](auto& r, Machine& m) { r << static_cast<uint32_t>(m.leader); });
    property(kMachineInterface, "Class", "s", [](auto& r, Machine& m) { r << m.klass; });
    property(kMachineInterface, "RootDirectory", "s", [](auto& r, Machine& m) { r << m.root_directory; });
    property(kMachineInterface, "NetworkInterfaces", "ai", [](auto& r, Machine& m) { r << m.ifindices; });
    property(kMachineInterface, "State", "s", [](auto& r, Machine& m) { r << m.state; });

    method(kBerthMachineInterface, "Freeze", "", "", [&d, resolve](sdbus::MethodCall& call) {
        d.authorize(call, "Freeze");
        d.freeze_machine(resolve(call), true);
        reply_empty(call);
    });
    method(kBerthMachineInterface, "Thaw", "", "", [&d, resolve](sdbus::MethodCall& call) {
        d.authorize(call, "Thaw");
        d.freeze_machine(resolve(call), false);
        reply_empty(call);
    });
    method(kBerthMachineInterface, "SetLimits", "a(ss)", "", [&d, resolve](sdbus::MethodCall& call) {
        d.authorize(call, "SetLimits");
        std::vector<Limit> in;
        call >> in;
        std::vector<std::pair<std::string, std::string>> limits;
        for (auto& l : in) limits.emplace_back(l.get<0>(), l.get<1>());
        d.set_machine_limits(resolve(call), limits);
        reply_empty(call);
    });
    property(kBerthMachineInterface, "Frozen", "b", [](auto& r, Machine& m) { r << is_frozen(m); });
    property(kBerthMachineInterface, "Enabled", "b",
             [&d](auto& r, Machine& m) { r << (!m.is_host() && d.enabled().contains(m.name)); });
}

}  // namespace berth::machined
