// The verbs over berth's own io.berth.Manager1: start, enable, disable, freeze, thaw, set-property.
#include <fmt/format.h>

#include "machinectl/bus.hpp"
#include "machinectl/set_property.hpp"
#include "machinectl/verbs.hpp"

namespace berth::machinectl {

namespace {

Status each(Bus& bus, const Options& o, const char* method, const char* what) {
    for (auto& name : o.args) {
        BERTH_TRY_CTX(bus.call(kBerthManagerIface, method, name), "Could not {} machine {}", what, quote_arg(name));
    }
    return {};
}

}  // namespace

// machined answers StartMachine once the machine registered, or when nspawn failed, or at its own
// deadline (start_timeout_sec, then it stops that nspawn): no deadline of ours, which would give up on a
// start that machined still carries out (sd-bus's default 25 s is less than machined's default 30 s).
Status verb_start(Bus& bus, const Options& o) {
    for (auto& name : o.args) {
        BERTH_TRY_CTX(bus.call_unbounded(kBerthManagerIface, "StartMachine", name), "Could not start machine {}",
                      quote_arg(name));
    }
    return {};
}
Status verb_enable(Bus& bus, const Options& o) { return each(bus, o, "EnableMachine", "enable"); }
Status verb_disable(Bus& bus, const Options& o) { return each(bus, o, "DisableMachine", "disable"); }
Status verb_freeze(Bus& bus, const Options& o) { return each(bus, o, "FreezeMachine", "freeze"); }
Status verb_thaw(Bus& bus, const Options& o) { return each(bus, o, "ThawMachine", "thaw"); }

Status verb_set_property(Bus& bus, const Options& o) {
    const std::string& name = o.args.front();
    BERTH_ASSIGN(auto limits, parse_assignments({o.args.begin() + 1, o.args.end()}));
    std::vector<sdbus::Struct<std::string, std::string>> arg;
    for (auto& [key, value] : limits) arg.emplace_back(key, value);
    BERTH_TRY_CTX(bus.call(kBerthManagerIface, "SetMachineLimits", name, arg), "Could not set properties of machine {}",
                  quote_arg(name));
    return {};
}

}  // namespace berth::machinectl
