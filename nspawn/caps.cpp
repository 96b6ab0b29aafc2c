#include "nspawn/caps.hpp"

#include <linux/capability.h>
#include <sys/prctl.h>

#include <sys/capability.h>

namespace berth::nspawn {

namespace {
constexpr int kDefault[] = {
    CAP_AUDIT_CONTROL, CAP_AUDIT_WRITE, CAP_CHOWN,      CAP_DAC_OVERRIDE,     CAP_DAC_READ_SEARCH, CAP_FOWNER,
    CAP_FSETID,        CAP_IPC_OWNER,   CAP_KILL,       CAP_LEASE,            CAP_LINUX_IMMUTABLE, CAP_MKNOD,
    CAP_NET_BIND_SERVICE, CAP_NET_BROADCAST, CAP_NET_RAW, CAP_SETFCAP,        CAP_SETGID,          CAP_SETPCAP,
    CAP_SETUID,        CAP_SYS_ADMIN,   CAP_SYS_BOOT,   CAP_SYS_CHROOT,       CAP_SYS_NICE,        CAP_SYS_PTRACE,
    CAP_SYS_RESOURCE,  CAP_SYS_TTY_CONFIG,
};
}  // namespace

uint64_t default_capabilities(bool private_network) {
    uint64_t mask = 0;
    for (int c : kDefault) mask |= uint64_t{1} << c;
    if (private_network) mask |= uint64_t{1} << CAP_NET_ADMIN;
    return mask;
}

Status limit_bounding_set_in_child(uint64_t keep) {
    int last = static_cast<int>(cap_max_bits()) - 1;
    for (int c = 0; c <= last; c++) {
        if (keep & (uint64_t{1} << c)) continue;
        if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return errno_error(fmt::format("Failed to drop capability {} from the bounding set", c));
    }
    return {};
}

Status limit_process_capabilities_in_child(uint64_t keep) {
    int last = static_cast<int>(cap_max_bits()) - 1;
    cap_t caps = cap_get_proc();
    if (!caps) return errno_error("Failed to read capabilities");
    for (int c = 0; c <= last; c++) {
        if (keep & (uint64_t{1} << c)) continue;
        cap_value_t v = c;
        cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_CLEAR);
        cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_CLEAR);
        cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_CLEAR);
    }
    int r = cap_set_proc(caps);
    cap_free(caps);
    if (r < 0) return errno_error("Failed to set capabilities");
    return {};
}

Status limit_capabilities_in_child(uint64_t keep) {
    BERTH_TRY(limit_bounding_set_in_child(keep));
    return limit_process_capabilities_in_child(keep);
}

}  // namespace berth::nspawn
