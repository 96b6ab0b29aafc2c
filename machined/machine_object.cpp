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

void add_machine_interfaces(sdbus::IObject& o, const MachineRef* ref) {
    // Handlers capture `ref` alone (see guarded()); they reach the daemon through it.
    auto method = [&](const char* iface, const char* name, const char* in, const char* out, auto fn) {
        o.registerMethod(iface, name, in, out, guarded([ref, fn](sdbus::MethodCall& call) { fn(call, *ref); }));
    };
    auto property = [&](const char* iface, const char* name, const char* sig, auto fn) {
        o.registerProperty(iface, name, sig,
                           guarded_get([ref, fn](sdbus::PropertyGetReply& r) { fn(r, ref->resolve(r)); }));
    };

    method(kMachineInterface, "Terminate", "", "", [](sdbus::MethodCall& call, const MachineRef& ref) {
        ref.daemon->authorize(call, "Terminate");
        ref.daemon->terminate_machine(ref.resolve(call));
        reply_empty(call);
    });
    method(kMachineInterface, "Kill", "si", "", [](sdbus::MethodCall& call, const MachineRef& ref) {
        ref.daemon->authorize(call, "Kill");
        std::string who;
        int32_t sig;
        call >> who >> sig;
        ok_or_throw(kill_machine(ref.resolve(call), who, sig));
        reply_empty(call);
    });
    method(kMachineInterface, "GetAddresses", "", "a(iay)", [](sdbus::MethodCall& call, const MachineRef& ref) {
        auto r = machine_addresses(ref.resolve(call));
        if (!r.ok() && r.error().code == ENXIO) throw_bus_error(kNoPrivateNetworking, r.error().message);
        std::vector<Address> out;
        for (auto& [family, bytes] : value_or_throw(std::move(r))) out.emplace_back(family, bytes);
        auto reply = call.createReply();
        reply << out;
        reply.send();
    });
    method(kMachineInterface, "GetOSRelease", "", "a{ss}", [](sdbus::MethodCall& call, const MachineRef& ref) {
        auto reply = call.createReply();
        reply << value_or_throw(machine_os_release(ref.resolve(call)));
        reply.send();
    });
    method(kMachineInterface, "GetUIDShift", "", "u", [](sdbus::MethodCall& call, const MachineRef& ref) {
        auto reply = call.createReply();
        reply << value_or_throw(machine_uid_shift(ref.resolve(call)));
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
        const char* name = s.name;
        o.registerMethod(kMachineInterface, name, s.in, s.out, guarded([name](sdbus::MethodCall&) {
                             throw_bus_error(kNotSupported, std::string(name) + " is not supported by this machined yet");
                         }));
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

    method(kBerthMachineInterface, "Freeze", "", "", [](sdbus::MethodCall& call, const MachineRef& ref) {
        ref.daemon->authorize(call, "Freeze");
        ref.daemon->freeze_machine(ref.resolve(call), true);
        reply_empty(call);
    });
    method(kBerthMachineInterface, "Thaw", "", "", [](sdbus::MethodCall& call, const MachineRef& ref) {
        ref.daemon->authorize(call, "Thaw");
        ref.daemon->freeze_machine(ref.resolve(call), false);
        reply_empty(call);
    });
    method(kBerthMachineInterface, "SetLimits", "a(ss)", "", [](sdbus::MethodCall& call, const MachineRef& ref) {
        ref.daemon->authorize(call, "SetLimits");
        std::vector<Limit> in;
        call >> in;
        std::vector<std::pair<std::string, std::string>> limits;
        for (auto& l : in) limits.emplace_back(l.get<0>(), l.get<1>());
        ref.daemon->set_machine_limits(ref.resolve(call), limits);
        reply_empty(call);
    });
    property(kBerthMachineInterface, "Frozen", "b", [](auto& r, Machine& m) { r << is_frozen(m); });
    auto* d = ref->daemon;
    o.registerProperty(kBerthMachineInterface, "Enabled", "b", guarded_get([ref, d](sdbus::PropertyGetReply& r) {
                           Machine& m = ref->resolve(r);
                           r << (!m.is_host() && d->enabled().contains(m.name));
                       }));
}

}  // namespace berth::machined
