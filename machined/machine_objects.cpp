// The API: docs/dbus-api.md, "org.freedesktop.machine1.Machine" and "io.berth.Machine1".
#include "machined/machine_objects.hpp"

#include <cstdlib>
#include <cstring>

#include "machined/bus_error.hpp"
#include "machined/bus_path.hpp"
#include "machined/daemon.hpp"
#include "machined/file_methods.hpp"
#include "machined/objects.hpp"
#include "machined/operations.hpp"
#include "machined/root_directory.hpp"
#include "machined/shell_methods.hpp"

namespace berth::machined {

namespace {

Daemon& daemon_of(void* userdata) { return *static_cast<Daemon*>(userdata); }

// The Machine a vtable callback was found for: the find callback hands out names, not pointers, so a
// machine removed meanwhile is a clean NoSuchMachine.
struct Found {
    Daemon* daemon;
    std::string name;  // "" for /machine/self
};

// One Found per object path asked about would leak; the find callback stores it in a slot of ours instead.
thread_local Found g_found;

Machine& machine_for(sd_bus_message* call, Found& f) {
    return f.name.empty() ? f.daemon->machine_of_caller(call) : f.daemon->require(f.name);
}

// ---- org.freedesktop.machine1.Machine --------------------------------------------------------------

int method_terminate(sd_bus_message* call, Found& f) {
    f.daemon->authorize(call);
    f.daemon->terminate_machine(machine_for(call, f));
    return reply_empty(call);
}

int method_kill(sd_bus_message* call, Found& f) {
    f.daemon->authorize(call);
    const char* who = nullptr;
    int32_t sig = 0;
    read(call, "si", &who, &sig);
    ok_or_throw(kill_machine(machine_for(call, f), who, sig));
    return reply_empty(call);
}

int method_get_addresses(sd_bus_message* call, Found& f) { return reply_addresses(call, machine_for(call, f)); }
int method_get_os_release(sd_bus_message* call, Found& f) { return reply_os_release(call, machine_for(call, f)); }
int method_get_uid_shift(sd_bus_message* call, Found& f) { return reply_uid_shift(call, machine_for(call, f)); }
int method_open_root_directory(sd_bus_message* call, Found& f) {
    return reply_root_directory(call, *f.daemon, machine_for(call, f));
}

int method_bind(sd_bus_message* call, Found& f) { return method_bind_mount(call, *f.daemon, machine_for(call, f)); }
int method_copy(sd_bus_message* call, Found& f) { return method_copy_files(call, *f.daemon, machine_for(call, f)); }

// A property of the machine asked about: Get(reply, machine).
template <auto Get>
int machine_property(sd_bus_message* reply, sd_bus_message* call, Found& f) {
    return Get(reply, machine_for(call, f));
}

int prop_name(sd_bus_message* r, const Machine& m) { return sd_bus_message_append(r, "s", m.name.c_str()); }
int prop_id(sd_bus_message* r, const Machine& m) { return sd_bus_message_append_array(r, 'y', m.id.data(), m.id.size()); }
int prop_timestamp(sd_bus_message* r, const Machine& m) { return sd_bus_message_append(r, "t", m.timestamp_realtime); }
int prop_timestamp_monotonic(sd_bus_message* r, const Machine& m) {
    return sd_bus_message_append(r, "t", m.timestamp_monotonic);
}
int prop_service(sd_bus_message* r, const Machine& m) { return sd_bus_message_append(r, "s", m.service.c_str()); }
int prop_unit(sd_bus_message* r, const Machine& m) { return sd_bus_message_append(r, "s", m.unit.c_str()); }
int prop_leader(sd_bus_message* r, const Machine& m) {
    return sd_bus_message_append(r, "u", static_cast<uint32_t>(m.leader));
}
int prop_class(sd_bus_message* r, const Machine& m) { return sd_bus_message_append(r, "s", m.klass.c_str()); }
int prop_root_directory(sd_bus_message* r, const Machine& m) {
    return sd_bus_message_append(r, "s", m.root_directory.c_str());
}
int prop_network_interfaces(sd_bus_message* r, const Machine& m) {
    return sd_bus_message_append_array(r, 'i', m.ifindices.data(), m.ifindices.size() * sizeof(int32_t));
}
int prop_state(sd_bus_message* r, const Machine& m) { return sd_bus_message_append(r, "s", m.state.c_str()); }
int prop_control_group(sd_bus_message* r, const Machine& m) { return sd_bus_message_append(r, "s", m.cgroup.c_str()); }
int prop_frozen(sd_bus_message* r, const Machine& m) { return sd_bus_message_append(r, "b", static_cast<int>(is_frozen(m))); }

int prop_enabled(sd_bus_message* reply, sd_bus_message* call, Found& f) {
    Machine& m = machine_for(call, f);
    return sd_bus_message_append(reply, "b", static_cast<int>(!m.is_host() && f.daemon->enabled().contains(m.name)));
}

template <int (*Reply)(sd_bus_message*, Daemon&, Machine&)>
int method_enter(sd_bus_message* call, Found& f) {
    return Reply(call, *f.daemon, machine_for(call, f));
}

// ---- io.berth.Machine1 -------------------------------------------------------------------------------

template <bool Freeze>
int method_freeze(sd_bus_message* call, Found& f) {
    f.daemon->authorize(call);
    f.daemon->freeze_machine(machine_for(call, f), Freeze);
    return reply_empty(call);
}

template <bool Pty>
int method_execute(sd_bus_message* call, Found& f) {
    return reply_execute(call, *f.daemon, machine_for(call, f), Pty);
}

int method_set_limits(sd_bus_message* call, Found& f) {
    f.daemon->authorize(call);
    auto limits = read_string_pairs(call);
    f.daemon->set_machine_limits(machine_for(call, f), limits);
    return reply_empty(call);
}

// Exactly as systemd 252 declares them (tests/data/systemd-252-machine1-machine.xml, checked by
// machined_introspect_test.cpp): member order, argument names, flags. Name .. NetworkInterfaces are
// "const" (fixed at registration); State is "false": it does change (closing), but 252 sends no
// PropertiesChanged for it and declares so, and sd-bus would refuse to emit one for it now anyway.
// Every method is unprivileged, as in 252: the mutating ones are decided by access.hpp per call.
#define CONST_PROP(name, sig, get) \
    SD_BUS_PROPERTY(name, sig, property<machine_property<get>>, 0, SD_BUS_VTABLE_PROPERTY_CONST)

const sd_bus_vtable kMachineVtable[] = {
    SD_BUS_VTABLE_START(0),
    CONST_PROP("Name", "s", prop_name),
    CONST_PROP("Id", "ay", prop_id),
    CONST_PROP("Timestamp", "t", prop_timestamp),
    CONST_PROP("TimestampMonotonic", "t", prop_timestamp_monotonic),
    CONST_PROP("Service", "s", prop_service),
    CONST_PROP("Unit", "s", prop_unit),
    CONST_PROP("Leader", "u", prop_leader),
    CONST_PROP("Class", "s", prop_class),
    CONST_PROP("RootDirectory", "s", prop_root_directory),
    CONST_PROP("NetworkInterfaces", "ai", prop_network_interfaces),
    SD_BUS_PROPERTY("State", "s", property<machine_property<prop_state>>, 0, 0),
    SD_BUS_METHOD_WITH_ARGS("Terminate", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method<method_terminate>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Kill", SD_BUS_ARGS("s", who, "i", signal), SD_BUS_NO_RESULT, method<method_kill>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetAddresses", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(iay)", addresses),
                            method<method_get_addresses>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetOSRelease", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{ss}", fields),
                            method<method_get_os_release>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetUIDShift", SD_BUS_NO_ARGS, SD_BUS_RESULT("u", shift), method<method_get_uid_shift>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("OpenPTY", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", pty, "s", pty_path),
                            method<method_enter<reply_open_pty>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("OpenLogin", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", pty, "s", pty_path),
                            method<method_enter<reply_open_login>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("OpenShell", SD_BUS_ARGS("s", user, "s", path, "as", args, "as", environment),
                            SD_BUS_RESULT("h", pty, "s", pty_path), method<method_enter<reply_open_shell>>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("BindMount", SD_BUS_ARGS("s", source, "s", destination, "b", read_only, "b", mkdir),
                            SD_BUS_NO_RESULT, method<method_bind>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CopyFrom", SD_BUS_ARGS("s", source, "s", destination), SD_BUS_NO_RESULT,
                            method<method_copy>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CopyTo", SD_BUS_ARGS("s", source, "s", destination), SD_BUS_NO_RESULT,
                            method<method_copy>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CopyFromWithFlags", SD_BUS_ARGS("s", source, "s", destination, "t", flags),
                            SD_BUS_NO_RESULT, method<method_copy>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CopyToWithFlags", SD_BUS_ARGS("s", source, "s", destination, "t", flags),
                            SD_BUS_NO_RESULT, method<method_copy>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("OpenRootDirectory", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", fd),
                            method<method_open_root_directory>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

// berth's own: members as before, with argument names. Frozen and Enabled do send PropertiesChanged.
const sd_bus_vtable kBerthMachineVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Frozen", "b", property<machine_property<prop_frozen>>, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Enabled", "b", property<prop_enabled>, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    // The machine's own cgroup in the unified hierarchy ("" when it has none): machinectl status shows its tree.
    SD_BUS_PROPERTY("ControlGroup", "s", property<machine_property<prop_control_group>>, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_METHOD_WITH_ARGS("Freeze", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method<method_freeze<true>>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Thaw", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method<method_freeze<false>>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("SetLimits", SD_BUS_ARGS("a(ss)", limits), SD_BUS_NO_RESULT, method<method_set_limits>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ExecutePTY", SD_BUS_ARGS("s", user, "s", path, "as", args, "as", environment),
                            SD_BUS_RESULT("h", pty, "s", pty_path, "h", status), method<method_execute<true>>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    // The names spelled out: stdin, stdout and stderr are macros, which SD_BUS_ARGS would expand.
    SD_BUS_METHOD_WITH_NAMES("Execute", "ssasashhh",
                             "user\0path\0args\0environment\0stdin\0stdout\0stderr\0", "h", "status\0",
                             method<method_execute<false>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

// PATH -> the machine's name; "self" stays "" (the caller's machine, decided per call).
int find_machine(sd_bus*, const char* path, const char*, void* userdata, void** found, sd_bus_error*) {
    Daemon& d = daemon_of(userdata);
    std::string_view p(path), prefix(kMachinePrefix);
    if (p.size() <= prefix.size() + 1 || p.substr(0, prefix.size()) != prefix || p[prefix.size()] != '/') return 0;
    std::string_view label = p.substr(prefix.size() + 1);
    if (label.find('/') != std::string_view::npos) return 0;
    std::string name;
    if (label != "self") {
        auto n = bus_label_unescape(label);
        if (!n || !d.registry().find(*n)) return 0;
        name = *n;
    }
    // Single-threaded: the callbacks for this lookup run before the next lookup replaces it.
    g_found = Found{&d, name};
    *found = &g_found;
    return 1;
}

int enumerate_machines(sd_bus*, const char*, void* userdata, char*** nodes, sd_bus_error*) {
    auto all = daemon_of(userdata).registry().all();
    char** list = static_cast<char**>(calloc(all.size() + 2, sizeof(char*)));
    if (!list) return -ENOMEM;
    size_t i = 0;
    for (auto* m : all) list[i++] = strdup(machine_object_path(m->name).c_str());
    list[i++] = strdup((std::string(kMachinePrefix) + "/self").c_str());
    *nodes = list;
    return 0;
}

}  // namespace

int reply_addresses(sd_bus_message* call, const Machine& m) {
    auto r = machine_addresses(m);
    if (!r.ok() && r.error().code == ENXIO) throw_bus_error(kNoPrivateNetworking, r.error().message);
    auto addresses = value_or_throw(std::move(r));
    Reply reply(call);
    append_each(reply.get(), "(iay)", addresses, [&](const auto& address) {
        append_container(reply.get(), 'r', "iay", [&] {
            append(reply.get(), "i", address.first);
            append_array(reply.get(), 'y', address.second);
        });
    });
    return reply.send();
}

int reply_os_release(sd_bus_message* call, const Machine& m) {
    auto os = value_or_throw(machine_os_release(m));
    Reply reply(call);
    append_string_map(reply.get(), os);
    return reply.send();
}

int reply_uid_shift(sd_bus_message* call, const Machine& m) {
    return sd_bus_reply_method_return(call, "u", value_or_throw(machine_uid_shift(m)));
}

MachineObjects::MachineObjects(Daemon& daemon, sd_bus* bus) : bus_(bus) {
    slots_.push_back(add_vtable(bus, kMachinePrefix, kMachineInterface, kMachineVtable, &daemon, find_machine));
    slots_.push_back(
        add_vtable(bus, kMachinePrefix, kBerthMachineInterface, kBerthMachineVtable, &daemon, find_machine));
    sd_bus_slot* slot = nullptr;
    check(sd_bus_add_node_enumerator(bus, &slot, kMachinePrefix, enumerate_machines, &daemon),
          "export the machine list");
    slots_.emplace_back(slot);
}

void MachineObjects::emit_changed(const Machine& m, const char* interface, const std::vector<std::string>& props) {
    (void)emit_properties_changed(bus_, machine_object_path(m.name), interface, props);
}

}  // namespace berth::machined
