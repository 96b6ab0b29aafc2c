#include "machined/machine_namespaces.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>

#include <fmt/format.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace berth::machined {

namespace {

struct Kind {
    const char* file;  // under /proc/PID/ns
    int flag;
    UniqueFd MachineNamespaces::*field;
};

// The user namespace first: the others are owned by it, and joining it is what gives the rights to join them.
constexpr Kind kKinds[] = {
    {"user", CLONE_NEWUSER, &MachineNamespaces::user},       {"mnt", CLONE_NEWNS, &MachineNamespaces::mnt},
    {"pid", CLONE_NEWPID, &MachineNamespaces::pid},          {"net", CLONE_NEWNET, &MachineNamespaces::net},
    {"uts", CLONE_NEWUTS, &MachineNamespaces::uts},          {"ipc", CLONE_NEWIPC, &MachineNamespaces::ipc},
    {"cgroup", CLONE_NEWCGROUP, &MachineNamespaces::cgroup}, {"time", CLONE_NEWTIME, &MachineNamespaces::time},
};

bool same_inode(int a, int b) {
    struct stat sa {}, sb {};
    return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace

Result<MachineNamespaces> open_machine_namespaces(pid_t leader, int leader_pidfd, const std::string& machine) {
    MachineNamespaces ns;
    for (const auto& k : kKinds) {
        std::string theirs = fmt::format("/proc/{}/ns/{}", leader, k.file);
        UniqueFd fd(::open(theirs.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            // A kernel without time namespaces has no such file: nothing to enter.
            if (errno == ENOENT && k.flag == CLONE_NEWTIME) continue;
            // The host (leader 1) whose PID 1 hides behind ptrace rules (not dumpable, as in some sandboxes):
            // machined runs in the host's namespaces, so its own are the host's.
            if (leader == 1 && (errno == EACCES || errno == EPERM)) continue;
            return errno_error(fmt::format("Failed to open the {} namespace of machine \"{}\"", k.file, machine));
        }
        UniqueFd ours(::open(fmt::format("/proc/self/ns/{}", k.file).c_str(), O_RDONLY | O_CLOEXEC));
        if (ours && same_inode(fd.get(), ours.get())) continue;
        ns.*(k.field) = std::move(fd);
    }
    ns.root.reset(::open(fmt::format("/proc/{}/root", leader).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!ns.root && leader == 1 && (errno == EACCES || errno == EPERM))
        ns.root.reset(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!ns.root) return errno_error(fmt::format("Failed to open the root directory of machine \"{}\"", machine));
    if (leader_pidfd >= 0 && ::syscall(SYS_pidfd_send_signal, leader_pidfd, 0, nullptr, 0) < 0)
        return errno_error(fmt::format("The leader of machine \"{}\" is gone", machine));
    return ns;
}

Status enter_machine_namespaces(const MachineNamespaces& ns, const std::string& machine, int only) {
    for (const auto& k : kKinds) {
        const UniqueFd& fd = ns.*(k.field);
        if (!fd || (only != 0 && k.flag != CLONE_NEWUSER && !(only & k.flag))) continue;
        if (::setns(fd.get(), k.flag) < 0)
            return errno_error(fmt::format("Failed to enter the {} namespace of machine \"{}\"", k.file, machine));
        // Joining a user namespace keeps our IDs and supplementary groups, which it does not map: become its
        // root, with no supplementary group.
        if (k.flag == CLONE_NEWUSER &&
            (::setresgid(0, 0, 0) < 0 || ::setgroups(0, nullptr) < 0 || ::setresuid(0, 0, 0) < 0))
            return errno_error(fmt::format("Failed to become root in the user namespace of machine \"{}\"", machine));
    }
    if (::fchdir(ns.root.get()) < 0 || ::chroot(".") < 0 || ::chdir("/") < 0)
        return errno_error(fmt::format("Failed to change root to machine \"{}\"", machine));
    return {};
}

}  // namespace berth::machined
