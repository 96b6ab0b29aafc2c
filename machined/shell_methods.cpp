#include "machined/shell_methods.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <memory>

#include <spdlog/spdlog.h>

#include "common/chase.hpp"
#include "common/fileio.hpp"
#include "machined/daemon.hpp"
#include "machined/enter.hpp"
#include "machined/forked_call.hpp"
#include "machined/guest_fd.hpp"
#include "machined/guest_systemd.hpp"
#include "machined/guest_user.hpp"
#include "machined/operations.hpp"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

namespace berth::machined {

namespace {

constexpr const char* kGuestBusSocket = "/run/dbus/system_bus_socket";
// What a busybox and a Debian guest have; login(1) prompts for the user itself.
constexpr const char* kLoginPrograms[] = {"/bin/login", "/usr/bin/login", "/sbin/login", "/usr/sbin/login"};

[[noreturn]] void fail(const Error& e) { throw_bus_error(kFailed, e.message); }

std::vector<std::string> read_strings(sd_bus_message* call) {
    char** raw = nullptr;
    check(sd_bus_message_read_strv(call, &raw), "read the arguments");
    std::vector<std::string> out;
    for (char** p = raw; p && *p; p++) {
        out.emplace_back(*p);
        free(*p);
    }
    free(raw);
    return out;
}

// A frozen machine would freeze whatever joins it, and the caller with it.
MachineNamespaces enter_namespaces(Machine& m) {
    if (is_frozen(m))
        throw_bus_error(kFailed, fmt::format("Machine \"{}\" is frozen: thaw it first (machinectl thaw {})", m.name, m.name));
    auto ns = open_machine_namespaces(m.leader, m.pidfd ? m.pidfd.get() : -1, m.name);
    if (!ns.ok()) fail(ns.error());
    return std::move(*ns);
}

GuestPty open_pty(const MachineNamespaces& ns, const Machine& m) {
    auto pty = open_machine_pty(ns, m.name);
    if (!pty.ok()) fail(pty.error());
    return std::move(*pty);
}

bool runs_systemd(const Machine& m) {
    auto comm = read_file(fmt::format("/proc/{}/comm", m.leader));
    return comm.ok() && *comm == "systemd\n";
}

LeaderConfinement confinement_of(const Machine& m) {
    auto c = read_leader_confinement(m);
    if (!c.ok()) fail(c.error());
    return std::move(*c);
}

GuestUser user_in(const MachineNamespaces& ns, const Machine& m, const std::string& user) {
    auto u = resolve_guest_user(ns.root.get(), user, m.name);
    if (!u.ok()) throw_bus_error(u.error().code == ENOENT ? kInvalidArgs : kFailed, u.error().message);
    return std::move(*u);
}

GuestCommand command_in(const MachineNamespaces& ns, const Machine& m, const GuestUser& u, const std::string& path,
                        const std::vector<std::string>& args, const std::vector<std::string>& env, bool tty) {
    auto c = make_guest_command(ns.root.get(), u, path, args, env, tty ? "vt220" : "dumb", m.name);
    if (!c.ok())
        throw_bus_error(c.error().code == EINVAL || c.error().code == ENOENT ? kInvalidArgs : kFailed, c.error().message);
    return std::move(*c);
}

// Runs `cmd` as `u` in the machine; A is reaped by the daemon's loop.
void spawn(Daemon& d, const Machine& m, const MachineNamespaces& ns, const GuestUser& u, const GuestCommand& cmd,
           const CommandIo& io, int status_fd, const std::string& respawn_on = "") {
    LeaderConfinement c = confinement_of(m);
    EnterRequest r{m.name, &ns, &c, &u, &cmd, io, status_fd, respawn_on};
    auto pid = spawn_in_machine(r);
    if (!pid.ok()) fail(pid.error());
    std::string name = m.name, what = cmd.path;
    auto watched = d.children().watch(*pid, [name, what](const siginfo_t& how) {
        spdlog::debug("{} in machine \"{}\" done (waiter status {})", what, name, how.si_status);
    });
    if (!watched.ok()) {
        ::kill(*pid, SIGKILL);
        while (::waitpid(*pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        fail(watched.error());
    }
}

int reply_pty(sd_bus_message* call, const GuestPty& pty) {
    return sd_bus_reply_method_return(call, "hs", pty.master.get(), pty.path.c_str());
}

std::string login_program(const MachineNamespaces& ns, const Machine& m) {
    for (const char* p : kLoginPrograms) {
        auto fd = open_in_root(ns.root.get(), p, O_PATH | O_CLOEXEC);
        if (fd.ok()) return p;
    }
    throw_bus_error(kFailed, fmt::format("Machine \"{}\" has no login program (looked for /bin/login, /usr/bin/login)", m.name));
}

// What machined does itself in a machine whose systemd is not there to ask: runs something on the pty.
using GoIn = std::function<void(Daemon& d, const Machine& m, const MachineNamespaces& ns, const GuestPty& pty)>;
// What a worker asks the guest's systemd on its bus (connected inside the machine).
using AskGuest = std::function<GuestOutcome(UniqueFd bus, const GuestPty& pty, const std::string& machine)>;

// A login or shell on `pty`: through the guest's own systemd when its PID 1 is systemd, asked by a worker
// machined forks (a guest whose bus is slow or silent holds up only this call; machined answers it when
// the worker is done), else, or when nothing on the guest's bus answered, by machined itself (`go_in`).
int through_guest_systemd(sd_bus_message* call, Daemon& d, Machine& m, MachineNamespaces ns, GuestPty pty,
                          AskGuest ask, GoIn go_in) {
    if (!runs_systemd(m)) {
        go_in(d, m, ns, pty);
        return reply_pty(call, pty);
    }
    struct Held {
        MachineNamespaces ns;
        GuestPty pty;
    };
    auto held = std::make_shared<Held>(Held{std::move(ns), std::move(pty)});
    std::string name = m.name;
    pid_t leader = m.leader;
    auto work = [held, name, ask]() -> Result<std::string> {
        auto bus = connect_in_machine(held->ns, kGuestBusSocket, name);
        if (!bus.ok())
            return encode_guest_outcome({GuestOutcome::Kind::NoSystemd, "", bus.error().message});
        return encode_guest_outcome(ask(std::move(*bus), held->pty, name));
    };
    auto answer = [&d, held, name, leader, go_in](sd_bus_message* c, const Result<std::string>& outcome) {
        if (!outcome.ok()) fail(outcome.error());
        GuestOutcome out = decode_guest_outcome(outcome.value());
        if (out.kind == GuestOutcome::Kind::Failed) throw_bus_error(out.error_name.c_str(), out.message);
        if (out.kind == GuestOutcome::Kind::NoSystemd) {
            spdlog::debug("{}: entering machine \"{}\" ourselves", out.message, name);
            Machine* now = d.registry().find(name);
            if (!now || now->leader != leader)
                throw_bus_error(kNoSuchMachine, fmt::format("Machine \"{}\" is gone", name));
            go_in(d, *now, held->ns, held->pty);
        }
        return reply_pty(c, held->pty);
    };
    return answer_when_done(d, call, work, answer);
}

}  // namespace

int reply_open_pty(sd_bus_message* call, Daemon& d, Machine& m) {
    d.authorize_root(call);
    auto ns = enter_namespaces(m);
    return reply_pty(call, open_pty(ns, m));
}

int reply_open_login(sd_bus_message* call, Daemon& d, Machine& m) {
    d.authorize(call);  // login alone also lets allowed_groups in (252: polkit, no admin needed)
    auto ns = enter_namespaces(m);
    GuestPty pty = open_pty(ns, m);
    auto ask = [](UniqueFd bus, const GuestPty& p, const std::string& machine) {
        return start_guest_getty(std::move(bus), p.path, machine);
    };
    auto go_in = [](Daemon& dd, const Machine& mm, const MachineNamespaces& n, const GuestPty& p) {
        GuestUser root = user_in(n, mm, "root");
        GuestCommand login{login_program(n, mm), {"login"}, {"TERM=vt220", std::string("PATH=") + kDefaultPath}};
        // Like container-getty@.service (Restart=always): a new prompt after each logout, until the client leaves.
        spawn(dd, mm, n, root, login, CommandIo{.pty_master = p.master.get()}, -1, p.path);
    };
    return through_guest_systemd(call, d, m, std::move(ns), std::move(pty), ask, go_in);
}

int reply_open_shell(sd_bus_message* call, Daemon& d, Machine& m) {
    d.authorize_root(call);
    const char *user_arg = nullptr, *path_arg = nullptr;
    read(call, "ss", &user_arg, &path_arg);
    std::string user = *user_arg ? user_arg : "root", path = path_arg;
    auto args = read_strings(call);
    auto env = read_strings(call);
    // As systemd 252 checks them.
    if (!path.empty() && path[0] != '/')
        throw_bus_error(kInvalidArgs, fmt::format("Specified path '{}' is not absolute", path));
    if (!valid_environment(env)) throw_bus_error(kInvalidArgs, "Invalid environment assignments");

    auto ns = enter_namespaces(m);
    GuestPty pty = open_pty(ns, m);
    auto ask = [user, path, args, env](UniqueFd bus, const GuestPty& p, const std::string& machine) {
        UniqueFd terminal(::ioctl(p.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
        if (!terminal)
            return GuestOutcome{GuestOutcome::Kind::Failed, kFailed,
                                fmt::format("Failed to open the terminal of machine \"{}\": {}", machine,
                                            std::strerror(errno))};
        ShellUnit unit{p.path, terminal.get(), user, path, args.empty() ? std::vector<std::string>{path} : args, env};
        if (path.empty()) unit = default_shell_command(std::move(unit));
        return start_guest_shell(std::move(bus), unit, machine);
    };
    auto go_in = [user, path, args, env](Daemon& dd, const Machine& mm, const MachineNamespaces& n, const GuestPty& p) {
        GuestUser u = user_in(n, mm, user);
        GuestCommand cmd = command_in(n, mm, u, path, args, env, true);
        spawn(dd, mm, n, u, cmd, CommandIo{.pty_master = p.master.get()}, -1);
    };
    return through_guest_systemd(call, d, m, std::move(ns), std::move(pty), ask, go_in);
}

int reply_execute(sd_bus_message* call, Daemon& d, Machine& m, bool pty) {
    d.authorize_root(call);
    const char *user = nullptr, *path = nullptr;
    read(call, "ss", &user, &path);
    auto args = read_strings(call);
    auto env = read_strings(call);
    CommandIo io;
    if (!pty) read(call, "hhh", &io.in, &io.out, &io.err);
    if (!valid_environment(env)) throw_bus_error(kInvalidArgs, "Invalid environment assignments");

    auto ns = enter_namespaces(m);
    GuestUser u = user_in(ns, m, user);
    GuestCommand cmd = command_in(ns, m, u, path, args, env, pty);
    std::optional<GuestPty> terminal;
    if (pty) {
        terminal = open_pty(ns, m);
        io.pty_master = terminal->master.get();
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) fail(errno_error("Failed to create the status pipe"));
    UniqueFd status_read(p[0]), status_write(p[1]);
    spawn(d, m, ns, u, cmd, io, status_write.get());
    status_write.reset();  // the waiter holds the only write end: EOF when it ends
    if (pty) return sd_bus_reply_method_return(call, "hsh", terminal->master.get(), terminal->path.c_str(), status_read.get());
    return sd_bus_reply_method_return(call, "h", status_read.get());
}

}  // namespace berth::machined
