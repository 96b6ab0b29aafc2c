// The API: docs/dbus-api.md, "org.freedesktop.machine1.Manager".
// org.freedesktop.machine1.Manager as systemd 252 has it (see machine1-api.md).
#include <cstdint>
#include <limits>

#include "machined/bus_error.hpp"
#include "machined/bus_path.hpp"
#include "machined/daemon.hpp"
#include "machined/objects.hpp"
#include "machined/operations.hpp"
#include "machined/sd_bus_object.hpp"

namespace berth::machined {

namespace {

int reply_path(sd_bus_message* call, const std::string& name) {
    return sd_bus_reply_method_return(call, "o", machine_object_path(name).c_str());
}

const char* missing_mapping(bool group) { return group ? kNoSuchGroupMapping : kNoSuchUserMapping; }

int method_get_machine(sd_bus_message* call, Daemon& d) { return reply_path(call, d.require(read_string(call)).name); }

int method_get_machine_by_pid(sd_bus_message* call, Daemon& d) {
    uint32_t pid = 0;
    read(call, "u", &pid);
    if (pid > static_cast<uint32_t>(std::numeric_limits<pid_t>::max()))
        throw_bus_error(kInvalidArgs, fmt::format("Invalid PID {}", pid));
    pid_t p = pid == 0 ? d.caller_of(call).pid : static_cast<pid_t>(pid);
    return reply_path(call, d.require_by_pid(p).name);
}

int method_list_machines(sd_bus_message* call, Daemon& d) {
    // Straight into the reply (no copy of the list first): this is the call clients poll.
    Reply reply(call);
    append_each(reply.get(), "(ssso)", d.registry().all(), [&](const Machine* m) {
        append(reply.get(), "(ssso)", m->name.c_str(), m->klass.c_str(), m->service.c_str(),
               machine_object_path(m->name).c_str());
    });
    return reply.send();
}

RegistrationRequest read_registration(sd_bus_message* call, bool with_network) {
    RegistrationRequest req;
    req.name = read_string(call);
    req.id = read_array<uint8_t>(call, 'y');
    const char *service = nullptr, *klass = nullptr, *root_directory = nullptr;
    read(call, "ssus", &service, &klass, &req.leader, &root_directory);
    req.service = service;
    req.klass = klass;
    req.root_directory = root_directory;
    if (with_network) req.ifindices = read_array<int32_t>(call, 'i');
    return req;
}

// RegisterMachine, RegisterMachineWithNetwork, CreateMachine, CreateMachineWithNetwork.
template <bool Network, bool Create>
int method_register(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    auto req = read_registration(call, Network);
    // Create's unit properties: there is no unit without systemd.
    if (Create) check(sd_bus_message_skip(call, "a(sv)"), "read the arguments");
    Caller caller = d.caller_of(call);
    return reply_path(call, d.register_machine(req, caller, Create).name);
}

int method_unregister(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    Machine& m = d.require(read_string(call));
    if (m.is_host()) throw_bus_error(kInvalidArgs, "The host cannot be unregistered");
    d.unregister_machine(m.name);
    return reply_empty(call);
}

int method_terminate(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    d.terminate_machine(read_string(call));
    return reply_empty(call);
}

int method_kill(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    const char *name = nullptr, *who = nullptr;
    int32_t sig = 0;
    read(call, "ssi", &name, &who, &sig);
    ok_or_throw(kill_machine(d.require(name), who, sig));
    return reply_empty(call);
}

int method_get_addresses(sd_bus_message* call, Daemon& d) { return reply_addresses(call, d.require(read_string(call))); }
int method_get_os_release(sd_bus_message* call, Daemon& d) { return reply_os_release(call, d.require(read_string(call))); }
int method_get_uid_shift(sd_bus_message* call, Daemon& d) { return reply_uid_shift(call, d.require(read_string(call))); }

template <bool Group>
int method_map_from(sd_bus_message* call, Daemon& d) {
    const char* name = nullptr;
    uint32_t inner = 0;
    read(call, "su", &name, &inner);
    auto r = map_from_machine(d.require(name), inner, Group);
    if (!r.ok())
        throw_bus_error(r.error().code == ENOENT ? missing_mapping(Group) : bus_error_name(r.error().code),
                        r.error().message);
    return sd_bus_reply_method_return(call, "u", *r);
}

template <bool Group>
int method_map_to(sd_bus_message* call, Daemon& d) {
    uint32_t outer = 0;
    read(call, "u", &outer);
    for (auto* m : d.registry().all()) {
        if (m->is_host()) continue;
        auto r = map_to_machine(*m, outer, Group);
        if (r.ok())
            return sd_bus_reply_method_return(call, "sou", m->name.c_str(), machine_object_path(m->name).c_str(), *r);
    }
    throw_bus_error(missing_mapping(Group), fmt::format("No matching {} mapping for {}", Group ? "group" : "user", outer));
}

int prop_pool_path(sd_bus_message* reply, sd_bus_message*, Daemon& d) {
    return sd_bus_message_append(reply, "s", d.config().pool.c_str());
}

// Usage and limit need quota support (btrfs subvolumes) that the pool does not have: unknown.
int prop_pool_unknown(sd_bus_message* reply, sd_bus_message*, Daemon&) {
    return sd_bus_message_append(reply, "t", std::numeric_limits<uint64_t>::max());
}

}  // namespace

// Members sorted by name within methods, signals and properties: the order introspection has always
// shown. Every method is unprivileged as far as sd-bus goes (access.hpp decides per call, as polkit does
// for systemd's machined). The image, login/shell, bind and copy methods are there from the start.
const sd_bus_vtable kManagerVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("BindMountMachine", "sssbb", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CleanPool", "s", "a(st)", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CloneImage", "ssb", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CopyFromMachine", "sss", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CopyFromMachineWithFlags", "ssst", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CopyToMachine", "sss", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CopyToMachineWithFlags", "ssst", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CreateMachine", "sayssusa(sv)", "o", (method<method_register<false, true>>),
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CreateMachineWithNetwork", "sayssusaia(sv)", "o", (method<method_register<true, true>>),
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetImage", "s", "o", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetImageHostname", "s", "s", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetImageMachineID", "s", "ay", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetImageMachineInfo", "s", "a{ss}", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetImageOSRelease", "s", "a{ss}", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetMachine", "s", "o", method<method_get_machine>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetMachineAddresses", "s", "a(iay)", method<method_get_addresses>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetMachineByPID", "u", "o", method<method_get_machine_by_pid>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetMachineOSRelease", "s", "a{ss}", method<method_get_os_release>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetMachineUIDShift", "s", "u", method<method_get_uid_shift>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("KillMachine", "ssi", "", method<method_kill>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("ListImages", "", "a(ssbttto)", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("ListMachines", "", "a(ssso)", method<method_list_machines>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("MapFromMachineGroup", "su", "u", method<method_map_from<true>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("MapFromMachineUser", "su", "u", method<method_map_from<false>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("MapToMachineGroup", "u", "sou", method<method_map_to<true>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("MapToMachineUser", "u", "sou", method<method_map_to<false>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("MarkImageReadOnly", "sb", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("OpenMachineLogin", "s", "hs", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("OpenMachinePTY", "s", "hs", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("OpenMachineRootDirectory", "s", "h", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("OpenMachineShell", "sssasas", "hs", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("RegisterMachine", "sayssus", "o", (method<method_register<false, false>>),
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("RegisterMachineWithNetwork", "sayssusai", "o", (method<method_register<true, false>>),
                  SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("RemoveImage", "s", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("RenameImage", "ss", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SetImageLimit", "st", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SetPoolLimit", "t", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("TerminateMachine", "s", "", method<method_terminate>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("UnregisterMachine", "s", "", method<method_unregister>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL("MachineNew", "so", 0),
    SD_BUS_SIGNAL("MachineRemoved", "so", 0),
    SD_BUS_PROPERTY("PoolLimit", "t", property<prop_pool_unknown>, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("PoolPath", "s", property<prop_pool_path>, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("PoolUsage", "t", property<prop_pool_unknown>, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_VTABLE_END,
};

}  // namespace berth::machined
