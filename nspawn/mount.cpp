#include "nspawn/mount.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>

#include "common/chase.hpp"
#include "common/fileio.hpp"
#include "common/id128.hpp"
#include "common/mount_api.hpp"
#include "common/paths.hpp"

namespace berth::nspawn {

namespace {

constexpr unsigned kNoSuidDev = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
constexpr unsigned kNoSuidDevExec = kNoSuidDev | MOUNT_ATTR_NOEXEC;

Status mount_fs(int rootfd, const std::string& dest, const std::string& type, const std::string& opts,
                unsigned attrs) {
    BERTH_ASSIGN(UniqueFd m, make_fs_mount(type, opts, attrs, type));
    return attach_in_root(m.get(), rootfd, dest);
}

// Bind a path of the machine onto itself, read-only (for /proc/sys and friends).
Status bind_self_read_only(int rootfd, const std::string& path) {
    auto fd = open_in_root(rootfd, path, O_PATH);
    if (!fd.ok()) return fd.error().code == ENOENT ? Status{} : Status{fd.error()};
    BERTH_ASSIGN(UniqueFd m, make_bind_mount(fd->get(), "", false));
    BERTH_TRY(set_mount_attrs(m.get(), MOUNT_ATTR_RDONLY | kNoSuidDevExec, 0, false));
    return attach_mount(m.get(), fd->get());
}

// Cover `path` with an inaccessible node of the same kind.
Status mask(int rootfd, const std::string& path) {
    auto fd = open_in_root(rootfd, path, O_PATH | O_NOFOLLOW);
    if (!fd.ok()) return fd.error().code == ENOENT ? Status{} : Status{fd.error()};
    struct stat st {};
    if (::fstat(fd->get(), &st) < 0) return errno_error(fmt::format("Failed to stat {}", path));
    const char* node = S_ISDIR(st.st_mode) ? "/run/host/inaccessible/dir" : "/run/host/inaccessible/reg";
    BERTH_ASSIGN(UniqueFd src, open_in_root(rootfd, node, O_PATH));
    BERTH_ASSIGN(UniqueFd m, make_bind_mount(src.get(), "", false));
    BERTH_TRY(set_mount_attrs(m.get(), MOUNT_ATTR_RDONLY | kNoSuidDevExec, 0, false));
    return attach_mount(m.get(), fd->get());
}

Status write_in_root(int rootfd, const std::string& path, const std::string& content, mode_t mode) {
    BERTH_ASSIGN(UniqueFd fd, open_in_root(rootfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY, mode));
    if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()))
        return errno_error(fmt::format("Failed to write {}", path));
    return {};
}

Status make_run_host(const Plan& plan, int rootfd) {
    BERTH_ASSIGN(UniqueFd dir, mkdir_p_in_root(rootfd, "/run/host/inaccessible"));
    (void)dir;
    auto osr = read_file("/etc/os-release");
    if (!osr.ok()) osr = read_file("/usr/lib/os-release");
    BERTH_TRY(write_in_root(rootfd, "/run/host/os-release", osr.ok() ? *osr : std::string{}, 0444));
    BERTH_TRY(write_in_root(rootfd, "/run/host/container-manager", "berth\n", 0444));
    BERTH_TRY(write_in_root(rootfd, "/run/host/container-uuid", id128_to_uuid(plan.uuid) + "\n", 0444));
    BERTH_ASSIGN(UniqueFd inacc, open_in_root(rootfd, "/run/host/inaccessible", O_PATH | O_DIRECTORY));
    // Mode 0000 nodes to cover things with: empty, so even a capable reader finds nothing.
    if (::mkdirat(inacc.get(), "dir", 0000) < 0) return errno_error("Failed to create /run/host/inaccessible/dir");
    BERTH_TRY(write_in_root(rootfd, "/run/host/inaccessible/reg", "", 0000));
    if (::mknodat(inacc.get(), "fifo", S_IFIFO | 0000, 0) < 0)
        return errno_error("Failed to create /run/host/inaccessible/fifo");
    if (::mknodat(inacc.get(), "sock", S_IFSOCK | 0000, 0) < 0)
        return errno_error("Failed to create /run/host/inaccessible/sock");
    // Device nodes only where we may create them (not in a user namespace).
    (void)::mknodat(inacc.get(), "chr", S_IFCHR | 0000, makedev(0, 0));
    (void)::mknodat(inacc.get(), "blk", S_IFBLK | 0000, makedev(0, 0));
    return {};
}

