#include "procfs.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>

#include "fileio.hpp"

namespace berth::machined {

namespace {
// The fields after the command name, which may itself contain spaces and parentheses.
Result<std::vector<std::string>> stat_fields(pid_t pid) {
    BERTH_ASSIGN(std::string text, read_file(fmt::format("/proc/{}/stat", pid)));
    auto close = text.rfind(')');
    if (close == std::string::npos) return plain_error(fmt::format("Malformed /proc/{}/stat", pid), EIO);
    std::istringstream in(text.substr(close + 1));
    std::vector<std::string> fields;
    for (std::string f; in >> f;) fields.push_back(f);
    return fields;
}
}  // namespace

Result<uint64_t> process_start_time(pid_t pid) {
    BERTH_ASSIGN(auto fields, stat_fields(pid));
    // fields[0] is field 3 (state); field 22 is fields[19].
    if (fields.size() < 20) return plain_error(fmt::format("Malformed /proc/{}/stat", pid), EIO);
    return std::stoull(fields[19]);
}

bool process_running(pid_t pid) {
    auto fields = stat_fields(pid);
    return fields.ok() && !fields->empty() && (*fields)[0] != "Z" && (*fields)[0] != "X";
}

Result<uid_t> process_uid(pid_t pid) {
    BERTH_ASSIGN(std::string text, read_file(fmt::format("/proc/{}/status", pid)));
    auto at = text.find("\nUid:");
    if (at == std::string::npos) return plain_error(fmt::format("No Uid in /proc/{}/status", pid), EIO);
    return static_cast<uid_t>(std::stoul(text.substr(at + 5)));
}

Result<pid_t> parent_pid(pid_t pid) {
    BERTH_ASSIGN(std::string text, read_file(fmt::format("/proc/{}/status", pid)));
    auto at = text.find("\nPPid:");
    if (at == std::string::npos) return plain_error(fmt::format("No PPid in /proc/{}/status", pid), EIO);
    return static_cast<pid_t>(std::stol(text.substr(at + 6)));
}

Result<UniqueFd> pidfd_open(pid_t pid) {
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return errno_error(fmt::format("Failed to open process {}", pid));
    return UniqueFd(fd);
}

Status pidfd_send_signal(int pidfd, int sig) {
    if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) < 0)
        return errno_error(fmt::format("Failed to send signal {}", sig));
    return {};
}

Result<std::vector<IdRange>> read_id_map(pid_t pid, const char* which) {
    BERTH_ASSIGN(std::string text, read_file(fmt::format("/proc/{}/{}", pid, which)));
    std::vector<IdRange> out;
    std::istringstream in(text);
    for (IdRange r; in >> r.inner >> r.outer >> r.count;) out.push_back(r);
    return out;
}

}  // namespace berth::machined
