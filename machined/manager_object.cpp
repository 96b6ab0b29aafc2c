// The API: docs/dbus-api.md, "org.freedesktop.machine1.Manager".
// org.freedesktop.machine1.Manager as systemd 252 has it (see machine1-api.md).
#include <signal.h>

#include <sdbus-c++/Types.h>

#include <limits>

#include "machined/bus_error.hpp"
#include "machined/bus_path.hpp"
#include "machined/daemon.hpp"
#include "machined/objects.hpp"
#include "machined/operations.hpp"
#include "machined/sdbus_raw.hpp"

namespace berth::machined {

namespace {

using Address = sdbus::Struct<int32_t, std::vector<uint8_t>>;
using ScopeProperty = sdbus::Struct<std::string, sdbus::Variant>;

void reply_path(sdbus::MethodCall& call, const std::string& name) {
    auto reply = call.createReply();
    reply << sdbus::ObjectPath(machine_object_path(name));
    reply.send();
}

void reply_empty(sdbus::MethodCall& call) { call.createReply().send(); }

[[noreturn]] void not_supported(const std::string& what) {
    throw_bus_error(kNotSupported, what + " is not supported by this machined yet");
}

// The methods of the image, login/shell, bind and copy issues: in the introspection from the start.
void add_unsupported(sdbus::IObject& o) {
    struct Stub {
        const char* name;
        const char* in;
        const char* out;
    };
    static constexpr Stub kStubs[] = {
        {"GetImage", "s", "o"},
        {"ListImages", "", "a(ssbttto)"},
        {"OpenMachinePTY", "s", "hs"},
        {"OpenMachineLogin", "s", "hs"},
        {"OpenMachineShell", "sssasas", "hs"},
        {"BindMountMachine", "sssbb", ""},
        {"CopyFromMachine", "sss", ""},
        {"CopyToMachine", "sss", ""},
        {"CopyFromMachineWithFlags", "ssst", ""},
        {"CopyToMachineWithFlags", "ssst", ""},
        {"OpenMachineRootDirectory", "s", "h"},
        {"RemoveImage", "s", ""},
        {"RenameImage", "ss", ""},
        {"CloneImage", "ssb", ""},
        {"MarkImageReadOnly", "sb", ""},
        {"GetImageHostname", "s", "s"},
        {"GetImageMachineID", "s", "ay"},
        {"GetImageMachineInfo", "s", "a{ss}"},
        {"GetImageOSRelease", "s", "a{ss}"},
        {"SetPoolLimit", "t", ""},
        {"SetImageLimit", "st", ""},
        {"CleanPool", "s", "a(st)"},
    };
    for (auto& s : kStubs) {
        std::string name = s.name;
        o.registerMethod(kManagerInterface, name, s.in, s.out,
                         guarded([name](sdbus::MethodCall&) { not_supported(name); }));
    }
}

RegistrationRequest read_registration(sdbus::MethodCall& call, bool with_network) {
    RegistrationRequest req;
    call >> req.name >> req.id >> req.service >> req.klass >> req.leader >> req.root_directory;
    if (with_network) call >> req.ifindices;
    return req;
}

}  // namespace

void add_manager_interface(sdbus::IObject& o, Daemon& d) {
    auto method = [&](const char* name, const char* in, const char* out, std::function<void(sdbus::MethodCall&)> fn) {
        o.registerMethod(kManagerInterface, name, in, out, guarded(std::move(fn)));
    };

    method("GetMachine", "s", "o", [&d](sdbus::MethodCall& call) {
        std::string name;
        call >> name;
        reply_path(call, d.require(name).name);
    });
    method("GetMachineByPID", "u", "o", [&d](sdbus::MethodCall& call) {
        uint32_t pid;
        call >> pid;
        if (pid > static_cast<uint32_t>(std::numeric_limits<pid_t>::max()))
            throw_bus_error(kInvalidArgs, fmt::format("Invalid PID {}", pid));
        pid_t p = pid == 0 ? d.caller_of(call).pid : static_cast<pid_t>(pid);
        reply_path(call, d.require_by_pid(p).name);
    });
    method("ListMachines", "", "a(ssso)", [&d](sdbus::MethodCall& call) {
        // Straight into the reply (no copy of the list first): this is the call clients poll.
        auto reply = call.createReply();
        sd_bus_message* raw = raw_message(reply);
        int r = sd_bus_message_open_container(raw, 'a', "(ssso)");
        for (auto* m : d.registry().all())
            if (r >= 0)
                r = sd_bus_message_append(raw, "(ssso)", m->name.c_str(), m->klass.c_str(), m->service.c_str(),
                                          machine_object_path(m->name).c_str());
        if (r >= 0) r = sd_bus_message_close_container(raw);
        if (r < 0) throw_bus_error(kFailed, fmt::format("Failed to build the machine list: {}", std::strerror(-r)));
        reply.send();
    });

    auto reg = [&d](sdbus::MethodCall& call, const char* what, bool network, bool create) {
        d.authorize(call, what);
        auto req = read_registration(call, network);
        if (create) {
            std::vector<ScopeProperty> scope_properties;  // unit properties: there is no unit without systemd
            call >> scope_properties;
        }
        Caller caller = d.caller_of(call);
        reply_path(call, d.register_machine(req, caller, create).name);
    };
    method("RegisterMachine", "sayssus", "o",
           [reg](sdbus::MethodCall& call) { reg(call, "RegisterMachine", false, false); });
    method("RegisterMachineWithNetwork", "sayssusai", "o",
           [reg](sdbus::MethodCall& call) { reg(call, "RegisterMachineWithNetwork", true, false); });
    method("CreateMachine", "sayssusa(sv)", "o",
           [reg](sdbus::MethodCall& call) { reg(call, "CreateMachine", false, true); });
    method("CreateMachineWithNetwork", "sayssusaia(sv)", "o",
           [reg](sdbus::MethodCall& call) { reg(call, "CreateMachineWithNetwork", true, true); });

    method("UnregisterMachine", "s", "", [&d](sdbus::MethodCall& call) {
        d.authorize(call, "UnregisterMachine");
        std::string name;
        call >> name;
        Machine& m = d.require(name);
        if (m.is_host()) throw_bus_error(kInvalidArgs, "The host cannot be unregistered");
        d.unregister_machine(m.name);
        reply_empty(call);
    });
    method("TerminateMachine", "s", "", [&d](sdbus::MethodCall& call) {
        d.authorize(call, "TerminateMachine");
        std::string name;
        call >> name;
        d.terminate_machine(name);
        reply_empty(call);
    });
    method("KillMachine", "ssi", "", [&d](sdbus::MethodCall& call) {
        d.authorize(call, "KillMachine");
        std::string name, who;
        int32_t sig;
        call >> name >> who >> sig;
        ok_or_throw(kill_machine(d.require(name), who, sig));
        reply_empty(call);
    });
    method("GetMachineAddresses", "s", "a(iay)", [&d](sdbus::MethodCall& call) {
        std::string name;
        call >> name;
        auto r = machine_addresses(d.require(name));
        if (!r.ok() && r.error().code == ENXIO) throw_bus_error(kNoPrivateNetworking, r.error().message);
        std::vector<Address> out;
        for (auto& [family, bytes] : value_or_throw(std::move(r))) out.emplace_back(family, bytes);
        auto reply = call.createReply();
        reply << out;
        reply.send();
    });
    method("GetMachineOSRelease", "s", "a{ss}", [&d](sdbus::MethodCall& call) {
        std::string name;
        call >> name;
        auto reply = call.createReply();
        reply << value_or_throw(machine_os_release(d.require(name)));
        reply.send();
    });
    method("GetMachineUIDShift", "s", "u", [&d](sdbus::MethodCall& call) {
        std::string name;
        call >> name;
        auto reply = call.createReply();
        reply << value_or_throw(machine_uid_shift(d.require(name)));
        reply.send();
    });
    for (bool group : {false, true}) {
        const char* missing = group ? kNoSuchGroupMapping : kNoSuchUserMapping;
        method(group ? "MapFromMachineGroup" : "MapFromMachineUser", "su", "u", [&d, group, missing](sdbus::MethodCall& call) {
            std::string name;
            uint32_t inner;
            call >> name >> inner;
            auto r = map_from_machine(d.require(name), inner, group);
            if (!r.ok()) throw_bus_error(r.error().code == ENOENT ? missing : bus_error_name(r.error().code), r.error().message);
            auto reply = call.createReply();
            reply << *r;
            reply.send();
        });
        method(group ? "MapToMachineGroup" : "MapToMachineUser", "u", "sou", [&d, group, missing](sdbus::MethodCall& call) {
            uint32_t outer;
            call >> outer;
            for (auto* m : d.registry().all()) {
                if (m->is_host()) continue;
                auto r = map_to_machine(*m, outer, group);
                if (!r.ok()) continue;
                auto reply = call.createReply();
                reply << m->name << sdbus::ObjectPath(machine_object_path(m->name)) << *r;
                reply.send();
                return;
            }
            throw_bus_error(missing, fmt::format("No matching {} mapping for {}", group ? "group" : "user", outer));
        });
    }
    add_unsupported(o);

    o.registerSignal(kManagerInterface, "MachineNew", "so");
    o.registerSignal(kManagerInterface, "MachineRemoved", "so");

    o.registerProperty(kManagerInterface, "PoolPath", "s",
                       guarded_get([&d](sdbus::PropertyGetReply& r) { r << d.config().pool; }));
    // Usage and limit need quota support (btrfs subvolumes) that the pool does not have: unknown.
    for (const char* prop : {"PoolUsage", "PoolLimit"})
        o.registerProperty(kManagerInterface, prop, "t", guarded_get([](sdbus::PropertyGetReply& r) {
                               r << std::numeric_limits<uint64_t>::max();
                           }));
}

}  // namespace berth::machined
