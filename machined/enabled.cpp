#include "machined/enabled.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/fileio.hpp"
#include "common/machine_name.hpp"

namespace berth::machined {

namespace {

constexpr const char* kWants = "/etc/systemd/system/machines.target.wants";

std::string unit_template() {
    for (const char* dir : {"/etc/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
                            "/lib/systemd/system"}) {
        std::string path = std::string(dir) + "/nspawn@.service";
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0) return path;
    }
    return {};
}

}  // namespace

std::vector<std::string> EnabledSet::list() const {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir_.c_str());
    if (!d) return out;
    while (auto* e = ::readdir(d))
        if (machine_name_is_valid(e->d_name)) out.push_back(e->d_name);
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

bool EnabledSet::contains(const std::string& name) const {
    struct stat st {};
    return ::stat((dir_ + "/" + name).c_str(), &st) == 0;
}

Status EnabledSet::enable(const std::string& name, bool under_systemd) {
    BERTH_TRY(make_directories(dir_));
    if (under_systemd) {
        std::string unit = unit_template();
        if (unit.empty()) return plain_error("Cannot enable under systemd: no nspawn@.service unit installed", ENOENT);
        BERTH_TRY(make_directories(kWants));
        std::string link = fmt::format("{}/nspawn@{}.service", kWants, name);
        if (::symlink(unit.c_str(), link.c_str()) < 0 && errno != EEXIST)
            return errno_error(fmt::format("Failed to create {}", link));
    }
    return write_file_atomic(dir_ + "/" + name, "");
}

Status EnabledSet::disable(const std::string& name, bool under_systemd) {
    if (under_systemd) (void)::unlink(fmt::format("{}/nspawn@{}.service", kWants, name).c_str());
    if (::unlink((dir_ + "/" + name).c_str()) < 0 && errno != ENOENT)
        return errno_error(fmt::format("Failed to disable machine \"{}\"", name));
    return {};
}

}  // namespace berth::machined
