#include "nspawn/stale.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/cgroup.hpp"
#include "common/fd.hpp"
#include "common/fileio.hpp"
#include "common/paths.hpp"
#include "common/result.hpp"
#include "common/seccomp_record.hpp"
#include "nspawn/mount.hpp"

namespace berth::nspawn {

namespace {


std::vector<std::string> list_dir(const std::string& path, bool dirs) {
    std::vector<std::string> out;
    DIR* d = ::opendir(path.c_str());
    if (!d) return out;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        if ((e->d_type == DT_DIR) == dirs) out.push_back(n);
    }
    ::closedir(d);
    return out;
}

// Take the lock if nobody holds it; the caller removes what it guards, then the lock file.
UniqueFd try_lock(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY));
    if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return fd;
    return UniqueFd();
}

}  // namespace

void collect_stale_state() {
    // What a machine's supervisor made is removed under the machine's lock, taken here, so that a start
    // of that machine cannot race us. No lock file at all also means no supervisor: nspawn creates it
    // before anything else. A running machine's lock is held, and its state is left alone.
    auto for_dead_machines = [](const std::string& dir, const std::function<void(const std::string&)>& remove,
                                bool dirs = true) {
        for (auto& name : list_dir(dir, dirs)) {
            std::string lock = paths::machine_lock(name);
            UniqueFd held = try_lock(lock);
            if (!held && ::access(lock.c_str(), F_OK) == 0) continue;
            remove(name);
            if (held) ::unlink(lock.c_str());
        }
    };
    auto layout = detect_cgroup_layout();
    if (layout.ok()) {
        for_dead_machines(layout->unified_root + kMachinesCgroup, [&](const std::string& name) {
            Cgroup cg(layout->unified_root, machine_cgroup(name));
            auto busy = cg.populated();
            if (busy.ok() && !*busy) (void)cg.remove();
        });
    }
    // Hybrid hosts: the devices and resource cgroups in the v1 hierarchies (berth/NAME in each).
    std::set<std::string> v1;
    for (auto& [controller, mount] : cgroup_v1_mounts()) v1.insert(mount);
    for (auto& mount : v1) {
        std::string base = mount + "/berth";
        for_dead_machines(base, [&](const std::string& name) {
            std::string dir = base + "/" + name;
            auto procs = read_file(dir + "/cgroup.procs");
            if (procs.ok() && procs->empty()) (void)::rmdir(dir.c_str());
        });
        (void)::rmdir(base.c_str());  // only succeeds when no machine uses it
    }
    // Staging directories (the mounts on them died with their supervisor's namespace).
    for_dead_machines(paths::kStaging, [](const std::string& name) {
        remove_staging_dir(fmt::format("{}/{}", paths::kStaging, name));
    });
    // Directories made on the host for writable overlays, as their records list them.
    for_dead_machines(paths::kOverlayRecords, [](const std::string& name) {
        remove_recorded_overlay_dirs(fmt::format("{}/{}", paths::kOverlayRecords, name));
    }, false);
    // The system call filters recorded for machined.
    for_dead_machines(paths::kSeccompRecords, [](const std::string& name) { remove_seccomp_record(name); }, false);
    for (auto& file : list_dir(paths::kLocks, false)) {
        std::string lock = fmt::format("{}/{}", paths::kLocks, file);
        if (UniqueFd held = try_lock(lock)) ::unlink(lock.c_str());
    }
}

}  // namespace berth::nspawn
