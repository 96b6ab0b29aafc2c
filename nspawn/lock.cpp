#include "nspawn/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/paths.hpp"

namespace berth::nspawn {

Result<UniqueFd> lock_file(const std::string& path, bool exclusive) {
    for (;;) {
        UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600));
        if (!fd) return errno_error(fmt::format("Failed to open lock {}", path));
        if (::flock(fd.get(), (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) return Error{errno, ""};
        struct stat a {}, b {};
        if (::fstat(fd.get(), &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_ino == b.st_ino) return fd;
    }
}

Result<MachineLocks> MachineLocks::acquire(const Plan& plan) {
    MachineLocks locks;
    std::string name_lock = paths::machine_lock(plan.machine);
    // The last supervisor to exit removes the empty directories (see below): one may go between our
    // mkdir and our lock file, so try again. Once our lock file is in, the directory stays.
    Result<UniqueFd> n = Error{ENOENT, ""};
    for (int attempt = 0; attempt < 10 && !n.ok() && n.error().code == ENOENT; attempt++) {
        ::mkdir("/run/berth", 0755);
        if (::mkdir(paths::kLocks, 0700) < 0 && errno != EEXIST && errno != ENOENT)
            return errno_error(fmt::format("Failed to create {}", paths::kLocks));
        n = lock_file(name_lock, true);
    }
    if (!n.ok()) {
        if (n.error().code == EWOULDBLOCK)
            return plain_error(fmt::format("Machine \"{}\" is already running", plan.machine), EBUSY);
        return n.error();
    }
    locks.held_.push_back({name_lock, std::move(*n)});

    struct stat st {};
    if (::stat(plan.directory.c_str(), &st) < 0) return errno_error(fmt::format("Directory {}", plan.directory));
    std::string image_lock = fmt::format("{}/inode-{}:{}", paths::kLocks, static_cast<unsigned long>(st.st_dev),
                                         static_cast<unsigned long>(st.st_ino));
    bool shared = plan.ephemeral || plan.read_only;
    auto i = lock_file(image_lock, !shared);
    if (!i.ok()) {
        if (i.error().code == EWOULDBLOCK)
            return plain_error(fmt::format("Image {} is in use by another running machine", plan.directory), EBUSY);
        return i.error();
    }
    locks.held_.push_back({image_lock, std::move(*i)});
    return locks;
}

MachineLocks::~MachineLocks() {
    if (held_.empty()) return;
    for (auto& h : held_) {
        if (!h.fd) continue;
        // Unlink only if nobody else holds it (shared image locks): take it exclusively first.
        if (::flock(h.fd.get(), LOCK_EX | LOCK_NB) == 0) ::unlink(h.path.c_str());
    }
    // The host is left as it was: the runtime directories go with the last machine (rmdir only
    // succeeds when they are empty, i.e. no other machine runs and machined keeps no state).
    (void)::rmdir(paths::kLocks);
    (void)::rmdir("/run/berth");
}

}  // namespace berth::nspawn
