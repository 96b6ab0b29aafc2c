// The API: docs/dbus-api.md.
// The bus objects: the interfaces machined exports, each registered onto an sdbus::IObject by one
// function. Handlers let no exception escape but sdbus::Error with the API's error name.
#pragma once

#include <sdbus-c++/IObject.h>

#include <functional>
#include <string>

#include "common/bus_names.hpp"
#include "machined/bus_error.hpp"
#include "machined/machine.hpp"

namespace berth::machined {

class Daemon;

using bus::kBerthMachineInterface;
using bus::kBerthManagerInterface;
using bus::kMachineInterface;
using bus::kManagerInterface;

// org.freedesktop.machine1.Manager on /org/freedesktop/machine1.
void add_manager_interface(sdbus::IObject& object, Daemon& daemon);
// io.berth.Manager1 on /org/freedesktop/machine1.
void add_berth_manager_interface(sdbus::IObject& object, Daemon& daemon);

// The machine objects themselves: machine_objects.hpp.

// Wraps a handler: other exceptions become org.freedesktop.DBus.Error.Failed. Templates rather than
// std::function parameters: a handler capturing a pointer or two then lives inside the callback object
// itself, and a thousand machine objects of some thirty members each allocate nothing for them.
template <typename F>
sdbus::method_callback guarded(F handler) {
    return [handler](sdbus::MethodCall call) {
        try {
            handler(call);
        } catch (const sdbus::Error&) {
            throw;
        } catch (const std::exception& e) {
            throw sdbus::Error(kFailed, e.what());
        }
    };
}
template <typename F>
sdbus::property_get_callback guarded_get(F getter) {
    return [getter](sdbus::PropertyGetReply& reply) {
        try {
            getter(reply);
        } catch (const sdbus::Error&) {
            throw;
        } catch (const std::exception& e) {
            throw sdbus::Error(kFailed, e.what());
        }
    };
}

}  // namespace berth::machined
