// How machined stops a machine cleanly (TerminateMachine), and the systemd unit a machine runs in.
//
// A booted guest stops cleanly only when asked the right way: SIGTERM to systemd as PID 1 means
// "re-execute", not "stop". So machined asks, in this order:
//   - under systemd, the machine's own unit (nspawn@NAME.service, systemd-nspawn@NAME.service,
//     machine-NAME.scope): StopUnit, as systemd-machined does (the Daemon does that, it has the bus);
//   - the machine's supervisor, when the leader's parent registered it (the bus saw it connect: our
//     nspawn connects the socket itself and lets a helper speak over it): SIGTERM, which our nspawn and
//     systemd-nspawn both turn into the
//     guest's own kill signal (SIGRTMIN+3 for a booted systemd) and then exit with the guest;
//   - else the leader itself, with the signal that fits it: SIGRTMIN+3 when it is systemd, SIGTERM otherwise.
// Whatever is still there after terminate_timeout_sec is killed (cgroup.kill).
#pragma once

#include <sys/types.h>

#include <set>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "machined/machine.hpp"
#include "machined/register_request.hpp"

namespace berth::machined {

// The unit a cgroup belongs to, as systemd's cg_path_get_unit(): the first component after the slices,
// when it is a unit name ("/machine.slice/nspawn@web.service/payload" -> "nspawn@web.service"); "" when
// there is none ("/berth/web", "/").
std::string unit_of_cgroup(std::string_view path);
// systemd's unit_name_escape() of an instance ("deb-1" -> "deb\x2d1").
std::string unit_name_escape(std::string_view s);
// Whether `unit` is a unit that runs machine `name` and nothing else (listed above).
bool unit_is_machines_own(const std::string& unit, const std::string& name);

// Records the leader's parent as the machine's supervisor when `caller` is that parent (and it is not
// machined, the bus daemon or their ancestors, and runs as the caller unless the caller is root), with a
// pidfd on it. Nothing otherwise.
void find_supervisor(Machine& m, const Caller& caller, const std::set<pid_t>& protected_pids);
// Whether the supervisor recorded is still alive and still the leader's parent.
bool supervisor_still_parent(const Machine& m);

// The signal that asks the leader itself to shut down: SIGRTMIN+3 for systemd, SIGTERM otherwise.
int leader_stop_signal(const Machine& m);

// Asks the supervisor, or else the leader (see above); returns what was done, for the log.
Result<std::string> ask_machine_to_stop(const Machine& m);

}  // namespace berth::machined
