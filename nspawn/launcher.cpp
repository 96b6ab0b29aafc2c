#include "nspawn/launcher.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>

#include "common/fileio.hpp"
#include "common/log.hpp"
#include "common/mount_api.hpp"
#include "common/pool.hpp"
#include "common/resources.hpp"
#include "common/signals.hpp"
#include "nspawn/child.hpp"
#include "nspawn/child_process.hpp"
#include "nspawn/dev_tree.hpp"
#include "nspawn/device_policy.hpp"
#include "nspawn/footprint.hpp"
#include "nspawn/lock.hpp"
#include "nspawn/machine_cgroup.hpp"
#include "nspawn/machined_registration.hpp"
#include "nspawn/mount.hpp"
#include "nspawn/net.hpp"
#include "nspawn/notify.hpp"
#include "nspawn/seccomp.hpp"
#include "nspawn/stale.hpp"
#include "nspawn/supervisor.hpp"
#include "nspawn/userns.hpp"

namespace berth::nspawn {

// A step's name says on which side of the clone it runs, so which namespaces and privileges it has and
// what it may touch, the same in every module (docs/nspawn.md, "Source map"):
//   prepare_<thing>()          the supervisor, on the host, before the clone;
//   configure_<thing>()        the supervisor, once the child exists (it waits for Stage::ParentConfigured);
//   <verb>_<thing>_in_child()  the child, inside the machine (its steps: build_machine in child.cpp);
//   cleanup_<thing>()          the supervisor, undoing prepare/configure at exit or after a failed start.
// This file is the supervisor's list of those steps.

namespace {

constexpr int kExitRebootKeepUnit = 133;  // systemd-nspawn's code: "restart me" for the unit

// What one boot creates on the host; a guest reboot ends it and begins a new one.
struct BootState {
    Cgroup cgroup;
    ResourceCgroups limits;
    DeviceGuard devices;
    NetworkState network;
    RecordedSeccomp seccomp;  // for machined: the filter the leader runs under
};

// Everything a start creates on the host, undone in reverse order whatever happens.
struct HostState {
    const Plan& plan;
    MachineLocks locks;
    UserRange users;  // with a user namespace
    PreparedRoot root;
    SeccompProgram seccomp;
    BootState boot;

