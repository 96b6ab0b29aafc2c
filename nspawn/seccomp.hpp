// System call filter (libseccomp), compiled in the supervisor before clone and loaded by the child as its
// last step: kernel modules, kexec, open_by_handle_at, bpf, perf_event_open, iopl/ioperm, swapon/swapoff,
// clock setting, syslog, keyctl/add_key/request_key, quotactl, fanotify_init and obsolete calls fail with
// EPERM unless the matching capability was granted; --system-call-filter= adds (NAME) or removes (~NAME)
// entries.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace berth::nspawn {

struct Privileges {
    uint64_t capabilities = 0;  // retained set (see caps.hpp: default set, +--capability, -drop)
    bool no_new_privileges = false;
    std::vector<std::string> syscall_allow;  // --system-call-filter=NAME
    std::vector<std::string> syscall_deny;   // --system-call-filter=~NAME
};

// A --capability or --drop-capability value ("CAP_A,b" or "all") as a mask; errors name `option`.
Result<uint64_t> parse_capabilities(const std::string& value, const char* option);
// One --system-call-filter value: NAME or @GROUP to allow, ~NAME to forbid.
Status add_system_call_filter(const std::string& value, Privileges& p);
// Once all are in: the retained capabilities, the default set (private_network adds NET_ADMIN) with
// `added`, without `dropped` (a dropped capability stays dropped, whatever else asked for it).
void finish_privileges(Privileges& p, uint64_t added, uint64_t dropped, bool private_network);

struct SeccompProgram {
    std::vector<sock_filter> code;
};

// Supervisor, before clone.
Result<SeccompProgram> prepare_seccomp(const Privileges& p);

// The calls a machine with these privileges may not make (EPERM).
std::set<std::string> denied_calls(const Privileges& p);
// libseccomp's program denying `deny`, compiled now.
Result<SeccompProgram> compile_denied(const std::set<std::string>& deny);

// A program compiled at build time, with the calls it denies (sorted).
struct BuiltinSeccomp {
    std::span<const std::string_view> denied;
    std::span<const sock_filter> code;
};
// The default privileges' program when the binary embeds it, else null.
const BuiltinSeccomp* builtin_seccomp();
// Supervisor, once the child exists and before its payload runs: the program the child loads, recorded for
// machined (common/seccomp_record.hpp) with the leader it goes into; removed when this goes (the boot ends).
class RecordedSeccomp {
public:
    RecordedSeccomp() = default;
    RecordedSeccomp(RecordedSeccomp&& o) noexcept : machine_(std::exchange(o.machine_, {})) {}
    RecordedSeccomp& operator=(RecordedSeccomp&& o) noexcept;
    ~RecordedSeccomp();

private:
    friend Result<RecordedSeccomp> configure_seccomp_record(const std::string&, pid_t, const SeccompProgram&);
    std::string machine_;  // "": nothing recorded
};
Result<RecordedSeccomp> configure_seccomp_record(const std::string& machine, pid_t leader, const SeccompProgram& prog);

// Child, last step before exec (still holding CAP_SYS_ADMIN, or with no_new_privs set).
Status load_seccomp_in_child(const SeccompProgram& prog, bool no_new_privileges);

}  // namespace berth::nspawn