Status mount_overlay(const Plan& plan, const OverlayMount& ov, const OverlayDirs* dirs, int rootfd) {
    // Layers are listed lowest first; overlayfs wants the topmost lower first.
    std::vector<std::string> lowers(ov.lowers.rbegin(), ov.lowers.rend());
    BERTH_ASSIGN_CTX(UniqueFd m,
                     make_overlay_mount(lowers, dirs ? dirs->upper : "", dirs ? dirs->work : "",
                                        ov.read_only ? MOUNT_ATTR_RDONLY : 0),
                     "Failed to mount overlay on {} in machine \"{}\"", ov.destination, plan.machine);
    BERTH_TRY_CTX(attach_in_root(m.get(), rootfd, ov.destination), "Failed to mount overlay on {} in machine \"{}\"",
                  ov.destination, plan.machine);
    return {};
}

constexpr const char* kTempUpperPrefix = "/var/tmp/berth-overlay.";
constexpr const char* kWorkPrefix = ".#berth-work.";

// Appends `path` to the machine's overlay record before it is created.
Status record_overlay_dir(const std::string& record, const std::string& path) {
    ::mkdir("/run/berth", 0755);
    if (::mkdir(paths::kOverlayRecords, 0700) < 0 && errno != EEXIST)
        return errno_error(fmt::format("Failed to create {}", paths::kOverlayRecords));
    UniqueFd fd(::open(record.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
    std::string entry = path + '\0';
    if (!fd || ::write(fd.get(), entry.data(), entry.size()) != static_cast<ssize_t>(entry.size()))
        return errno_error(fmt::format("Failed to record {} in {}", path, record));
    return {};
}

// overlayfs needs an empty work directory on the upper layer's filesystem: a hidden sibling of it.
Result<OverlayDirs> make_overlay_dirs(const OverlayMount& ov, const std::string& machine, const std::string& record) {
    OverlayDirs d;
    std::string tag = id128_to_hex(random_id128()).substr(0, 12);
    if (ov.upper.empty()) {
        d.remove = fmt::format("{}{}.{}", kTempUpperPrefix, machine, tag);
        d.upper = d.remove + "/upper";
        d.work = d.remove + "/work";
        BERTH_TRY(record_overlay_dir(record, d.remove));
        for (auto& p : {d.remove, d.upper})
            if (::mkdir(p.c_str(), 0700) < 0) return errno_error(fmt::format("Failed to create {}", p));
        if (::chmod(d.upper.c_str(), 0755) < 0) return errno_error(fmt::format("Failed to set mode of {}", d.upper));
    } else {
        std::filesystem::path up(ov.upper);
        d.upper = ov.upper;
        d.work = fmt::format("{}/{}{}.{}", up.parent_path().string(), kWorkPrefix, up.filename().string(), tag);
        d.remove = d.work;
        BERTH_TRY(record_overlay_dir(record, d.remove));
    }
    if (::mkdir(d.work.c_str(), 0700) < 0)
        return errno_error(fmt::format("Failed to create overlay work directory {}", d.work));
    return d;
}

Result<std::string> make_staging_dir(const std::string& machine) {
    ::mkdir("/run/berth", 0755);
    std::string dir = fmt::format("{}/{}", paths::kStaging, machine);
    // Another supervisor may remove an empty paths::kStaging between our mkdirs: retry. A leftover of a
    // killed supervisor of this machine (whose lock we hold now) is reused.
    for (int attempt = 0;; attempt++) {
        if (::mkdir(paths::kStaging, 0755) < 0 && errno != EEXIST)
            return errno_error(fmt::format("Failed to create {}", paths::kStaging));
        if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return dir;
        if (errno != ENOENT || attempt > 5) return errno_error(fmt::format("Failed to create {}", dir));
    }
}

}  // namespace

void remove_recorded_overlay_dirs(const std::string& record) {
    auto text = read_file(record);
    for (size_t i = 0; text.ok() && i < text->size();) {
        size_t end = text->find('\0', i);
        if (end == std::string::npos) break;  // a half-written last entry: its directory was never made
        std::filesystem::path p(text->substr(i, end - i));
        i = end + 1;
        bool ours = p.is_absolute() && (p.string().rfind(kTempUpperPrefix, 0) == 0 ||
                                        p.filename().string().rfind(kWorkPrefix, 0) == 0);
        std::error_code ec;
        if (ours) std::filesystem::remove_all(p, ec);
    }
    (void)::unlink(record.c_str());
    (void)::rmdir(paths::kOverlayRecords);  // only succeeds when no other machine uses it
}

void remove_staging_dir(const std::string& dir) {
    (void)::rmdir(dir.c_str());
    (void)::rmdir(paths::kStaging);  // only succeeds when no other machine uses it
}

namespace {

Status fill_root(const Plan& plan, uid_t machine_root, PreparedRoot& root) {
    root.image.reset(::open(plan.directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.image) return errno_error(fmt::format("Failed to open {}", plan.directory));
    // With a user namespace the root mount is made per boot, once the namespace exists (make_root_mount).
    root.per_boot = plan.userns.enabled();

    // The staging tmpfs, ours alone: it holds the root's mount point and the ephemeral snapshot's upper
    // layer, so the snapshot survives guest reboots.
    BERTH_ASSIGN(root.staging, make_staging_dir(plan.machine));
    // Half of RAM at most for what an ephemeral machine writes (its upper layer lives here): with /run,
    // /tmp and /dev/shm, a machine's tmpfs budget stays below the host's RAM (docs/nspawn.md, "Defaults").
    BERTH_ASSIGN(UniqueFd t, make_fs_mount("tmpfs", "mode=0755,size=50%", kNoSuidDev, "tmpfs"));
    {
        UniqueFd at(::open(root.staging.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!at) return errno_error(fmt::format("Failed to open {}", root.staging));
        BERTH_TRY(attach_mount(t.get(), at.get()));
    }
    root.path = root.staging + "/root";
    if (::mkdir(root.path.c_str(), 0755) < 0) return errno_error(fmt::format("Failed to create {}", root.path));
    if (plan.ephemeral) {
        root.upper = root.staging + "/upper";
        root.work = root.staging + "/work";
        for (auto& d : {root.upper, root.work})
            if (::mkdir(d.c_str(), 0755) < 0) return errno_error(fmt::format("Failed to create {}", d));
        // The upper's root must look like the image's root (owner as the machine sees it, mode).
        struct stat st {};
        if (::fstat(root.image.get(), &st) == 0) {
            (void)::chown(root.upper.c_str(), machine_root + st.st_uid, machine_root + st.st_gid);
            (void)::chmod(root.upper.c_str(), st.st_mode & 07777);
        }
    }
    if (!root.per_boot) {
        BERTH_ASSIGN(UniqueFd m, make_root_mount(plan, root, -1));
        UniqueFd mp(::open(root.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!mp) return errno_error(fmt::format("Failed to open {}", root.path));
        BERTH_TRY(attach_mount(m.get(), mp.get()));
    }

    for (auto& ov : plan.overlays) {
        if (ov.read_only) continue;
        root.overlay_record = fmt::format("{}/{}", paths::kOverlayRecords, plan.machine);
        auto d = make_overlay_dirs(ov, plan.machine, root.overlay_record);
        if (!d.ok()) return d.error();
        root.overlay_dirs.push_back(*d);
    }
    return {};
}

}  // namespace

Result<PreparedRoot> prepare_root(const Plan& plan, uid_t machine_root) {
    if (::unshare(CLONE_NEWNS) < 0) return errno_error("Failed to create a private mount namespace");
    if (::mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) < 0)
        return errno_error("Failed to make the mount namespace private");
    PreparedRoot root;
    if (auto s = fill_root(plan, machine_root, root); !s.ok()) {
        cleanup_root(root);  // a failed start leaves nothing behind
        return s.error();
    }
    return root;
}

Result<UniqueFd> make_root_mount(const Plan& plan, const PreparedRoot& root, int userns_fd) {
    // The image itself, idmapped when a user namespace is given (the lower layer, with --ephemeral).
    BERTH_ASSIGN(UniqueFd tree, make_bind_mount(root.image.get(), "", !plan.ephemeral));
    if (userns_fd >= 0) {
        auto s = set_idmap(tree.get(), userns_fd, !plan.ephemeral);
        if (!s.ok()) return Error{s.error().code, fmt::format("{} of {}", s.error().message, plan.directory)};
    }
    if (!plan.ephemeral) return tree;
    BERTH_ASSIGN_CTX(UniqueFd ov,
                     make_overlay_mount({fmt::format("/proc/self/fd/{}", tree.get())}, root.upper, root.work, 0),
                     "Failed to create the ephemeral snapshot of {}", plan.directory);
    return ov;
}

Status attach_root_mount_in_child(int mfd, const PreparedRoot& root) {
    if (::move_mount(mfd, "", AT_FDCWD, root.path.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return errno_error(fmt::format("Failed to mount the machine's root on {}", root.path));
    return {};
}

void cleanup_root(const PreparedRoot& root) {
    std::error_code ec;
    for (auto& d : root.overlay_dirs) std::filesystem::remove_all(d.remove, ec);
    if (!root.overlay_record.empty()) remove_recorded_overlay_dirs(root.overlay_record);
    if (!root.staging.empty()) {
        (void)::umount2(root.staging.c_str(), MNT_DETACH);  // with the root mounted below it
        remove_staging_dir(root.staging);
    }
}

Result<UniqueFd> make_sys_mount() {
    BERTH_ASSIGN(UniqueFd m, make_bind_mount(AT_FDCWD, "/sys", false));
    BERTH_TRY(set_mount_attrs(m.get(), MOUNT_ATTR_RDONLY | kNoSuidDevExec, 0, false));
    return m;
}

Status mount_api_filesystems_in_child(const Plan& plan, int rootfd, int sys_mount) {
    BERTH_TRY_CTX(mount_fs(rootfd, "/run", "tmpfs", "mode=0755,size=20%,nr_inodes=800k", kNoSuidDev),
                  "Failed to mount /run in machine \"{}\"", plan.machine);
    BERTH_TRY_CTX(make_run_host(plan, rootfd), "Failed to populate /run/host in machine \"{}\"", plan.machine);
    BERTH_TRY_CTX(mount_fs(rootfd, "/tmp", "tmpfs", "mode=01777,size=10%,nr_inodes=400k", kNoSuidDev),
                  "Failed to mount /tmp in machine \"{}\"", plan.machine);
    BERTH_TRY_CTX(mount_fs(rootfd, "/proc", "proc", "", kNoSuidDevExec), "Failed to mount /proc in machine \"{}\"",
                  plan.machine);
    if (sys_mount >= 0) {
        BERTH_TRY_CTX(attach_in_root(sys_mount, rootfd, "/sys"), "Failed to mount /sys in machine \"{}\"",
                      plan.machine);
    } else {
        BERTH_TRY_CTX(mount_fs(rootfd, "/sys", "sysfs", "", MOUNT_ATTR_RDONLY | kNoSuidDevExec),
                      "Failed to mount /sys in machine \"{}\"", plan.machine);
    }
    // The machine's own cgroup subtree (the cgroup namespace is rooted there), writable for its init.
    BERTH_TRY_CTX(mount_fs(rootfd, "/sys/fs/cgroup", "cgroup2", "", kNoSuidDevExec),
                  "Failed to mount /sys/fs/cgroup in machine \"{}\"", plan.machine);
    return {};
}

namespace {

// A private network namespace is the machine's own: its /proc/sys/net stays writable (the guest's
// networkd sets forwarding and the like there), while the rest of /proc/sys is the host kernel's.
Result<UniqueFd> clone_proc_sys_net(int rootfd) {
    auto fd = open_in_root(rootfd, "/proc/sys/net", O_PATH | O_DIRECTORY);
    if (!fd.ok()) return fd.error();
    BERTH_ASSIGN(UniqueFd m, make_bind_mount(fd->get(), "", false));
    BERTH_TRY(set_mount_attrs(m.get(), kNoSuidDevExec, 0, false));
    return m;
}

}  // namespace

Status protect_proc_in_child(const Plan& plan, int rootfd) {
    UniqueFd net;
    if (plan.private_network) {
        BERTH_ASSIGN(net, clone_proc_sys_net(rootfd));
    }
    for (auto* p : {"/proc/sys", "/proc/acpi", "/proc/bus", "/proc/fs", "/proc/irq"})
        BERTH_TRY_CTX(bind_self_read_only(rootfd, p), "Failed to make {} read-only in machine \"{}\"", p, plan.machine);
    if (net)
        BERTH_TRY_CTX(attach_in_root(net.get(), rootfd, "/proc/sys/net"),
                      "Failed to make /proc/sys/net writable in machine \"{}\"", plan.machine);
    // The kernel's symbols, memory, keys, timers and the physical page map (readable by host root
    // without any capability check) are covered.
    for (auto* p : {"/proc/kallsyms", "/proc/kcore", "/proc/keys", "/proc/sysrq-trigger", "/proc/timer_list",
                    "/proc/kpagecount", "/proc/kpageflags", "/proc/kpagecgroup"})
        BERTH_TRY_CTX(mask(rootfd, p), "Failed to hide {} in machine \"{}\"", p, plan.machine);
    return {};
}

Result<UniqueFd> make_bind(const BindMount& b, int userns_fd) {
    BERTH_ASSIGN(UniqueFd m, make_bind_mount(AT_FDCWD, b.source, b.recursive));
    if (b.idmap) BERTH_TRY(set_idmap(m.get(), userns_fd, b.recursive));
    if (b.read_only) BERTH_TRY(set_mount_attrs(m.get(), MOUNT_ATTR_RDONLY, 0, b.recursive));
    return m;
}

namespace {

// One overlay of make_machine_overlays(); `dirs` are its writable layers (null when read-only).
Result<UniqueFd> make_machine_overlay(const OverlayMount& ov, const OverlayDirs* dirs, int userns_fd, uid_t base) {
    std::vector<UniqueFd> layers;
    std::vector<std::string> lowers;  // topmost first
    for (auto it = ov.lowers.rbegin(); it != ov.lowers.rend(); ++it) {
        BERTH_ASSIGN(UniqueFd m, make_bind_mount(AT_FDCWD, *it, true));
        BERTH_TRY(set_idmap(m.get(), userns_fd, true));
        lowers.push_back(fmt::format("/proc/self/fd/{}", m.get()));
        layers.push_back(std::move(m));
    }
    std::string upper, work;
    if (dirs) {
        // upper and work are siblings, and overlayfs wants both on one mount: the idmapped parent.
        std::filesystem::path up(dirs->upper), wk(dirs->work);
        BERTH_ASSIGN(UniqueFd m, make_bind_mount(AT_FDCWD, up.parent_path().string(), false));
        BERTH_TRY(set_idmap(m.get(), userns_fd, false));
        upper = fmt::format("/proc/self/fd/{}/{}", m.get(), up.filename().string());
        work = fmt::format("/proc/self/fd/{}/{}", m.get(), wk.filename().string());
        layers.push_back(std::move(m));
    }
    BERTH_ASSIGN(auto as_root, FsIds::assume(base));
    return make_overlay_mount(lowers, upper, work, ov.read_only ? MOUNT_ATTR_RDONLY : 0);
}

}  // namespace

Result<std::vector<UniqueFd>> make_machine_overlays(const Plan& plan, const PreparedRoot& root, int userns_fd,
                                                   uid_t base) {
    std::vector<UniqueFd> out;
    size_t w = 0;
    for (auto& ov : plan.overlays) {
        const OverlayDirs* dirs = ov.read_only ? nullptr : &root.overlay_dirs.at(w++);
        BERTH_ASSIGN_CTX(UniqueFd made, make_machine_overlay(ov, dirs, userns_fd, base),
                         "Failed to make the overlay on {} of machine \"{}\"", ov.destination, plan.machine);
        out.push_back(std::move(made));
    }
    return out;
}

Status mount_custom_in_child(const Plan& plan, const PreparedRoot& root, int rootfd, std::vector<UniqueFd>& binds,
                             std::vector<UniqueFd>& overlays) {
    if (plan.read_only) {
        // Before the user's mounts: a mount point missing from a read-only image is refused, never created
        // in it. rootfd is the root mount itself: only it turns read-only, the API filesystems stay writable.
        BERTH_TRY_CTX(set_mount_attrs(rootfd, MOUNT_ATTR_RDONLY, 0, false),
                      "Failed to make the root directory read-only in machine \"{}\"", plan.machine);
    }
    for (size_t i = 0; i < plan.binds.size(); i++) {
        const BindMount& b = plan.binds[i];
        // The mount the supervisor made tells the source's kind: the child may not be able to look at the
        // source's path at all (under a directory only host root may enter, such as /root).
        struct stat st {};
        if (::fstat(binds.at(i).get(), &st) < 0) return errno_error(fmt::format("Bind source {}", b.source));
        BERTH_TRY_CTX(attach_in_root(binds.at(i).get(), rootfd, b.destination, !S_ISDIR(st.st_mode)),
                      "Failed to bind {} to {} in machine \"{}\"", b.source, b.destination, plan.machine);
    }
    for (auto& t : plan.tmpfs)
        BERTH_TRY_CTX(mount_fs(rootfd, t.destination, "tmpfs", t.options, kNoSuidDev | t.attrs),
                      "Failed to mount tmpfs on {} in machine \"{}\"", t.destination, plan.machine);
    size_t w = 0;
    for (size_t i = 0; i < plan.overlays.size(); i++) {
        auto& ov = plan.overlays[i];
        if (i < overlays.size()) {
            BERTH_TRY_CTX(attach_in_root(overlays[i].get(), rootfd, ov.destination),
                          "Failed to mount overlay on {} in machine \"{}\"", ov.destination, plan.machine);
            continue;
        }
        BERTH_TRY(mount_overlay(plan, ov, ov.read_only ? nullptr : &root.overlay_dirs.at(w++), rootfd));
    }
    return {};
}

Status finish_mounts_in_child(const Plan& plan, int rootfd) {
    BERTH_TRY_CTX(bind_self_read_only(rootfd, "/run/host"), "Failed to make /run/host read-only in machine \"{}\"",
                  plan.machine);
    return {};
}

Status enter_root_in_child(int rootfd) {
    if (::fchdir(rootfd) < 0) return errno_error("Failed to enter the machine's root directory");
    if (::syscall(SYS_pivot_root, ".", ".") < 0) return errno_error("Failed to pivot into the machine's root directory");
    if (::umount2(".", MNT_DETACH) < 0) return errno_error("Failed to detach the old root");
    if (::chdir("/") < 0) return errno_error("Failed to change to /");
    return {};
}

}  // namespace berth::nspawn
