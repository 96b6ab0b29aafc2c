// The bus objects: the interfaces machined exports, each registered onto an sdbus::IObject by one
// function. Handlers let no exception escape but sdbus::Error with the API's error name.
#pragma once

#include <sdbus-c++/IObject.h>

#include <functional>
#include <string>

#include "machine.hpp"

namespace berth::machined {

class Daemon;

inline constexpr const char* kManagerInterface = "org.freedesktop.machine1.Manager";
inline constexpr const char* kMachineInterface = "org.freedesktop.machine1.Machine";
inline constexpr const char* kBerthManagerInterface = "io.berth.Manager1";
inline constexpr const char* kBerthMachineInterface = "io.berth.Machine1";

// org.freedesktop.machine1.Manager on /org/freedesktop/machine1.
void add_manager_interface(sdbus::IObject& object, Daemon& daemon);
// io.berth.Manager1 on /org/freedesktop/machine1.
void add_berth_manager_interface(sdbus::IObject& object, Daemon& daemon);

// Which machine a machine object stands for, given the message being processed (a call, or the reply
// a property getter fills in): a fixed name, or the caller's own machine for /machine/self.
using MachineResolver = std::function<Machine&(const sdbus::Message&)>;
// org.freedesktop.machine1.Machine and io.berth.Machine1.
void add_machine_interfaces(sdbus::IObject& object, Daemon& daemon, MachineResolver resolve);

// Wraps a handler: other exceptions become org.freedesktop.DBus.Error.Failed.
sdbus::method_callback guarded(std::function<void(sdbus::MethodCall&)> handler);
sdbus::property_get_callback guarded_get(std::function<void(sdbus::PropertyGetReply&)> getter);

}  // namespace berth::machined
