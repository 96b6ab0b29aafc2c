// The API: docs/dbus-api.md ("Copying and bind mounts"); what they do: docs/machined.md.
// Files into and out of a running machine: CopyFrom/CopyTo (+WithFlags) and BindMount, the Manager's by-name
// forms and the Machine object's alike. Each runs in a child machined forks (forked_call.hpp) and is
// answered when that ends. Every path on the machine's side is resolved inside the machine's root as the
// machine sees it (/proc/LEADER/root, its mounts included) and never leaves it.
#pragma once

#include <systemd/sd-bus.h>

#include "machined/daemon.hpp"
#include "machined/machine.hpp"

namespace berth::machined {

// The call's member says which: CopyFrom*, CopyTo*, with "t" flags after "ss" when it ends in WithFlags.
int method_copy_files(sd_bus_message* call, Daemon& d, Machine& m);
// BindMount / BindMountMachine: "ssbb" source, destination, read_only, mkdir.
int method_bind_mount(sd_bus_message* call, Daemon& d, Machine& m);

}  // namespace berth::machined
