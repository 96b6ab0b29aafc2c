#include "machined/supervision.hpp"

#include <poll.h>
#include <signal.h>

#include <array>

#include "common/fileio.hpp"
#include "common/signals.hpp"
#include "machined/procfs.hpp"

namespace berth::machined {

namespace {

constexpr std::array kUnitSuffixes = {".service", ".socket",    ".target", ".device", ".mount", ".automount",
                                      ".swap",    ".timer",     ".path",   ".slice",  ".scope"};

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// systemd's unit_name_is_valid() for plain names and instances (no templates): PREFIX[@INSTANCE].SUFFIX
// of [A-Za-z0-9:_.\\-] (and '@' once), at most 255 bytes.
bool is_unit_name(std::string_view s) {
    if (s.empty() || s.size() > 255) return false;
    auto dot = s.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    bool suffix_ok = false;
    for (auto suf : kUnitSuffixes) suffix_ok = suffix_ok || s.substr(dot) == suf;
    if (!suffix_ok) return false;
    std::string_view stem = s.substr(0, dot);
    auto at = stem.find('@');
    if (at != std::string_view::npos && (at == 0 || at + 1 == stem.size() || stem.find('@', at + 1) != std::string_view::npos))
        return false;
    for (char c : stem)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '.' || c == '\\' || c == '-' || c == '@'))
            return false;
    return true;
}

bool exited(int pidfd) {
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

}  // namespace

std::string unit_of_cgroup(std::string_view path) {
    while (!path.empty()) {
        while (!path.empty() && path.front() == '/') path.remove_prefix(1);
        auto end = path.find('/');
        std::string_view part = path.substr(0, end);
        if (part.empty()) return {};
        if (!ends_with(part, ".slice")) return is_unit_name(part) ? std::string(part) : std::string();
        path = end == std::string_view::npos ? std::string_view() : path.substr(end);
    }
    return {};
}

std::string unit_name_escape(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '/')
            out += '-';
        else if (c == '-' || c == '\\' || (c == '.' && i == 0) || !(std::isalnum(c) || c == ':' || c == '_' || c == '.'))
            out += fmt::format("\\x{:02x}", c);
        else
            out += static_cast<char>(c);
    }
    return out;
}

bool unit_is_machines_own(const std::string& unit, const std::string& name) {
    for (const std::string& n : {name, unit_name_escape(name)})
        if (unit == "nspawn@" + n + ".service" || unit == "systemd-nspawn@" + n + ".service" ||
            unit == "machine-" + n + ".scope")
            return true;
    return false;
}

void find_supervisor(Machine& m, const Caller& caller, const std::set<pid_t>& protected_pids) {
    // A leader that registered itself has no supervisor of ours to ask: its parent is just whoever ran it.
    if (m.leader == caller.pid) return;
    // Only the parent itself: a sibling of the leader (a shell's busctl registering the shell's other
    // child) must not make the shell the machine's supervisor.
    auto parent = parent_pid(m.leader);
    if (!parent.ok() || *parent <= 1 || *parent != caller.pid || protected_pids.count(*parent)) return;
    if (caller.uid != 0) {
        auto owner = process_uid(*parent);
        if (!owner.ok() || *owner != caller.uid) return;
    }
    auto fd = pidfd_open(*parent);
    auto start = process_start_time(*parent);
    // The pidfd first, then the check: it then speaks about the process the pidfd holds.
    auto again = parent_pid(m.leader);
    if (!fd.ok() || !start.ok() || !again.ok() || *again != *parent) return;
    m.supervisor = *parent;
    m.supervisor_start_time = *start;
    m.supervisor_pidfd = std::move(*fd);
}

bool supervisor_still_parent(const Machine& m) {
    if (m.supervisor <= 0 || !m.supervisor_pidfd || exited(m.supervisor_pidfd.get())) return false;
    auto parent = parent_pid(m.leader);
    return parent.ok() && *parent == m.supervisor;
}

int leader_stop_signal(const Machine& m) {
    // The guest names its PID 1 itself; a wrong name only picks the signal its own init gets.
    auto comm = read_file(fmt::format("/proc/{}/comm", m.leader));
    return comm.ok() && *comm == "systemd\n" ? SIGRTMIN + 3 : SIGTERM;
}

Result<std::string> ask_machine_to_stop(const Machine& m) {
    if (supervisor_still_parent(m)) {
        BERTH_TRY_CTX(pidfd_send_signal(m.supervisor_pidfd.get(), SIGTERM),
                      "Failed to ask the supervisor of machine \"{}\" to stop it", m.name);
        return fmt::format("SIGTERM to its supervisor (PID {})", m.supervisor);
    }
    int sig = leader_stop_signal(m);
    BERTH_TRY_CTX(pidfd_send_signal(m.pidfd.get(), sig), "Failed to signal machine \"{}\"", m.name);
    return fmt::format("{} to its leader (PID {})", signal_name(sig), m.leader);
}

}  // namespace berth::machined