    explicit HostState(const Plan& p) : plan(p) {}
    void cleanup_boot() {
        boot.seccomp = RecordedSeccomp{};
        cleanup_network(boot.network, plan.machine);
        cleanup_v1_cgroups(boot.limits);
        cleanup_device_policy(boot.devices);
        cleanup_machine_cgroup(boot.cgroup);
        boot = BootState{};
    }
    ~HostState() {
        cleanup_boot();
        cleanup_root(root);
        cleanup_user_range(users);
        finish_network_cleanup();  // begun by cleanup_boot, under way while the rest was undone
    }
};

// Before the clone: the machine's cgroup (the child is cloned into it), and the process limits the child
// inherits. Its cgroup limits and device policy follow once the child is in it, while it makes its
// network namespace (configure_child); it waits for them before it does anything else.
Status prepare_boot(const Plan& plan, HostState& host) {
    BERTH_ASSIGN(host.boot.cgroup, prepare_machine_cgroup(plan));
    prepare_process_limits(plan.resources);
    return {};
}

// User namespace: maps, the cgroup handed to the machine's root, and the mounts only we may create
// (idmapped ones), sent to the child before the go-ahead.
Status configure_userns(const Plan& plan, HostState& host, pid_t pid, const Channel& ch) {
    BERTH_TRY(configure_id_maps(pid, host.users));
    BERTH_TRY(configure_cgroup_delegation(host.boot.cgroup, host.users.base));
    UniqueFd userns(::open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY | O_CLOEXEC));
    if (!userns) return errno_error("Failed to open the machine's user namespace");
    Ownership own = plan.userns.ownership;
    // An image chowned to this very range earlier already shows the machine's IDs: mapping it again
    // would shift every file a second time (to nobody).
    if (own == Ownership::Auto && image_chowned_to(plan.directory, host.users)) own = Ownership::Off;
    if (own == Ownership::Chown) BERTH_TRY(chown_image(plan.directory, host.users));
    bool idmap = own == Ownership::Auto || own == Ownership::Map;
    auto root = make_root_mount(plan, host.root, idmap ? userns.get() : -1);
    bool cannot_idmap = !root.ok() && (root.error().code == EINVAL || root.error().code == EOPNOTSUPP);
    if (cannot_idmap && own == Ownership::Auto && (plan.ephemeral || plan.read_only))
        return Error{root.error().code,
                     fmt::format("The filesystem of {} cannot do idmapped mounts, and with {} its files are not "
                                 "changed to the machine's range: start it once without {} (or with "
                                 "--private-users-ownership=chown), or with --private-users=no",
                                 plan.directory, plan.ephemeral ? "--ephemeral" : "--read-only",
                                 plan.ephemeral ? "--ephemeral" : "--read-only")};
    if (cannot_idmap && own == Ownership::Auto) {
        spdlog::warn("The filesystem of {} cannot do idmapped mounts: changing the owner of its files to the "
                     "machine's range ({}..{}) once.",
                     plan.directory, host.users.base, host.users.base + host.users.range - 1);
        BERTH_TRY(chown_image(plan.directory, host.users));
        root = make_root_mount(plan, host.root, -1);
    }
    if (!root.ok()) return root.error();
    BERTH_TRY(ch.send(Stage::RootMount, root->get()));
    if (!plan.private_network) {
        BERTH_ASSIGN_CTX(UniqueFd sys, make_sys_mount(), "Failed to bind /sys for machine \"{}\"", plan.machine);
        BERTH_TRY(ch.send(Stage::SysMount, sys.get()));
    }
    return {};
}

// Every --bind is made here and handed over: idmapping needs our privileges, and a bind without its
// submounts could not be made inside a user namespace.
Status configure_binds(const Plan& plan, pid_t pid, const Channel& ch) {
    UniqueFd userns;
    if (plan.userns.enabled()) {
        userns.reset(::open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY | O_CLOEXEC));
        if (!userns) return errno_error("Failed to open the machine's user namespace");
    }
    for (auto& b : plan.binds) {
        BERTH_ASSIGN_CTX(UniqueFd m, make_bind(b, userns.get()), "Failed to bind {} in machine \"{}\"", b.source,
                         plan.machine);
        BERTH_TRY(ch.send(Stage::BindMount, m.get()));
    }
    return {};
}

// With a user namespace, every --overlay is made here too (see make_machine_overlays).
Status configure_overlays(const Plan& plan, const HostState& host, pid_t pid, const Channel& ch) {
    if (!plan.userns.enabled() || plan.overlays.empty()) return {};
    UniqueFd userns(::open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY | O_CLOEXEC));
    if (!userns) return errno_error("Failed to open the machine's user namespace");
    BERTH_ASSIGN(auto overlays, make_machine_overlays(plan, host.root, userns.get(), host.users.base));
    for (auto& m : overlays) BERTH_TRY(ch.send(Stage::OverlayMount, m.get()));
    return {};
}

// The parent's part once the child exists and waits: its cgroup limits and device policy, its maps and
// mounts, the cgroups it must join.
Status configure_child(const Plan& plan, HostState& host, pid_t pid, const Channel& ch) {
    BERTH_ASSIGN(host.boot.limits, configure_cgroup_limits(plan.resources, host.boot.cgroup, plan.machine));
    BERTH_ASSIGN(host.boot.devices, configure_device_policy(host.boot.cgroup, plan.machine));
    if (plan.userns.enabled()) BERTH_TRY(configure_userns(plan, host, pid, ch));
    BERTH_TRY(configure_binds(plan, pid, ch));
    BERTH_TRY(configure_overlays(plan, host, pid, ch));
    BERTH_TRY(configure_v1_cgroups(host.boot.limits, pid));
    BERTH_TRY(configure_device_cgroup(host.boot.devices, pid));
    return {};
}

// The machine's links, forwards and moved interfaces, made while the child builds its filesystems (its
// payload waits for Stage::Go), in the network namespace it made itself (see build_machine).
Status configure_child_network(const Plan& plan, HostState& host, pid_t pid, const Channel& ch) {
    if (!plan.private_network) return {};
    BERTH_TRY(ch.expect(Stage::NetworkNamespace));
    BERTH_ASSIGN(host.boot.network, configure_network(plan.network, plan.machine, pid));
    return {};
}

