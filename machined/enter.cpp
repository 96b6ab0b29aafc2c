#include "machined/enter.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/cgroup.hpp"
#include "common/fileio.hpp"
#include "common/seccomp_record.hpp"
#include "common/values.hpp"
#include "machined/procfs.hpp"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

namespace berth::machined {

namespace {

// The mount point of the v1 hierarchy that has exactly these controllers (or this name=).
std::optional<std::string> v1_mount(std::string_view controllers, std::string_view mounts) {
    for (auto line : split_fields(mounts, '\n')) {
        auto f = split_fields(line, ' ');
        if (f.size() < 4 || f[2] != "cgroup") continue;
        auto options = split_fields(f[3], ',');
        bool all = true;
        for (auto c : split_fields(controllers, ','))
            all = all && std::find(options.begin(), options.end(), c) != options.end();
        if (all) return std::string(f[1]);
    }
    return std::nullopt;
}

// ---- in the children: nothing here returns to machined ---------------------------------------------

void say(int fd, const std::string& text) {
    std::string line = text + "\n";
    (void)!::write(fd, line.data(), line.size());
}

[[noreturn]] void fail(int fd, const Error& e, int code) {
    if (fd >= 0) say(fd, e.message);
    ::_exit(code);
}

void reset_signals() {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; s++) ::signal(s, SIG_DFL);
}

Status join_cgroups(const std::vector<std::string>& files, const std::string& machine) {
    for (auto& f : files) {
        UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd || ::write(fd.get(), "0", 1) != 1)
            return errno_error(fmt::format("Failed to join the cgroup {} of machine \"{}\"", f, machine));
    }
    return {};
}

