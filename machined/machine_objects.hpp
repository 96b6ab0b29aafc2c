// The API: docs/dbus-api.md, "org.freedesktop.machine1.Machine" and "io.berth.Machine1".
// The machine objects, /org/freedesktop/machine1/machine/LABEL (and .../self): org.freedesktop.machine1.Machine
// and io.berth.Machine1 as sd-bus fallback vtables with a find callback and a node enumerator, rather
// than an sdbus-c++ object per machine. A machine then costs its registry entry and nothing on the bus
// side: with per-machine objects 1000 machines took 13 MiB more (every member of every object is a
// callback, strings and sd-bus hash entries), and registration paid for building them.
#pragma once

#include <systemd/sd-bus.h>

#include <string>
#include <vector>

#include "machined/machine.hpp"
#include "machined/sd_bus_object.hpp"

namespace berth::machined {

class Daemon;

class MachineObjects {
public:
    // `bus` outlives the objects; throws BusError when sd-bus refuses them.
    MachineObjects(Daemon& daemon, sd_bus* bus);
    MachineObjects(const MachineObjects&) = delete;
    MachineObjects& operator=(const MachineObjects&) = delete;

    void emit_changed(const Machine& m, const char* interface, const std::vector<std::string>& props);

private:
    sd_bus* bus_;
    std::vector<SlotPtr> slots_;
};

}  // namespace berth::machined
