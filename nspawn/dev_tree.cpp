#include "nspawn/dev_tree.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/chase.hpp"
#include "common/mount_api.hpp"

namespace berth::nspawn {

namespace {

constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

}  // namespace

bool console_uses_pty(ConsoleMode mode) { return mode != ConsoleMode::Pipe; }

Result<UniqueFd> setup_dev_in_child(const Plan& plan, int rootfd) {
    {
        BERTH_ASSIGN_CTX(
            UniqueFd m,
            make_fs_mount("tmpfs", "mode=0755,size=4m,nr_inodes=64k", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, "tmpfs"),
            "Failed to mount /dev in machine \"{}\"", plan.machine);
        BERTH_TRY_CTX(attach_in_root(m.get(), rootfd, "/dev"), "Failed to mount /dev in machine \"{}\"", plan.machine);
    }
    BERTH_ASSIGN(UniqueFd dev, open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY));
    for (auto* name : kDevices) {
        std::string host = fmt::format("/dev/{}", name);
        struct stat st {};
        if (::stat(host.c_str(), &st) < 0 || !S_ISCHR(st.st_mode))
            return plain_error(fmt::format("Host device {} is missing", host), ENODEV);
        BERTH_ASSIGN_CTX(UniqueFd m, make_bind_mount(AT_FDCWD, host, false), "Failed to bind {} in machine \"{}\"",
                         host, plan.machine);
        BERTH_TRY_CTX(attach_in_root(m.get(), rootfd, host, true), "Failed to bind {} in machine \"{}\"", host,
                      plan.machine);
    }
    struct Link { const char* name; const char* target; };
    for (auto l : {Link{"fd", "/proc/self/fd"}, Link{"stdin", "/proc/self/fd/0"}, Link{"stdout", "/proc/self/fd/1"},
                   Link{"stderr", "/proc/self/fd/2"}, Link{"ptmx", "pts/ptmx"}}) {
        if (::symlinkat(l.target, dev.get(), l.name) < 0)
            return wrap_error(errno_error(fmt::format("/dev/{}", l.name)),
                              fmt::format("Failed to create symlink in machine \"{}\"", plan.machine));
    }
    struct Fs { const char* dest; const char* type; const char* opts; unsigned attrs; };
    // Budgets (docs/nspawn.md, "Defaults"): at most 1024 ptys of the kernel's pty.max, /dev/shm a tenth of RAM.
    for (auto f : {Fs{"/dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5,max=1024",
                      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC},
                   Fs{"/dev/shm", "tmpfs", "mode=01777,size=10%,nr_inodes=1m", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV},
                   Fs{"/dev/mqueue", "mqueue", "", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC}}) {
        BERTH_ASSIGN_CTX(UniqueFd m, make_fs_mount(f.type, f.opts, f.attrs, f.type),
                         "Failed to mount {} in machine \"{}\"", f.dest, plan.machine);
        BERTH_TRY_CTX(attach_in_root(m.get(), rootfd, f.dest), "Failed to mount {} in machine \"{}\"", f.dest,
                      plan.machine);
    }
    if (!console_uses_pty(plan.console)) return UniqueFd();

    // The console is a pty of the machine's own devpts instance: the guest sees a normal /dev/pts/0.
    BERTH_ASSIGN(UniqueFd ptmx, open_in_root(rootfd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK));
    int unlock = 0;
    if (::ioctl(ptmx.get(), TIOCSPTLCK, &unlock) < 0) return errno_error("Failed to unlock the console pty");
    int n = -1;
    if (::ioctl(ptmx.get(), TIOCGPTN, &n) < 0) return errno_error("Failed to get the console pty number");
    BERTH_ASSIGN(UniqueFd slave, open_in_root(rootfd, fmt::format("/dev/pts/{}", n), O_PATH));
    BERTH_ASSIGN_CTX(UniqueFd m, make_bind_mount(slave.get(), "", false),
                     "Failed to bind the console in machine \"{}\"", plan.machine);
    BERTH_TRY_CTX(attach_in_root(m.get(), rootfd, "/dev/console", true),
                  "Failed to bind /dev/console in machine \"{}\"", plan.machine);
    return ptmx;
}

}  // namespace berth::nspawn
