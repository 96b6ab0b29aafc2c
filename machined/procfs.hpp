// What machined reads about processes from /proc, and pidfds.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth::machined {

// Field 22 of /proc/PID/stat (clock ticks after boot): with the pid it names one process for good,
// which is how a restarted machined knows a recorded leader is still the same process.
Result<uint64_t> process_start_time(pid_t pid);
// Alive and not a zombie.
bool process_running(pid_t pid);

// The real uid, from /proc/PID/status.
Result<uid_t> process_uid(pid_t pid);
// The parent's pid, from /proc/PID/status.
Result<pid_t> parent_pid(pid_t pid);

Result<UniqueFd> pidfd_open(pid_t pid);
Status pidfd_send_signal(int pidfd, int sig);

// One line of /proc/PID/uid_map or gid_map: `count` ids from `inner` map onto `outer`.
struct IdRange {
    uint32_t inner = 0, outer = 0, count = 0;
};
Result<std::vector<IdRange>> read_id_map(pid_t pid, const char* which);  // "uid_map" | "gid_map"

// The parsers behind the readers above, on the file's text (fuzzed: tests/fuzz). Malformed text is
// nullopt, never an exception. A process names itself (its comm in /proc/PID/stat is any 15 bytes,
// parentheses and spaces included), so the fields after it are found from the last ')'.
std::optional<std::vector<std::string>> stat_fields_of(std::string_view stat);
// The first number after "\nKEY:" in /proc/PID/status ("Uid", "PPid").
std::optional<uint64_t> status_number(std::string_view status, std::string_view key);
std::vector<IdRange> parse_id_map(std::string_view text);

}  // namespace berth::machined
