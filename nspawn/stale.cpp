#include "stale.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "cgroup.hpp"
#include "fd.hpp"
#include "mount.hpp"
#include "result.hpp"

namespace berth::nspawn {

namespace {

constexpr const char* kLockDir = "/run/berth/locks";

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
    auto layout = detect_cgroup_layout();
    if (layout.ok()) {
        std::string base = layout->unified_root + "/berth";
        for (auto& name : list_dir(base, true)) {
            std::string lock = fmt::format("{}/machine-{}", kLockDir, name);
            UniqueFd held = try_lock(lock);
            // No lock file at all also means no supervisor: nspawn creates it before the cgroup.
            if (!held && ::access(lock.c_str(), F_OK) == 0) continue;
            Cgroup cg(layout->unified_root, "/berth/" + name);
            auto busy = cg.populated();
            if (busy.ok() && !*busy) (void)cg.remove();
            if (held) ::unlink(lock.c_str());
        }
    }
    // Staging directories of machines whose supervisor is gone (the mounts on them died with its
    // namespace): removed under the machine's lock, so a start of that machine cannot race us.
    for (auto& name : list_dir(kStagingDir, true)) {
        std::string lock = fmt::format("{}/machine-{}", kLockDir, name);
        UniqueFd held = try_lock(lock);
        if (!held && ::access(lock.c_str(), F_OK) == 0) continue;
        remove_staging_dir(fmt::format("{}/{}", kStagingDir, name));
        if (held) ::unlink(lock.c_str());
    }
    for (auto& file : list_dir(kLockDir, false)) {
        std::string lock = fmt::format("{}/{}", kLockDir, file);
        if (UniqueFd held = try_lock(lock)) ::unlink(lock.c_str());
    }
}

}  // namespace berth::nspawn
