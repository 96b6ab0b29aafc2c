#include "nspawn/child.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "common/id128.hpp"
#include "common/resources.hpp"
#include "nspawn/caps.hpp"
#include "nspawn/dev_tree.hpp"
#include "nspawn/image_users.hpp"
#include "nspawn/net.hpp"
#include "nspawn/notify.hpp"
#include "nspawn/stub_init.hpp"
#include "nspawn/userns.hpp"

namespace berth::nspawn {

namespace {

constexpr const char* kPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Die with the supervisor: a killed nspawn must not leave a machine behind. The kernel clears the death
// signal on every change of credentials, so it is armed again after each; a supervisor that died
// meanwhile shows as a readable pidfd.
void die_with_supervisor(int supervisor_pidfd) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    pollfd p{supervisor_pidfd, POLLIN, 0};
    if (supervisor_pidfd >= 0 && ::poll(&p, 1, 0) > 0) ::_exit(1);
}

std::vector<std::string> make_environment(const Plan& plan) {
    const char* term = std::getenv("TERM");
    std::vector<std::string> env = {
        fmt::format("PATH={}", kPath),
        "container=berth",
        fmt::format("container_uuid={}", id128_to_uuid(plan.uuid)),
        "NOTIFY_SOCKET=/run/host/notify",
        fmt::format("HOME={}", plan.user.home),
        fmt::format("USER={}", plan.user.name),
        fmt::format("LOGNAME={}", plan.user.name),
        fmt::format("SHELL={}", plan.user.shell),
        fmt::format("TERM={}", plan.console == ConsoleMode::Pipe ? "dumb" : (term && *term ? term : "vt220")),
    };
    // --setenv last, overriding the defaults of the same name.
    for (auto& kv : plan.environment) {
        std::string name = kv.substr(0, kv.find('=') + 1);
        std::erase_if(env, [&](const std::string& e) { return e.rfind(name, 0) == 0; });
        env.push_back(kv);
    }
    return env;
}

std::string find_executable(const std::string& cmd) {
    if (cmd.find('/') != std::string::npos) return cmd;
    std::string path = kPath;
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find(':', i);
        if (j == std::string::npos) j = path.size();
        std::string cand = path.substr(i, j - i) + "/" + cmd;
        if (::access(cand.c_str(), X_OK) == 0) return cand;
        i = j + 1;
    }
    return cmd;
}

// The console pty (or, with --console=pipe, our inherited stdio) becomes the payload's stdio. The
// process that runs the payload leads a session of its own with the console as controlling terminal.
Status attach_console(const Plan& plan, bool session_leader) {
    if (session_leader && ::setsid() < 0) return errno_error("Failed to start a new session");
    if (plan.console == ConsoleMode::Pipe) return {};
    UniqueFd console(::open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!console) return errno_error("Failed to open /dev/console");
    if (session_leader && ::ioctl(console.get(), TIOCSCTTY, 0) < 0)
        return errno_error("Failed to make /dev/console the controlling terminal");
    for (int i = 0; i < 3; i++)
        if (::dup2(console.get(), i) < 0) return errno_error("Failed to attach the console");
    return {};
}

