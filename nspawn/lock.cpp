#include "lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace berth::nspawn {

namespace {
constexpr const char* kLockDir = "/run/berth/locks";

}  // namespace

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
    ::mkdir("/run/berth", 0755);
    if (::mkdir(kLockDir, 0700) < 0 && errno != EEXIST) return errno_error(fmt::format("Failed to create {}", kLockDir));
    MachineLocks locks;
    std::string name_lock = fmt::format("{}/machine-{}", kLockDir, plan.machine);
    auto n = lock_file(name_lock, true);
    if (!n.ok()) {
        if (n.error().code == EWOULDBLOCK)
            return plain_error(fmt::format("Machine \"{}\" is already running", plan.machine), EBUSY);
        return n.error();
    }
    locks.held_.push_back({name_lock, std::move(*n)});

    struct stat st {};
    if (::stat(plan.directory.c_str(), &st) < 0) return errno_error(fmt::format("Directory {}", plan.directory));
    std::string image_lock = fmt::format("{}/inode-{}:{}", kLockDir, static_cast<unsigned long>(st.st_dev),
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
    for (auto& h : held_) {
        if (!h.fd) continue;
        // Unlink only if nobody else holds it (shared image locks): take it exclusively first.
        if (::flock(h.fd.get(), LOCK_EX | LOCK_NB) == 0) ::unlink(h.path.c_str());
    }
}

}  // namespace berth::nspawn
