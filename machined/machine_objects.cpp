// The API: docs/dbus-api.md, "org.freedesktop.machine1.Machine" and "io.berth.Machine1".
#include "machined/machine_objects.hpp"

#include <sdbus-c++/Error.h>

#include <cstring>
#include <functional>

#include "machined/bus_error.hpp"
#include "machined/bus_path.hpp"
#include "machined/daemon.hpp"
#include "machined/objects.hpp"
#include "machined/operations.hpp"

namespace berth::machined {

namespace {

Daemon& daemon_of(void* userdata) { return *static_cast<Daemon*>(userdata); }

// Runs a handler body: an sdbus::Error (the API's error name) or any other exception becomes the
// call's error reply; sd-bus sends it when we return the negative value.
int guard(sd_bus_error* error, const std::function<int()>& body) {
    try {
        return body();
    } catch (const sdbus::Error& e) {
        return sd_bus_error_set(error, e.getName().c_str(), e.getMessage().c_str());
    } catch (const std::exception& e) {
        return sd_bus_error_set(error, kFailed, e.what());
    }
}

void check(int r, const char* what) {
    if (r < 0) throw sdbus::Error(kFailed, std::string("Failed to ") + what + ": " + std::strerror(-r));
}

// The Machine a vtable callback was found for: the find callback hands out names, not pointers, so a
// machine removed meanwhile is a clean NoSuchMachine.
struct Found {
    Daemon* daemon;
    std::string name;  // "" for /machine/self
};

// One Found per object path asked about would leak; the find callback stores it in a slot of ours instead.
thread_local Found g_found;

Machine& machine_for(sd_bus_message* m, void* userdata) {
    auto* f = static_cast<Found*>(userdata);
    return f->name.empty() ? f->daemon->machine_of_caller(m) : f->daemon->require(f->name);
}

int reply_empty(sd_bus_message* m) { return sd_bus_reply_method_return(m, ""); }

// ---- org.freedesktop.machine1.Machine --------------------------------------------------------------

int method_terminate(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    return guard(error, [&] {
        auto* f = static_cast<Found*>(userdata);
        f->daemon->authorize(m, "Terminate");
        f->daemon->terminate_machine(machine_for(m, userdata));
        return reply_empty(m);
    });
}

int method_kill(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    return guard(error, [&] {
        auto* f = static_cast<Found*>(userdata);
        f->daemon->authorize(m, "Kill");
        const char* who = nullptr;
        int32_t sig = 0;
        check(sd_bus_message_read(m, "si", &who, &sig), "read the arguments");
        ok_or_throw(kill_machine(machine_for(m, userdata), who, sig));
        return reply_empty(m);
    });
}

int method_get_addresses(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    return guard(error, [&] {
        auto r = machine_addresses(machine_for(m, userdata));
        if (!r.ok() && r.error().code == ENXIO) throw_bus_error(kNoPrivateNetworking, r.error().message);
        auto addresses = value_or_throw(std::move(r));
        sd_bus_message* reply = nullptr;
        check(sd_bus_message_new_method_return(m, &reply), "build the reply");
        int rc = sd_bus_message_open_container(reply, 'a', "(iay)");
        for (auto& [family, bytes] : addresses) {
            if (rc >= 0) rc = sd_bus_message_open_container(reply, 'r', "iay");
            if (rc >= 0) rc = sd_bus_message_append(reply, "i", family);
            if (rc >= 0) rc = sd_bus_message_append_array(reply, 'y', bytes.data(), bytes.size());
            if (rc >= 0) rc = sd_bus_message_close_container(reply);
        }
        if (rc >= 0) rc = sd_bus_message_close_container(reply);
        if (rc >= 0) rc = sd_bus_send(nullptr, reply, nullptr);
        sd_bus_message_unref(reply);
        check(rc, "send the reply");
        return 1;
    });
}

int method_get_os_release(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    return guard(error, [&] {
        auto os = value_or_throw(machine_os_release(machine_for(m, userdata)));
        sd_bus_message* reply = nullptr;
        check(sd_bus_message_new_method_return(m, &reply), "build the reply");
        int rc = sd_bus_message_open_container(reply, 'a', "{ss}");
        for (auto& [k, v] : os)
            if (rc >= 0) rc = sd_bus_message_append(reply, "{ss}", k.c_str(), v.c_str());
        if (rc >= 0) rc = sd_bus_message_close_container(reply);
        if (rc >= 0) rc = sd_bus_send(nullptr, reply, nullptr);
        sd_bus_message_unref(reply);
        check(rc, "send the reply");
        return 1;
    });
}

int method_get_uid_shift(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    return guard(error, [&] {
        uint32_t shift = value_or_throw(machine_uid_shift(machine_for(m, userdata)));
        return sd_bus_reply_method_return(m, "u", shift);
    });
}

int method_not_supported(sd_bus_message* m, void*, sd_bus_error* error) {
    return sd_bus_error_setf(error, kNotSupported, "%s is not supported by this machined yet",
                             sd_bus_message_get_member(m));
}

#define BERTH_PROPERTY(fn, sig, expr)                                                                     \
    int fn(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* userdata,         \
           sd_bus_error* error) {                                                                         \
        return guard(error, [&] {                                                                         \
            Machine& mach = machine_for(sd_bus_get_current_message(sd_bus_message_get_bus(reply)), userdata); \
            return sd_bus_message_append(reply, sig, expr);                                               \
        });                                                                                               \
    }

BERTH_PROPERTY(prop_name, "s", mach.name.c_str())
BERTH_PROPERTY(prop_timestamp, "t", mach.timestamp_realtime)
BERTH_PROPERTY(prop_timestamp_monotonic, "t", mach.timestamp_monotonic)
BERTH_PROPERTY(prop_service, "s", mach.service.c_str())
BERTH_PROPERTY(prop_unit, "s", mach.unit.c_str())
BERTH_PROPERTY(prop_leader, "u", static_cast<uint32_t>(mach.leader))
BERTH_PROPERTY(prop_class, "s", mach.klass.c_str())
BERTH_PROPERTY(prop_root_directory, "s", mach.root_directory.c_str())
BERTH_PROPERTY(prop_state, "s", mach.state.c_str())
BERTH_PROPERTY(prop_frozen, "b", static_cast<int>(is_frozen(mach)))

int prop_id(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* userdata,
            sd_bus_error* error) {
    return guard(error, [&] {
        Machine& mach = machine_for(sd_bus_get_current_message(sd_bus_message_get_bus(reply)), userdata);
        return sd_bus_message_append_array(reply, 'y', mach.id.data(), mach.id.size());
    });
}

int prop_network_interfaces(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* userdata,
                            sd_bus_error* error) {
    return guard(error, [&] {
        Machine& mach = machine_for(sd_bus_get_current_message(sd_bus_message_get_bus(reply)), userdata);
        return sd_bus_message_append_array(reply, 'i', mach.ifindices.data(), mach.ifindices.size() * sizeof(int32_t));
    });
}

int prop_enabled(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void* userdata,
                 sd_bus_error* error) {
    return guard(error, [&] {
        auto* f = static_cast<Found*>(userdata);
        Machine& mach = machine_for(sd_bus_get_current_message(sd_bus_message_get_bus(reply)), userdata);
        return sd_bus_message_append(reply, "b", static_cast<int>(!mach.is_host() && f->daemon->enabled().contains(mach.name)));
    });
}

// ---- io.berth.Machine1 -------------------------------------------------------------------------------

int method_freeze_thaw(sd_bus_message* m, void* userdata, sd_bus_error* error, bool frozen) {
    return guard(error, [&] {
        auto* f = static_cast<Found*>(userdata);
        f->daemon->authorize(m, frozen ? "Freeze" : "Thaw");
        f->daemon->freeze_machine(machine_for(m, userdata), frozen);
        return reply_empty(m);
    });
}
int method_freeze(sd_bus_message* m, void* u, sd_bus_error* e) { return method_freeze_thaw(m, u, e, true); }
int method_thaw(sd_bus_message* m, void* u, sd_bus_error* e) { return method_freeze_thaw(m, u, e, false); }

int method_set_limits(sd_bus_message* m, void* userdata, sd_bus_error* error) {
    return guard(error, [&] {
        auto* f = static_cast<Found*>(userdata);
        f->daemon->authorize(m, "SetLimits");
        std::vector<std::pair<std::string, std::string>> limits;
        check(sd_bus_message_enter_container(m, 'a', "(ss)"), "read the arguments");
        const char *k = nullptr, *v = nullptr;
        int r;
        while ((r = sd_bus_message_read(m, "(ss)", &k, &v)) > 0) limits.emplace_back(k, v);
        check(r, "read the arguments");
        check(sd_bus_message_exit_container(m), "read the arguments");
        f->daemon->set_machine_limits(machine_for(m, userdata), limits);
        return reply_empty(m);
    });
}

#define PROP(name, sig, fn) SD_BUS_PROPERTY(name, sig, fn, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)

const sd_bus_vtable kMachineVtable[] = {
    SD_BUS_VTABLE_START(0),
    PROP("Name", "s", prop_name),
    PROP("Id", "ay", prop_id),
    PROP("Timestamp", "t", prop_timestamp),
    PROP("TimestampMonotonic", "t", prop_timestamp_monotonic),
    PROP("Service", "s", prop_service),
    PROP("Unit", "s", prop_unit),
    PROP("Leader", "u", prop_leader),
    PROP("Class", "s", prop_class),
    PROP("RootDirectory", "s", prop_root_directory),
    PROP("NetworkInterfaces", "ai", prop_network_interfaces),
    PROP("State", "s", prop_state),
    SD_BUS_METHOD("Terminate", "", "", method_terminate, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Kill", "si", "", method_kill, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetAddresses", "", "a(iay)", method_get_addresses, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetOSRelease", "", "a{ss}", method_get_os_release, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetUIDShift", "", "u", method_get_uid_shift, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("OpenPTY", "", "hs", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("OpenLogin", "", "hs", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("OpenShell", "ssasas", "hs", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("BindMount", "ssbb", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CopyFrom", "ss", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CopyTo", "ss", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CopyFromWithFlags", "sst", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("CopyToWithFlags", "sst", "", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("OpenRootDirectory", "", "h", method_not_supported, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

const sd_bus_vtable kBerthMachineVtable[] = {
    SD_BUS_VTABLE_START(0),
    PROP("Frozen", "b", prop_frozen),
    PROP("Enabled", "b", prop_enabled),
    SD_BUS_METHOD("Freeze", "", "", method_freeze, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Thaw", "", "", method_thaw, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SetLimits", "a(ss)", "", method_set_limits, SD_BUS_VTABLE_UNPRIVILEGED),
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

MachineObjects::MachineObjects(Daemon& daemon, sd_bus* bus) : bus_(sd_bus_ref(bus)) {
    auto add = [&](int r, sd_bus_slot* slot, const char* what) {
        if (r < 0) throw sdbus::Error(kFailed, std::string("Failed to export ") + what + ": " + std::strerror(-r));
        slots_.push_back(slot);
    };
    sd_bus_slot* slot = nullptr;
    add(sd_bus_add_fallback_vtable(bus, &slot, kMachinePrefix, kMachineInterface, kMachineVtable, find_machine, &daemon),
        slot, kMachineInterface);
    add(sd_bus_add_fallback_vtable(bus, &slot, kMachinePrefix, kBerthMachineInterface, kBerthMachineVtable,
                                   find_machine, &daemon),
        slot, kBerthMachineInterface);
    add(sd_bus_add_node_enumerator(bus, &slot, kMachinePrefix, enumerate_machines, &daemon), slot, "the machine list");
}

MachineObjects::~MachineObjects() {
    for (auto* s : slots_) sd_bus_slot_unref(s);
    sd_bus_unref(bus_);
}

void MachineObjects::emit_changed(const Machine& m, const char* interface, const std::vector<std::string>& props) {
    std::vector<char*> names;
    for (auto& p : props) names.push_back(const_cast<char*>(p.c_str()));
    names.push_back(nullptr);
    (void)sd_bus_emit_properties_changed_strv(bus_, machine_object_path(m.name).c_str(), interface, names.data());
}

}  // namespace berth::machined
