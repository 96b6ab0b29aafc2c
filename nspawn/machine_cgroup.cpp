#include "nspawn/machine_cgroup.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.hpp"

namespace berth::nspawn {

namespace {

bool under_systemd() {
    struct stat st {};
    return ::lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}
}  // namespace

Result<Cgroup> prepare_machine_cgroup(const Plan& plan) {
    BERTH_ASSIGN(CgroupLayout layout, detect_cgroup_layout());
    if (plan.keep_unit && under_systemd()) {
        // A delegated unit: no processes in inner nodes, so the supervisor moves to a leaf of its own.
        BERTH_ASSIGN(std::string own, own_unified_cgroup());
        std::string base = own == "/" ? "" : own;
        BERTH_ASSIGN(Cgroup sup, Cgroup::create(layout, base + "/supervisor"));
        BERTH_TRY(sup.write("cgroup.procs", std::to_string(::getpid())));
        return Cgroup::create(layout, base + "/payload");
    }
    // Another supervisor may remove an empty /berth between our mkdirs: retry.
    for (int attempt = 0;; attempt++) {
        auto cg = Cgroup::create(layout, machine_cgroup(plan.machine));
        if (cg.ok() || cg.error().code != ENOENT || attempt > 5) {
            if (!cg.ok() && cg.error().code == EBUSY)
                return plain_error(fmt::format("Machine \"{}\" still has processes in cgroup {}", plan.machine,
                                               layout.unified_root + machine_cgroup(plan.machine)),
                                   EBUSY);
            return cg;
        }
    }
}

void cleanup_machine_cgroup(const Cgroup& cg) {
    if (cg.empty()) return;
    (void)cg.remove();
    if (cg.rel().rfind(std::string(kMachinesCgroup) + "/", 0) == 0) {
        std::string base = cg.path().substr(0, cg.path().size() - (cg.rel().size() - std::string(kMachinesCgroup).size()));
        (void)::rmdir(base.c_str());  // only succeeds when no other machine uses it
    }
}

}  // namespace berth::nspawn
