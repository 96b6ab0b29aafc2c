// The API: docs/dbus-api.md, "Getting inside a machine".
// The methods that put a process inside a machine, shared by the Manager (by name) and the Machine object:
// OpenMachinePTY/OpenPTY, OpenMachineLogin/OpenLogin, OpenMachineShell/OpenShell (systemd 252's), and
// io.berth.Machine1's ExecutePTY and Execute. A guest whose PID 1 is systemd and whose system bus answers
// gets its login and shell from its own systemd, as systemd-machined does it; any other guest (busybox, a
// guest still booting, --as-pid2) is entered by machined itself (enter.hpp). The arguments after the
// machine's name are read from `call`.
#pragma once

#include <systemd/sd-bus.h>

#include "machined/machine.hpp"

namespace berth::machined {

class Daemon;

int reply_open_pty(sd_bus_message* call, Daemon& d, Machine& m);
int reply_open_login(sd_bus_message* call, Daemon& d, Machine& m);
int reply_open_shell(sd_bus_message* call, Daemon& d, Machine& m);
int reply_execute(sd_bus_message* call, Daemon& d, Machine& m, bool pty);

}  // namespace berth::machined
