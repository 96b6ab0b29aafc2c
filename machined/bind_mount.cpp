// BindMount: a host file or directory mounted into a running machine with the new mount API, without a
// propagation directory prepared at start (docs/machined.md, "Bind mounts"): the tree is cloned on the
// host (open_tree), made read-only and idmapped there, then attached (move_mount) by a child that joined the
// machine's user and mount namespaces, at a mount point resolved inside the machine's root.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "common/chase.hpp"
#include "common/copy_tree.hpp"
#include "common/mount_api.hpp"
#include "machined/bus_error.hpp"
#include "machined/forked_call.hpp"
#include "machined/file_methods.hpp"
#include "machined/machine_namespaces.hpp"
#include "machined/sd_bus_object.hpp"

namespace berth::machined {

namespace {

struct BindJob {
    std::string machine, source, destination;
    bool read_only = false, mkdir = false;
    MachineNamespaces ns;
};

// Absolute, with no "." or ".." component and no "//" (a trailing '/' allowed), as systemd's path_is_normalized.
bool absolute_and_normalized(const std::string& p) {
    if (p.empty() || p.front() != '/' || p.find("//") != std::string::npos) return false;
    std::string padded = p + "/";
    return padded.find("/./") == std::string::npos && padded.find("/../") == std::string::npos;
}

// Joins the machine's user namespace as its root (uid and gid 0 there, no supplementary group).
Status enter_user_namespace(int userns, const std::string& machine) {
    if (::setns(userns, CLONE_NEWUSER) < 0 || ::setresgid(0, 0, 0) < 0 || ::setgroups(0, nullptr) < 0 ||
        ::setresuid(0, 0, 0) < 0)
        return errno_error(fmt::format("Failed to enter the user namespace of machine \"{}\"", machine));
    return {};
}

// A read-only flag the guest's root cannot take back: the kernel locks the flags of mounts that reach a
// less privileged user namespace by copying a mount namespace (MNT_LOCK_READONLY), not those attached by
// move_mount. So the tree is attached in a private mount namespace first (a tmpfs over /tmp in it, never
// seen by the host), that namespace is copied from inside the machine's user namespace, and the copy of the
// tree, locked now, is cloned again for the machine. Leaves this process in the machine's user namespace.
Result<UniqueFd> lock_flags(UniqueFd tree, bool dir, const MachineNamespaces& ns, const std::string& machine) {
    if (::unshare(CLONE_NEWNS) < 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
        return errno_error("Failed to create a private mount namespace");
    BERTH_ASSIGN(UniqueFd tmp, make_fs_mount("tmpfs", "mode=0755", 0));
    UniqueFd tmp_dir(::open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!tmp_dir) return errno_error("Failed to open /tmp");
    BERTH_TRY(attach_mount(tmp.get(), tmp_dir.get()));
    UniqueFd host_root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!host_root) return errno_error("Failed to open /");
    BERTH_TRY(attach_in_root(tree.get(), host_root.get(), "/tmp/bind", !dir));
    tree.reset();
    BERTH_TRY(enter_user_namespace(ns.user.get(), machine));
    if (::unshare(CLONE_NEWNS) < 0)
        return errno_error("Failed to copy the mount namespace into the machine's user namespace");
    return make_bind_mount(AT_FDCWD, "/tmp/bind", false);
}

Status run_bind(const BindJob& job) {
    // The mount alone, not its submounts (as systemd's MS_BIND); a symlink on the host's side is the caller's.
    UniqueFd tree(::open_tree(AT_FDCWD, job.source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!tree) return errno_error(fmt::format("Failed to open {}", job.source));
    struct stat st {};
    if (::fstat(tree.get(), &st) < 0) return errno_error(fmt::format("Failed to look at {}", job.source));
    bool dir = S_ISDIR(st.st_mode);
    if (job.read_only)
        BERTH_TRY_CTX(set_mount_attrs(tree.get(), MOUNT_ATTR_RDONLY, 0, false), "Failed to make {} read-only",
                      job.source);
    if (job.ns.user) {
        // Host id U shows as the machine's id U, as a copy would make it.
        BERTH_TRY_CTX(set_idmap(tree.get(), job.ns.user.get(), false),
                      "Failed to map the owners of {} into the machine's user namespace (its filesystem must "
                      "support idmapped mounts)", job.source);
        if (job.read_only) {
            BERTH_ASSIGN(tree, lock_flags(std::move(tree), dir, job.ns, job.machine));
        } else {
            BERTH_TRY(enter_user_namespace(job.ns.user.get(), job.machine));
        }
    }
    if (::setns(job.ns.mnt.get(), CLONE_NEWNS) < 0)
        return errno_error(fmt::format("Failed to enter the mount namespace of machine \"{}\"", job.machine));

    auto where = split_last_component(job.destination);
    if (!where.ok()) return plain_error(fmt::format("Cannot mount on {}", where.error().message));
    int root = job.ns.root.get();
    auto parent =
        job.mkdir ? mkdir_p_in_root(root, where->parent) : open_in_root(root, where->parent, O_PATH | O_DIRECTORY);
    if (!parent.ok())
        return wrap_error(parent.error(), fmt::format("Failed to open directory {} in the machine", where->parent));
    const char* name = where->name.c_str();
    if (job.mkdir) {
        // The mount point as the source is: a directory, or an empty file.
        int r = dir ? ::mkdirat(parent->get(), name, 0755)
                    : ::openat(parent->get(), name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (r < 0 && errno != EEXIST)
            return errno_error(fmt::format("Failed to create {} in the machine", job.destination));
        if (r >= 0 && !dir) ::close(r);
    }
    UniqueFd target(::openat(parent->get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!target && errno == ENOENT)
        return plain_error(fmt::format("{} does not exist in the machine (mkdir creates it)", job.destination), ENOENT);
    if (!target) return errno_error(fmt::format("Failed to open {} in the machine", job.destination));
    struct stat tst {};
    if (::fstat(target.get(), &tst) < 0) return errno_error(fmt::format("Failed to look at {}", job.destination));
    if (S_ISLNK(tst.st_mode))
        return plain_error(fmt::format("{} is a symbolic link in the machine", job.destination), ELOOP);
    if (dir != S_ISDIR(tst.st_mode))
        return plain_error(fmt::format("{} is {} in the machine, {} is {}", job.destination,
                                       S_ISDIR(tst.st_mode) ? "a directory" : "not a directory", job.source,
                                       dir ? "a directory" : "not"),
                           dir ? ENOTDIR : EISDIR);
    return attach_mount(tree.get(), target.get());
}

}  // namespace

int method_bind_mount(sd_bus_message* call, Daemon& d, Machine& m) {
    d.authorize_root(call);
    const char *src = nullptr, *dst = nullptr;
    int read_only = 0, mkdir = 0;
    read(call, "ssbb", &src, &dst, &read_only, &mkdir);
    if (m.klass != "container")
        throw_bus_error(kNotSupported, "Bind mounting is only supported on container machines.");
    auto job = std::make_shared<BindJob>();
    job->machine = m.name;
    job->source = src;
    job->destination = *dst ? dst : src;
    if (!absolute_and_normalized(job->source))
        throw_bus_error(kInvalidArgs, "Source path must be absolute and normalized.");
    if (!absolute_and_normalized(job->destination))
        throw_bus_error(kInvalidArgs, "Destination path must be absolute and normalized.");
    job->read_only = read_only;
    job->mkdir = mkdir;
    job->ns = value_or_throw(open_machine_namespaces(m.leader, m.pidfd.get(), m.name));
    // Its mounts would be the host's.
    if (!job->ns.mnt)
        throw_bus_error(kNotSupported,
                        fmt::format("Machine \"{}\" has no mount namespace of its own to bind into", m.name));
    std::string what = fmt::format("Failed to bind {} to {} in machine \"{}\"", job->source, job->destination, m.name);
    return reply_when_done(
        d, call,
        [job, what]() -> Status {
            auto s = run_bind(*job);
            if (!s.ok()) return wrap_error(s.error(), what);
            return {};
        },
        file_error_name);
}

}  // namespace berth::machined
