// Running a command inside a machine, confined exactly as the machine's PID 1 (its leader) is and never
// less: machined forks a waiter (A) that joins the leader's cgroups (the unified one and, on hybrid hosts,
// its v1 ones; while A is still privileged on the host), then every namespace of the leader, user
// namespace first (machine_namespaces.hpp); A forks the command (B) inside the PID namespace and waits for
// it. A takes the leader's process limits (rlimits) before it leaves the host's user namespace; B takes the
// leader's capability bounding set, its no_new_privs, its system call filter (as nspawn
// recorded it, common/seccomp_record.hpp), then the user, and executes. When B ends, A writes how to the
// status pipe and exits; machined reaps A (Children).
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "machined/guest_user.hpp"
#include "machined/machine.hpp"
#include "machined/machine_namespaces.hpp"

namespace berth::machined {

// What the leader has that B must have too, read from /proc/LEADER and the filter record.
struct LeaderConfinement {
    // Host paths of the cgroup.procs files A must join, unified first: the leader's, less those machined
    // (and so A, at its fork) is in already. Every write to one waits for an RCU grace period in the
    // kernel (cgroup_threadgroup_rwsem: 10-30 ms here), so none is made that changes nothing.
    std::vector<std::string> cgroup_procs;
    // The first of cgroup_procs is the unified hierarchy's: A is created right in it with clone3's
    // CLONE_INTO_CGROUP (no migration, no grace period), and writes it only where that fails.
    bool first_is_unified = false;
    uint64_t bounding = 0;                   // CapBnd
    bool no_new_privs = false;
    // The leader's process limits (/proc/LEADER/limits), by resource: set in A, so B starts with them.
    std::vector<std::pair<int, rlimit>> limits;
    std::vector<sock_filter> filter;  // empty: the leader runs under no filter
};
// /proc/PID/limits: one line per resource, in the kernel's order (RLIMIT_CPU first); lines it cannot read
// are left out.
std::vector<std::pair<int, rlimit>> parse_proc_limits(std::string_view text);
// EPERM when the leader runs under a filter that was not recorded for it (a machine of another
// systemd-nspawn, say): nothing runs in such a machine unconfined.
Result<LeaderConfinement> read_leader_confinement(const Machine& m);

// Where B's standard streams go: the peer of a pty master (its controlling terminal), or three fds.
struct CommandIo {
    int pty_master = -1;
    int in = -1, out = -1, err = -1;
};

struct EnterRequest {
    std::string machine;  // for messages
    const MachineNamespaces* ns = nullptr;
    const LeaderConfinement* confinement = nullptr;
    const GuestUser* user = nullptr;
    const GuestCommand* command = nullptr;
    CommandIo io;
    int status_fd = -1;  // A writes status_line() here when B ends; -1: nowhere
    // Login on a pty, as a getty would: when B ends, A runs the command again on the terminal at this path
    // (inside the machine) for as long as the terminal is there, i.e. its master is open on the other side
    // (`machinectl login` stays until Ctrl-] x3, and expects a new prompt after a logout). "": run once.
    std::string respawn_on;
};

// Forks A; returns its pid (a child of machined, for Children::watch). Failures after the fork are told
// on B's standard error (the pty or `io.err`): A's own (joining the machine) leave the status pipe
// without a line, B's before its command runs end it with status 127 (not found) or 126 (any other).
Result<pid_t> spawn_in_machine(const EnterRequest& r);

// "exited N\n", "killed SIG\n", "dumped SIG\n" for a wait status.
std::string status_line(int wait_status);
// A hexadecimal field of /proc/PID/status ("CapBnd").
std::optional<uint64_t> status_hex(std::string_view status, std::string_view key);
// The cgroup.procs files of /proc/PID/cgroup's text: "0::/x" under `unified_root`, "N:ctrls:/x" under
// the v1 mount found in `mounts` (/proc/self/mounts' text) for those controllers (or name=...).
std::vector<std::string> cgroup_procs_files(std::string_view proc_cgroup, const std::string& unified_root,
                                            std::string_view mounts);
// `leader` less the files that are also in `own` (machined's: where A already is), order kept.
std::vector<std::string> cgroups_to_join(const std::vector<std::string>& leader, const std::vector<std::string>& own);

}  // namespace berth::machined
