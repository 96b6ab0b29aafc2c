#include "machined/machine_files.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "common/fileio.hpp"
#include "common/id128.hpp"
#include "common/log.hpp"

namespace berth::machined {

namespace {

constexpr const char* kUnitPrefix = "unit:";

bool is_null(const Id128& id) {
    for (auto b : id)
        if (b != 0) return false;
    return true;
}

// The unit: link, replaced atomically as the file is (a stale link of an earlier machine may be there).
Status link_unit(const std::string& dir, const Machine& m) {
    std::string link = dir + "/" + kUnitPrefix + m.unit;
    std::string tmp = fmt::format("{}.tmp.{}", link, id128_to_hex(random_id128()).substr(0, 16));
    if (::symlink(m.name.c_str(), tmp.c_str()) < 0) return errno_error(fmt::format("Failed to create {}", tmp));
    if (::rename(tmp.c_str(), link.c_str()) < 0) {
        auto e = errno_error(fmt::format("Failed to rename {} to {}", tmp, link));
        ::unlink(tmp.c_str());
        return e;
    }
    return {};
}

}  // namespace

std::string systemd_cescape(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        switch (c) {
            case '\a': out += "\\a"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\v': out += "\\v"; break;
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\'': out += "\\'"; break;
            default:
                if (c < ' ' || c >= 127)
                    out += fmt::format("\\{:03o}", c);
                else
                    out += static_cast<char>(c);
        }
    }
    return out;
}

std::string systemd_machine_file(const Machine& m) {
    // SCOPE is the unit, whatever its type: 252 kept the old key name for compatibility.
    std::string out = "# This is private data. Do not parse.\nNAME=" + m.name + "\n";
    if (!m.unit.empty()) out += "SCOPE=" + systemd_cescape(m.unit) + "\n";
    if (!m.service.empty()) out += "SERVICE=" + systemd_cescape(m.service) + "\n";
    if (!m.root_directory.empty()) out += "ROOT=" + systemd_cescape(m.root_directory) + "\n";
    if (!is_null(m.id)) out += "ID=" + id128_to_hex(m.id) + "\n";
    if (m.leader > 0) out += fmt::format("LEADER={}\n", m.leader);
    out += "CLASS=" + m.klass + "\n";
    if (m.timestamp_realtime > 0 || m.timestamp_monotonic > 0)
        out += fmt::format("REALTIME={}\nMONOTONIC={}\n", m.timestamp_realtime, m.timestamp_monotonic);
    if (!m.ifindices.empty()) {
        out += "NETIF=";
        for (size_t i = 0; i < m.ifindices.size(); i++) out += fmt::format("{}{}", i ? " " : "", m.ifindices[i]);
        out += "\n";
    }
    return out;
}

Status SystemdMachineFiles::enable(const std::vector<Machine*>& registered) {
    BERTH_TRY(make_directories(dir_));
    enabled_ = true;
    std::set<std::string> keep;
    for (auto* m : registered) {
        if (m->is_host()) continue;
        write(*m);
        keep.insert(m->name);
        if (!m->unit.empty()) keep.insert(kUnitPrefix + m->unit);
    }
    DIR* d = ::opendir(dir_.c_str());
    if (!d) return errno_error(fmt::format("Failed to list {}", dir_));
    std::vector<std::string> stale;
    while (auto* e = ::readdir(d)) {
        std::string name = e->d_name;
        // Files and links only: a directory there is nobody's machine file, and not ours to remove.
        if (name == "." || name == ".." || keep.count(name) || e->d_type == DT_DIR) continue;
        stale.push_back(name);
    }
    ::closedir(d);
    for (auto& name : stale) {
        spdlog::info("Removing {}/{}: no such machine is registered", dir_, name);
        if (::unlink((dir_ + "/" + name).c_str()) < 0 && errno != ENOENT)
            spdlog::warn("Failed to remove {}/{}: {}", dir_, name, std::strerror(errno));
    }
    return {};
}

void SystemdMachineFiles::write(const Machine& m) const {
    if (!enabled_ || m.is_host()) return;
    auto s = write_file_atomic(dir_ + "/" + m.name, systemd_machine_file(m), 0644, Durability::ProcessCrash);
    if (s.ok() && !m.unit.empty()) s = link_unit(dir_, m);
    if (!s.ok())
        spdlog::warn("systemd's tools will not find machine \"{}\" (-M): {}", m.name, s.error().message);
}

void SystemdMachineFiles::remove(const Machine& m) const {
    if (!enabled_ || m.is_host()) return;
    std::vector<std::string> paths = {dir_ + "/" + m.name};
    if (!m.unit.empty()) paths.push_back(dir_ + "/" + kUnitPrefix + m.unit);
    for (auto& p : paths)
        if (::unlink(p.c_str()) < 0 && errno != ENOENT) spdlog::warn("Failed to remove {}: {}", p, std::strerror(errno));
}

}  // namespace berth::machined
