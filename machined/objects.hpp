// The API: docs/dbus-api.md.
// The bus objects: the interfaces machined exports, each a plain sd-bus vtable (sd_bus_object.hpp says
// why). Handlers let no exception escape but BusError with the API's error name.
#pragma once

#include <systemd/sd-bus.h>

#include "common/bus_names.hpp"
#include "machined/bus_error.hpp"
#include "machined/machine.hpp"

namespace berth::machined {

using bus::kBerthMachineInterface;
using bus::kBerthManagerInterface;
using bus::kImageInterface;
using bus::kMachineInterface;
using bus::kManagerInterface;

// On /org/freedesktop/machine1, the Daemon as userdata: org.freedesktop.machine1.Manager and io.berth.Manager1.
extern const sd_bus_vtable kManagerVtable[];
extern const sd_bus_vtable kBerthManagerVtable[];

// The machine objects themselves: machine_objects.hpp.

// The replies a Manager method by name and the machine object's own method share.
int reply_addresses(sd_bus_message* call, const Machine& m);   // GetMachineAddresses, GetAddresses
int reply_os_release(sd_bus_message* call, const Machine& m);  // GetMachineOSRelease, GetOSRelease
int reply_uid_shift(sd_bus_message* call, const Machine& m);   // GetMachineUIDShift, GetUIDShift

}  // namespace berth::machined