Result<UniqueFd> block_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGWINCH, SIGCHLD}) sigaddset(&set, s);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) < 0) return errno_error("Failed to block signals");
    int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) return errno_error("Failed to create signalfd");
    return UniqueFd(fd);
}

struct Cloned {
    bool in_child = false;  // we are the clone
    ChildProcess child;     // in the supervisor
    bool into_cgroup = true;
};

Result<Cloned> clone_machine(const Plan& plan, uid_t owner, int cgroup_fd, bool into_cgroup) {
    std::optional<NamespaceOwner> as_owner;
    if (plan.userns.enabled()) {
        auto o = NamespaceOwner::assume(owner, plan.resources.tasks_ceiling);
        if (!o.ok()) return o.error();
        as_owner.emplace(std::move(*o));
    }
    clone_args args{};
    int pidfd = -1;
    // No CLONE_NEWNET: the child makes its network namespace itself, in parallel with our work.
    args.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD |
                 (plan.userns.enabled() ? CLONE_NEWUSER : 0);
    if (into_cgroup) {
        args.flags |= CLONE_INTO_CGROUP | CLONE_NEWCGROUP;
        args.cgroup = static_cast<uint64_t>(cgroup_fd);
    }
    args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0 && as_owner) as_owner->forget();
    if (pid < 0) return errno_error(fmt::format("Failed to create the namespaces of machine \"{}\"", plan.machine));
    Cloned c;
    c.in_child = pid == 0;
    if (pid > 0) c.child = ChildProcess(static_cast<pid_t>(pid), UniqueFd(pidfd));
    c.into_cgroup = into_cgroup;
    return c;
}

// The count of OOM kills in the machine's memory cgroup (v2 memory.events, v1 memory.oom_control).
uint64_t oom_kills(const BootState& boot) {
    std::vector<std::string> files{boot.cgroup.path() + "/memory.events"};
    for (auto& v1 : boot.limits.v1_paths) files.push_back(v1 + "/memory.oom_control");
    uint64_t total = 0;
    for (auto& f : files) {
        auto text = read_file(f);
        if (!text.ok()) continue;
        auto at = text->find("oom_kill ");
        if (at != std::string::npos) total += std::strtoull(text->c_str() + at + 9, nullptr, 10);
    }
    return total;
}

// Why a child that closed its side of the setup without a word ended: its status or signal, and the
// out-of-memory killer when that was it (a memory limit too small for even the setup, --memory-max=1).
Error setup_death(const Plan& plan, const BootState& boot, const std::optional<siginfo_t>& how, const Error& e) {
    if (!how) return e;
    std::string what = how->si_code == CLD_EXITED ? fmt::format("exited with status {}", how->si_status)
                                                  : fmt::format("was killed by {}", signal_name(how->si_status));
    std::string why;
    if (oom_kills(boot) > 0)
        why = plan.resources.memory_max
                  ? fmt::format(": the out-of-memory killer ended it; its memory limit ({} bytes, --memory-max) is "
                                "too small to start it",
                                *plan.resources.memory_max)
                  : ": the out-of-memory killer ended it";
    return Error{e.code, fmt::format("Machine \"{}\" {} during its setup{}", plan.machine, what, why)};
}

// Walk the cloned child through the named stages, up to a payload that runs. On failure the caller ends
// the child (see start_machine).
Result<RunningMachine> walk_stages(const Plan& plan, HostState& host, const Cloned& cloned, const Channel& ch) {
    pid_t pid = cloned.child.pid();
    if (!cloned.into_cgroup) BERTH_TRY(host.boot.cgroup.write("cgroup.procs", std::to_string(pid)));
    BERTH_TRY(configure_child(plan, host, pid, ch));
    BERTH_TRY(ch.send(Stage::ParentConfigured));
    BERTH_TRY(configure_child_network(plan, host, pid, ch));

    RunningMachine m;
    if (console_uses_pty(plan.console)) {
        BERTH_ASSIGN(Message msg, ch.expect(Stage::ConsoleMaster));
        m.console = std::make_unique<Console>(plan.console, std::move(msg.fd));
    }
    BERTH_ASSIGN(Message notify, ch.expect(Stage::NotifySocket));
    m.notify = std::move(notify.fd);
    BERTH_TRY(ch.expect(Stage::ChildReady));
    BERTH_ASSIGN(host.boot.seccomp, configure_seccomp_record(plan.machine, pid, host.seccomp));
    // Registered before the payload runs, so the guest is never visible unregistered.
    BERTH_ASSIGN(m.registered, configure_registration(plan, pid, host.boot.network.host_ifindices));
    if (auto s = ch.send(Stage::Go); !s.ok()) {
        if (m.registered) Unregistration::begin(plan).finish();
        return s.error();
    }
    return m;
}

