// The system call filter a machine's PID 1 runs under, recorded by nspawn (paths::seccomp_record) so that
// machined puts exactly that filter on what it runs inside the machine (a shell, a login). Root-only: a
// filter says what a machine may not do, which is nobody else's business. The record names the leader it
// was loaded into, so a record left by a killed nspawn never applies to a later machine of the same name.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth {

struct SeccompRecord {
    pid_t leader = 0;
    std::vector<sock_filter> code;
};

// Atomically (readers see the whole program or none), mode 0600 in a 0700 directory.
Status write_seccomp_record(const std::string& machine, pid_t leader, std::span<const sock_filter> code);
// ENOENT when there is none.
Result<SeccompRecord> read_seccomp_record(const std::string& machine);
void remove_seccomp_record(const std::string& machine);

// The text of a record and back (unit tests); nullopt-like errors name `what`.
std::string format_seccomp_record(pid_t leader, std::span<const sock_filter> code);
Result<SeccompRecord> parse_seccomp_record(const std::string& text, const std::string& what);

}  // namespace berth
