#include "nspawn/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/lock_file.hpp"
#include "common/paths.hpp"

namespace berth::nspawn {

Result<MachineLocks> MachineLocks::acquire(const Plan& plan) {
    MachineLocks locks;
    std::string name_lock = paths::machine_lock(plan.machine);
    auto n = lock_in_lock_dir(name_lock, true);
    if (!n.ok()) {
        if (n.error().code == EWOULDBLOCK)
            return plain_error(fmt::format("Machine \"{}\" is already running", plan.machine), EBUSY);
        return n.error();
    }
    locks.held_.push_back({name_lock, std::move(*n)});

    struct stat st {};
    if (::stat(plan.directory.c_str(), &st) < 0) return errno_error(fmt::format("Directory {}", plan.directory));
    std::string image_lock = image_lock_path(st.st_dev, st.st_ino);
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
    for (auto& h : held_) release_lock(h.path, std::move(h.fd));
}

}  // namespace berth::nspawn
