// The API: docs/dbus-api.md, "io.berth.Manager1".
// io.berth.Manager1 on /org/freedesktop/machine1: what systemd's machined lacks (docs/machined.md).
#include <sdbus-c++/Types.h>

#include "common/machine_name.hpp"
#include "machined/bus_error.hpp"
#include "machined/daemon.hpp"
#include "machined/objects.hpp"

namespace berth::machined {

namespace {
using Limit = sdbus::Struct<std::string, std::string>;

std::string read_image_name(sdbus::MethodCall& call) {
    std::string name;
    call >> name;
    auto ok = check_machine_name(name);
    if (!ok.ok()) throw_bus_error(kInvalidArgs, ok.error().message);
    return name;
}
}  // namespace

void add_berth_manager_interface(sdbus::IObject& o, Daemon& d) {
    auto method = [&](const char* name, const char* in, std::function<void(sdbus::MethodCall&)> fn) {
        o.registerMethod(kBerthManagerInterface, name, in, "", guarded(std::move(fn)));
    };
    for (bool freeze : {true, false})
        method(freeze ? "FreezeMachine" : "ThawMachine", "s", [&d, freeze](sdbus::MethodCall& call) {
            d.authorize(call, freeze ? "FreezeMachine" : "ThawMachine");
            std::string name;
            call >> name;
            d.freeze_machine(d.require(name), freeze);
            call.createReply().send();
        });
    method("StartMachine", "s", [&d](sdbus::MethodCall& call) {
        d.authorize(call, "StartMachine");
        d.start_machine(read_image_name(call), call);
    });
    for (bool enable : {true, false})
        method(enable ? "EnableMachine" : "DisableMachine", "s", [&d, enable](sdbus::MethodCall& call) {
            d.authorize(call, enable ? "EnableMachine" : "DisableMachine");
            std::string name = read_image_name(call);
            if (enable && !d.supervisor().image_exists(name))
                throw_bus_error(kNoSuchImage, fmt::format("No image \"{}\" in {}", name, d.config().pool));
            bool systemd = systemd_is_running();
            ok_or_throw(enable ? d.enabled().enable(name, systemd) : d.enabled().disable(name, systemd));
            d.emit_manager_changed(kBerthManagerInterface, {"EnabledMachines"});
            if (auto* m = d.registry().find(name)) d.emit_machine_changed(*m, kBerthMachineInterface, {"Enabled"});
            call.createReply().send();
        });
    method("SetMachineLimits", "sa(ss)", [&d](sdbus::MethodCall& call) {
        d.authorize(call, "SetMachineLimits");
        std::string name;
        std::vector<Limit> in;
        call >> name >> in;
        std::vector<std::pair<std::string, std::string>> limits;
        for (auto& l : in) limits.emplace_back(l.get<0>(), l.get<1>());
        d.set_machine_limits(d.require(name), limits);
        call.createReply().send();
    });
    o.registerProperty(kBerthManagerInterface, "EnabledMachines", "as",
                       guarded_get([&d](sdbus::PropertyGetReply& r) { r << d.enabled().list(); }));
}

}  // namespace berth::machined
