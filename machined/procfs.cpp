#include "machined/procfs.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <sstream>

#include "common/fileio.hpp"

namespace berth::machined {

std::optional<std::vector<std::string>> stat_fields_of(std::string_view stat) {
    auto close = stat.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::istringstream in(std::string(stat.substr(close + 1)));
    std::vector<std::string> fields;
    for (std::string f; in >> f;) fields.push_back(f);
    return fields;
}

std::optional<uint64_t> status_number(std::string_view status, std::string_view key) {
    std::string needle = "\n" + std::string(key) + ":";
    auto at = status.find(needle);
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view rest = status.substr(at + needle.size());
    while (!rest.empty() && (rest[0] == ' ' || rest[0] == '\t')) rest.remove_prefix(1);
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
    if (ec != std::errc() || end == rest.data()) return std::nullopt;
    return v;
}

std::vector<IdRange> parse_id_map(std::string_view text) {
    std::vector<IdRange> out;
    std::istringstream in{std::string(text)};
    for (IdRange r; in >> r.inner >> r.outer >> r.count;) out.push_back(r);
    return out;
}

namespace {
// The fields after the command name, which may itself contain spaces and parentheses.
Result<std::vector<std::string>> stat_fields(pid_t pid) {
    BERTH_ASSIGN(std::string text, read_file(fmt::format("/proc/{}/stat", pid)));
    auto fields = stat_fields_of(text);
    if (!fields) return plain_error(fmt::format("Malformed /proc/{}/stat", pid), EIO);
    return std::move(*fields);
}
}  // namespace

Result<uint64_t> process_start_time(pid_t pid) {
    BERTH_ASSIGN(auto fields, stat_fields(pid));
    // fields[0] is field 3 (state); field 22 is fields[19].
    uint64_t v = 0;
    if (fields.size() < 20 ||
        std::from_chars(fields[19].data(), fields[19].data() + fields[19].size(), v).ec != std::errc())
        return plain_error(fmt::format("Malformed /proc/{}/stat", pid), EIO);
    return v;
}

bool process_running(pid_t pid) {
    auto fields = stat_fields(pid);
    return fields.ok() && !fields->empty() && (*fields)[0] != "Z" && (*fields)[0] != "X";
}

Result<uid_t> process_uid(pid_t pid) {
    BERTH_ASSIGN(std::string text, read_file(fmt::format("/proc/{}/status", pid)));
    auto uid = status_number(text, "Uid");
    if (!uid) return plain_error(fmt::format("No Uid in /proc/{}/status", pid), EIO);
    return static_cast<uid_t>(*uid);
}

Result<pid_t> parent_pid(pid_t pid) {
    BERTH_ASSIGN(std::string text, read_file(fmt::format("/proc/{}/status", pid)));
    auto ppid = status_number(text, "PPid");
    if (!ppid) return plain_error(fmt::format("No PPid in /proc/{}/status", pid), EIO);
    return static_cast<pid_t>(*ppid);
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
    return parse_id_map(text);
}

}  // namespace berth::machined
