// The API: docs/dbus-api.md, "io.berth.Manager1".
// io.berth.Manager1 on /org/freedesktop/machine1: what systemd's machined lacks (docs/machined.md).
#include "common/machine_name.hpp"
#include "machined/bus_error.hpp"
#include "machined/daemon.hpp"
#include "machined/objects.hpp"
#include "machined/sd_bus_object.hpp"

namespace berth::machined {

namespace {

std::string read_image_name(sd_bus_message* call) {
    std::string name = read_string(call);
    auto ok = check_machine_name(name);
    if (!ok.ok()) throw_bus_error(kInvalidArgs, ok.error().message);
    return name;
}

template <bool Freeze>
int method_freeze(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    d.freeze_machine(d.require(read_string(call)), Freeze);
    return reply_empty(call);
}

int method_start(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    d.start_machine(read_image_name(call), call);
    return 1;
}

template <bool Enable>
int method_enable(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    std::string name = read_image_name(call);
    if (Enable && !d.supervisor().image_exists(name))
        throw_bus_error(kNoSuchImage, fmt::format("No image \"{}\" in {}", name, d.config().pool));
    bool systemd = systemd_is_running();
    ok_or_throw(Enable ? d.enabled().enable(name, systemd) : d.enabled().disable(name, systemd));
    d.emit_manager_changed(kBerthManagerInterface, {"EnabledMachines"});
    if (auto* m = d.registry().find(name)) d.emit_machine_changed(*m, kBerthMachineInterface, {"Enabled"});
    return reply_empty(call);
}

int method_set_limits(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    std::string name = read_string(call);
    auto limits = read_string_pairs(call);
    d.set_machine_limits(d.require(name), limits);
    return reply_empty(call);
}

int prop_enabled_machines(sd_bus_message* reply, sd_bus_message*, Daemon& d) {
    append_strings(reply, d.enabled().list());
    return 1;
}

}  // namespace

// Sorted by name within methods and properties, as introspection has always shown them; the arguments
// are named as in docs/dbus-api.md.
const sd_bus_vtable kBerthManagerVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("DisableMachine", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method<method_enable<false>>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("EnableMachine", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method<method_enable<true>>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("FreezeMachine", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method<method_freeze<true>>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("SetMachineLimits", SD_BUS_ARGS("s", name, "a(ss)", limits), SD_BUS_NO_RESULT,
                            method<method_set_limits>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("StartMachine", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method<method_start>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ThawMachine", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method<method_freeze<false>>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("EnabledMachines", "as", property<prop_enabled_machines>, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_VTABLE_END,
};

}  // namespace berth::machined