[[noreturn]] void exec_payload(const Plan& plan, const Channel& ch, const SeccompProgram& seccomp, int supervisor) {
    auto env = make_environment(plan);
    std::vector<char*> envp, argv;
    for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    for (auto& a : plan.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::string exe = find_executable(plan.argv[0]);

    std::string dir = plan.chdir.empty() ? (plan.boot ? "/" : plan.user.home) : plan.chdir;
    if (::chdir(dir.c_str()) < 0) {
        if (!plan.chdir.empty()) {
            (void)ch.send_error(errno_error(fmt::format("Failed to change to directory {} in machine \"{}\"",
                                                        plan.chdir, plan.machine)));
            ::_exit(1);
        }
        (void)::chdir("/");
    }
    // Limits, then the filter (loading it needs CAP_SYS_ADMIN or no_new_privs, so before the capabilities
    // go: --drop-capability=CAP_SYS_ADMIN; it denies nothing the next steps call), then the bounding set
    // (dropping needs CAP_SETPCAP), the user (with CAP_SETGID and CAP_SETUID still effective, whatever
    // the plan keeps), and last root's own capabilities: a non-root user has none left by then.
    uint64_t keep = plan.privileges.capabilities;
    auto s = apply_process_limits_in_child(plan.resources);
    if (s.ok()) s = load_seccomp_in_child(seccomp, plan.privileges.no_new_privileges);
    if (s.ok()) s = limit_bounding_set_in_child(keep);
    if (s.ok() && !plan.boot) s = become_user_in_child(plan.user);
    if (s.ok()) s = limit_process_capabilities_in_child(keep);
    if (!s.ok()) {
        (void)ch.send_error(s.error());
        ::_exit(1);
    }
    die_with_supervisor(supervisor);
    reset_signal_dispositions();
    ::execve(exe.c_str(), argv.data(), envp.data());
    (void)ch.send_error(errno_error(fmt::format("Failed to execute {} in machine \"{}\"", plan.argv[0], plan.machine)));
    ::_exit(127);
}

Status build_machine(const ChildContext& ctx) {
    const Plan& plan = ctx.plan;
    const Channel& ch = ctx.channel;
    // A network namespace of its own, made here rather than by the clone: the kernel's setup of it then
    // runs while the supervisor applies limits, maps the IDs and makes the root mount, and the supervisor
    // adds the links while we build the filesystems below. Owned by the machine's user namespace, as if
    // cloned. Its loopback comes up first: that takes the kernel's global rtnl lock, which the
    // supervisor holds while it creates the links.
    if (plan.private_network) {
        if (::unshare(CLONE_NEWNET) < 0)
            return errno_error(fmt::format("Failed to create the network namespace of machine \"{}\"", plan.machine));
        BERTH_TRY(apply_network_in_child(plan.network));
        BERTH_TRY(ch.send(Stage::NetworkNamespace));
    }
    // The supervisor sends the mounts it made for us (it alone may idmap, or bind without its submounts
    // what a user namespace would lock), then the go-ahead.
    UniqueFd root_mount;
    std::vector<UniqueFd> binds;
    UniqueFd sys_mount;
    if (plan.userns.enabled()) {
        BERTH_ASSIGN(Message m, ch.expect(Stage::RootMount));
        root_mount = std::move(m.fd);
        if (!plan.private_network) {
            BERTH_ASSIGN(Message sm, ch.expect(Stage::SysMount));
            sys_mount = std::move(sm.fd);
        }
    }
    for (size_t i = 0; i < plan.binds.size(); i++) {
        BERTH_ASSIGN(Message bm, ch.expect(Stage::BindMount));
        binds.push_back(std::move(bm.fd));
    }
    std::vector<UniqueFd> overlays;
    for (size_t i = 0; plan.userns.enabled() && i < plan.overlays.size(); i++) {
        BERTH_ASSIGN(Message om, ch.expect(Stage::OverlayMount));
        overlays.push_back(std::move(om.fd));
    }
    BERTH_TRY(ch.expect(Stage::ParentConfigured));
    if (plan.userns.enabled()) {
        BERTH_TRY(become_userns_root_in_child());
        BERTH_TRY(apply_userns_limits_in_child(plan.resources));
        die_with_supervisor(ctx.supervisor_pidfd);
    }
    if (ctx.unshare_cgroupns && ::unshare(CLONE_NEWCGROUP) < 0)
        return errno_error("Failed to create the cgroup namespace");
    if (::sethostname(plan.hostname.data(), plan.hostname.size()) < 0)
        return errno_error(fmt::format("Failed to set hostname \"{}\"", plan.hostname));

    UniqueFd rootfd;
    if (root_mount) {
        BERTH_TRY(attach_root_mount_in_child(root_mount.get(), ctx.root));
        rootfd = std::move(root_mount);
    } else {
        rootfd.reset(::open(ctx.root.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!rootfd) return errno_error(fmt::format("Failed to open {}", ctx.root.path));
    }
    BERTH_TRY(mount_api_filesystems_in_child(plan, rootfd.get(), sys_mount ? sys_mount.get() : -1));
    BERTH_TRY(protect_proc_in_child(plan, rootfd.get()));
    BERTH_ASSIGN(UniqueFd master, setup_dev_in_child(plan, rootfd.get()));
    if (master) BERTH_TRY(ch.send(Stage::ConsoleMaster, master.get()));
    BERTH_ASSIGN(UniqueFd notify, bind_notify_socket_in_child(plan, rootfd.get()));
    BERTH_TRY(ch.send(Stage::NotifySocket, notify.get()));
    BERTH_TRY(mount_custom_in_child(plan, ctx.root, rootfd.get(), binds, overlays));
    BERTH_TRY(finish_mounts_in_child(plan, rootfd.get()));
    BERTH_TRY(enter_root_in_child(rootfd.get()));
    BERTH_TRY(ch.send(Stage::ChildReady));
    BERTH_TRY(ch.expect(Stage::Go));
    return attach_console(plan, !plan.as_pid2);
}

}  // namespace

void run_child(const ChildContext& ctx) {
    die_with_supervisor(ctx.supervisor_pidfd);
    // Nothing but stdio may reach the payload: everything we inherited closes at exec.
    ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    auto s = build_machine(ctx);
    if (!s.ok()) {
        (void)ctx.channel.send_error(s.error());
        ::_exit(1);
    }
    if (ctx.plan.as_pid2) {
        install_stub_signals();
        pid_t pid = ::fork();
        if (pid < 0) {
            (void)ctx.channel.send_error(errno_error("Failed to fork PID 2"));
            ::_exit(1);
        }
        if (pid == 0) {
            // PID 2 gets the terminal: a session of its own, the console as controlling tty.
            reset_signal_dispositions();
            ::setsid();
            if (ctx.plan.console != ConsoleMode::Pipe) ::ioctl(0, TIOCSCTTY, 0);
            exec_payload(ctx.plan, ctx.channel, ctx.seccomp, ctx.supervisor_pidfd);
        }
        // PID 1 keeps of its privileges only CAP_KILL (to pass signals on to a PID 2 of another user),
        // under the filter and no_new_privs: guest root may ptrace it, and must gain nothing. And only stdio.
        auto confined = load_seccomp_in_child(ctx.seccomp, true);
        if (confined.ok()) confined = limit_capabilities_in_child(uint64_t{1} << CAP_KILL);
        if (!confined.ok()) {
            ::kill(pid, SIGKILL);
            (void)ctx.channel.send_error(confined.error());
            ::_exit(1);
        }
        ::syscall(SYS_close_range, 3U, ~0U, 0U);
        run_stub_init(pid);
    }
    exec_payload(ctx.plan, ctx.channel, ctx.seccomp, ctx.supervisor_pidfd);
}

}  // namespace berth::nspawn