// Clone the child, walk it through the named stages, and hand back a machine whose payload runs.
Result<RunningMachine> start_machine(const Plan& plan, HostState& host) {
    BERTH_ASSIGN(auto channels, Channel::make_pair());
    auto& [parent_ch, child_ch] = channels;
    BERTH_ASSIGN(UniqueFd cgfd, host.boot.cgroup.open_dir());
    UniqueFd self(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));

    uid_t owner = plan.userns.enabled() ? host.users.base : 0;
    auto cloned = clone_machine(plan, owner, cgfd.get(), true);
    if (!cloned.ok() && (cloned.error().code == EINVAL || cloned.error().code == EOPNOTSUPP ||
                         cloned.error().code == E2BIG || cloned.error().code == EBUSY))
        cloned = clone_machine(plan, owner, cgfd.get(), false);  // kernels without CLONE_INTO_CGROUP
    if (!cloned.ok()) {
        take_back_oom_score();
        return cloned.error();
    }
    if (cloned->in_child) {
        parent_ch.close();
        run_child(ChildContext{plan, host.root, child_ch, host.seccomp, !cloned->into_cgroup, self.get()});
    }
    take_back_oom_score();  // the child has it now
    child_ch.close();

    auto m = walk_stages(plan, host, *cloned, parent_ch);
    if (!m.ok()) {
        // A child that closed its side of the setup without a word is exiting: how it ended says why.
        // Any other failure: the child is killed as `cloned` goes, before the caller undoes the host.
        if (m.error().code == EPIPE) return setup_death(plan, host.boot, cloned->child.end(1000), m.error());
        return m.error();
    }
    m->init = std::move(cloned->child);
    m->channel = std::move(parent_ch);
    return m;
}

}  // namespace

Result<int> run_machine(const Plan& plan) {
    Unregistration unregistering;  // waited for after the host is undone (destroyed after `host`)
    HostState host(plan);
    BERTH_TRY(secure_pool(plan.pool));
    BERTH_ASSIGN(host.locks, MachineLocks::acquire(plan));
    collect_stale_state();
    collect_stale_network();
    BERTH_ASSIGN(host.seccomp, prepare_seccomp(plan.privileges));
    BERTH_ASSIGN(UniqueFd sigfd, block_signals());
    if (plan.userns.enabled()) {
        BERTH_ASSIGN(host.users, prepare_user_range(plan.userns, plan.directory, plan.machine));
    }
    BERTH_ASSIGN(host.root, prepare_root(plan, host.users.base));

    for (bool first = true;; first = false) {
        BERTH_TRY(prepare_boot(plan, host));
        auto m = start_machine(plan, host);
        if (!m.ok()) return m.error();
        if (first) {
            if (!plan.notify_ready) notify_host("READY=1");
            if (!plan.quiet && plan.console == ConsoleMode::Interactive)
                spdlog::info("Spawning machine \"{}\" on {}.\nPress ^] three times within 1s to kill it.", plan.machine,
                             plan.directory);
            release_startup_code();
        }
        Outcome out = supervise(plan, *m, sigfd.get(), host.boot.cgroup);
        if (m->console) m->console->restore_terminal();
        if (m->registered) unregistering = Unregistration::begin(plan);
        m = Error{};  // close the machine's fds before its cgroup goes
        if (out.error) return *out.error;
        if (!out.reboot) return out.exit_status;
        if (plan.keep_unit) return kExitRebootKeepUnit;
        if (!plan.quiet) spdlog::info("Machine \"{}\" is rebooting.", plan.machine);
        host.cleanup_boot();
        unregistering.finish();  // before the next boot registers the machine again
    }
}

}  // namespace berth::nspawn