// B's confinement, before the user changes: dropping from the bounding set and loading a filter without
// no_new_privs need the capabilities B has as root of the machine's user namespace until then.
Status confine(const LeaderConfinement& c) {
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return errno_error("Failed to clear the ambient capabilities");
    for (int cap = 0; cap < 64; cap++) {
        if (c.bounding & (uint64_t{1} << cap)) continue;
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return errno_error(fmt::format("Failed to drop capability {} from the bounding set", cap));
    }
    if (c.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return errno_error("Failed to set no_new_privs");
    if (!c.filter.empty()) {
        sock_fprog prog{};
        prog.len = static_cast<unsigned short>(c.filter.size());
        prog.filter = const_cast<sock_filter*>(c.filter.data());
        if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
            return errno_error("Failed to load the system call filter of the machine");
    }
    return {};
}

Status become(const GuestUser& u) {
    if (::setgroups(u.groups.size(), u.groups.data()) < 0 || ::setresgid(u.gid, u.gid, u.gid) < 0 ||
        ::setresuid(u.uid, u.uid, u.uid) < 0)
        return errno_error(fmt::format("Failed to become user \"{}\"", u.name));
    return {};
}

// B: its streams, a session of its own, the leader's confinement, the user, then the command.
[[noreturn]] void run_command(const EnterRequest& r, int in, int out, int err, bool tty) {
    reset_signals();
    ::setsid();
    if (tty && ::ioctl(in, TIOCSCTTY, 0) < 0) fail(err, errno_error("Failed to acquire the terminal"), 126);
    int moved[3];
    for (int i = 0; i < 3; i++) moved[i] = ::fcntl(i == 0 ? in : i == 1 ? out : err, F_DUPFD_CLOEXEC, 10);
    for (int i = 0; i < 3; i++)
        if (moved[i] < 0 || ::dup2(moved[i], i) < 0) fail(err, errno_error("Failed to set up the streams"), 126);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    if (auto s = confine(*r.confinement); !s.ok()) fail(2, s.error(), 126);
    if (auto s = become(*r.user); !s.ok()) fail(2, s.error(), 126);
    if (::chdir(r.user->home.c_str()) < 0) (void)::chdir("/");
    const GuestCommand& c = *r.command;
    std::vector<char*> argv, envp;
    for (auto& a : c.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& e : c.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    ::execve(c.path.c_str(), argv.data(), envp.data());
    int code = errno == ENOENT ? 127 : 126;
    fail(2, errno_error(fmt::format("Failed to execute {} in machine \"{}\"", c.path, r.machine)), code);
}

// A: joins the machine, forks B, waits for it, tells how it ended. `in_unified`: A was created in the
// unified cgroup of the leader already.
[[noreturn]] void run_waiter(const EnterRequest& r, bool in_unified) {
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    int in = r.io.in, out = r.io.out, err = r.io.err;
    UniqueFd peer;
    bool tty = r.io.pty_master >= 0;
    if (tty) {
        peer.reset(::ioctl(r.io.pty_master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!peer) fail(-1, Error{}, 1);
        in = out = err = peer.get();
    }
    const auto& files = r.confinement->cgroup_procs;
    size_t skip = in_unified && r.confinement->first_is_unified ? 1 : 0;
    if (auto s = join_cgroups({files.begin() + static_cast<ptrdiff_t>(std::min(skip, files.size())), files.end()},
                              r.machine);
        !s.ok())
        fail(err, s.error(), 1);
    // The leader's limits, while A is still on the host: raised above machined's own where A may (with
    // CAP_SYS_RESOURCE), else only as far as machined's own hard limit. Never more than the leader's.
    for (auto& [res, lim] : r.confinement->limits) {
        auto resource = static_cast<__rlimit_resource>(res);
        if (::setrlimit(resource, &lim) == 0) continue;
        rlimit ours{}, capped = lim;
        if (errno == EPERM && ::getrlimit(resource, &ours) == 0) {
            capped.rlim_max = std::min(lim.rlim_max, ours.rlim_max);
            capped.rlim_cur = std::min(lim.rlim_cur, capped.rlim_max);
            if (::setrlimit(resource, &capped) == 0) continue;
        }
        fail(err, errno_error(fmt::format("Failed to set the process limits of machine \"{}\"", r.machine)), 1);
    }
    if (auto s = enter_machine_namespaces(*r.ns, r.machine); !s.ok()) fail(err, s.error(), 1);
    // Only the status pipe (and the terminal, to log in on again) stays: the master and B's streams would
    // keep the session open after B.
    int status_fd = r.status_fd;
    bool respawn = tty && !r.respawn_on.empty();
    int st = 0;
    bool first = true;
    for (int quick_ends = 0;;) {
        pid_t b = ::fork();
        if (b < 0) fail(err, errno_error(fmt::format("Failed to start a process in machine \"{}\"", r.machine)), 1);
        if (b == 0) run_command(r, in, out, err, tty);
        if (first) {
            if (status_fd >= 0 && status_fd != 3) status_fd = ::dup2(status_fd, 3);
            if (null)
                for (int i = 0; i < 3; i++) ::dup2(null.get(), i);
            ::syscall(SYS_close_range, status_fd >= 0 ? 4U : 3U, ~0U, 0U);
            (void)null.release(), (void)peer.release();  // closed just now
            first = false;
        } else {
            peer.reset();  // B's now
        }
        struct timespec started {};
        ::clock_gettime(CLOCK_MONOTONIC, &started);
        while (::waitpid(b, &st, 0) < 0 && errno == EINTR) {
        }
        if (!respawn) break;
        // The terminal is there again only while its master is open: devpts removes the node with it.
        peer.reset(::open(r.respawn_on.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!peer) break;
        in = out = err = peer.get();
        // A login that cannot even start would loop: stop after 5 ends within a second each, as systemd's
        // start limit stops a getty that keeps failing.
        struct timespec ended {};
        ::clock_gettime(CLOCK_MONOTONIC, &ended);
        quick_ends = ended.tv_sec - started.tv_sec < 1 ? quick_ends + 1 : 0;
        if (quick_ends >= 5) break;
        if (quick_ends > 0) ::sleep(1);
    }
    if (status_fd >= 0) {
        std::string line = status_line(st);
        (void)!::write(status_fd, line.data(), line.size());
    }
    ::_exit(0);
}

}  // namespace

std::optional<uint64_t> status_hex(std::string_view status, std::string_view key) {
    std::string needle = "\n" + std::string(key) + ":";
    size_t at = status.find(needle);
    if (at == std::string_view::npos) return std::nullopt;
    at += needle.size();
    while (at < status.size() && (status[at] == ' ' || status[at] == '\t')) at++;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(status.data() + at, status.data() + status.size(), v, 16);
    if (ec != std::errc() || p == status.data() + at) return std::nullopt;
    return v;
}

std::vector<std::string> cgroup_procs_files(std::string_view proc_cgroup, const std::string& unified_root,
                                            std::string_view mounts) {
    std::vector<std::string> unified, v1;
    for (auto line : split_fields(proc_cgroup, '\n')) {
        size_t a = line.find(':'), b = a == std::string_view::npos ? a : line.find(':', a + 1);
        if (b == std::string_view::npos) continue;
        std::string_view id = line.substr(0, a), controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (path.empty() || path[0] != '/' || path.find("/..") != std::string_view::npos) continue;
        std::string rel = path == "/" ? "" : std::string(path);
        if (id == "0" && controllers.empty()) {
            unified.push_back(unified_root + rel + "/cgroup.procs");
        } else if (!controllers.empty()) {
            if (auto mount = v1_mount(controllers, mounts)) v1.push_back(*mount + rel + "/cgroup.procs");
        }
    }
    unified.insert(unified.end(), v1.begin(), v1.end());
    return unified;
}

std::vector<std::pair<int, rlimit>> parse_proc_limits(std::string_view text) {
    std::vector<std::pair<int, rlimit>> out;
    auto value = [](const std::string& v, rlim_t& into) {
        if (v == "unlimited") {
            into = RLIM_INFINITY;
            return true;
        }
        if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return false;
        into = std::strtoull(v.c_str(), nullptr, 10);
        return true;
    };
    size_t pos = text.find('\n');  // the header
    for (int res = 0; pos != std::string_view::npos && res < RLIM_NLIMITS; res++) {
        size_t end = text.find('\n', pos + 1);
        std::string_view line = text.substr(pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
        pos = end;
        // "%-25s %-20s %-20s %-10s": the name may hold spaces, the values do not.
        if (line.size() <= 26) break;
        std::istringstream in{std::string(line.substr(26))};
        std::string soft, hard;
        in >> soft >> hard;
        rlimit lim{};
        if (value(soft, lim.rlim_cur) && value(hard, lim.rlim_max)) out.emplace_back(res, lim);
    }
    return out;
}

Result<LeaderConfinement> read_leader_confinement(const Machine& m) {
    LeaderConfinement c;
    BERTH_ASSIGN_CTX(std::string status, read_file(fmt::format("/proc/{}/status", m.leader)),
                     "Failed to read the leader of machine \"{}\"", m.name);
    auto bounding = status_hex(status, "CapBnd");
    if (!bounding) return plain_error(fmt::format("No capability bounding set for the leader of machine \"{}\"", m.name), EIO);
    c.bounding = *bounding;
    c.no_new_privs = status_number(status, "NoNewPrivs").value_or(0) != 0;
    // Read from /proc: prlimit() on another process would need CAP_SYS_RESOURCE over its user namespace.
    BERTH_ASSIGN_CTX(std::string limits, read_file(fmt::format("/proc/{}/limits", m.leader)),
                     "Failed to read the process limits of the leader of machine \"{}\"", m.name);
    c.limits = parse_proc_limits(limits);
    auto seccomp = status_number(status, "Seccomp").value_or(0);
    if (seccomp == 1)
        return plain_error(fmt::format("The leader of machine \"{}\" runs in strict seccomp mode: nothing can join it",
                                       m.name),
                           EPERM);
    if (seccomp == 2) {
        auto record = read_seccomp_record(m.name);
        if (!record.ok() || record->leader != m.leader)
            return plain_error(fmt::format("Machine \"{}\" runs under a system call filter that was not recorded for "
                                           "it (not started by berth's nspawn?): refusing to run anything in it "
                                           "without that filter",
                                           m.name),
                               EPERM);
        c.filter = std::move(record->code);
    }
    BERTH_ASSIGN_CTX(std::string cgroups, read_file(fmt::format("/proc/{}/cgroup", m.leader)),
                     "Failed to read the cgroups of machine \"{}\"", m.name);
    BERTH_ASSIGN(CgroupLayout layout, detect_cgroup_layout());
    auto mounts = read_file("/proc/self/mounts");
    std::string mount_text = mounts.ok() ? *mounts : std::string();
    auto leader_files = cgroup_procs_files(cgroups, layout.unified_root, mount_text);
    auto own = read_file("/proc/self/cgroup");
    c.cgroup_procs = cgroups_to_join(
        leader_files, own.ok() ? cgroup_procs_files(*own, layout.unified_root, mount_text) : std::vector<std::string>{});
    // cgroup_procs_files puts the unified one first when the leader has one ("0::/...").
    c.first_is_unified = !c.cgroup_procs.empty() && !leader_files.empty() &&
                         c.cgroup_procs.front() == leader_files.front() &&
                         (cgroups.rfind("0::", 0) == 0 || cgroups.find("\n0::") != std::string::npos);
    return c;
}

std::string status_line(int st) {
    if (WIFEXITED(st)) return fmt::format("exited {}\n", WEXITSTATUS(st));
    if (WIFSIGNALED(st)) return fmt::format("{} {}\n", WCOREDUMP(st) ? "dumped" : "killed", WTERMSIG(st));
    return "";
}

std::vector<std::string> cgroups_to_join(const std::vector<std::string>& leader, const std::vector<std::string>& own) {
    std::vector<std::string> out;
    for (auto& f : leader)
        if (std::find(own.begin(), own.end(), f) == own.end()) out.push_back(f);
    return out;
}

Result<pid_t> spawn_in_machine(const EnterRequest& r) {
    const LeaderConfinement& c = *r.confinement;
    pid_t a = -1;
    bool in_unified = false;
    if (c.first_is_unified && !c.cgroup_procs.empty()) {
        std::string dir = c.cgroup_procs.front().substr(0, c.cgroup_procs.front().rfind('/'));
        UniqueFd cg(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        // machined is single-threaded: a raw clone3 is a fork. Whatever stops it (an old kernel, a cgroup
        // that takes no processes) is left to the write in A, which names the failure.
        clone_args args{};
        args.flags = CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = static_cast<uint64_t>(cg.get());
        if (cg) a = static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
        in_unified = a >= 0;
    }
    if (a < 0) a = ::fork();
    if (a < 0) return errno_error(fmt::format("Failed to start a process for machine \"{}\"", r.machine));
    if (a == 0) run_waiter(r, in_unified);
    return a;
}

}  // namespace berth::machined
