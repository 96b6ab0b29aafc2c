// login and shell: a session inside a machine (or on the host, ".host"), forwarded over a pty, or for a
// command whose stdin or stdout is not a terminal, run on our own fds so that pipes and stderr work.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "machinectl/bus.hpp"
#include "machinectl/command_status.hpp"
#include "machinectl/pty_forward.hpp"
#include "machinectl/verbs.hpp"

namespace berth::machinectl {

namespace {

void info(const Options& o, const std::string& line) {
    if (!o.quiet) fmt::print(stderr, "{}\n", line);
}

std::string connected_text(const std::string& machine) {
    return machine == ".host" ? "Connected to the local host. Press ^] three times within 1s to exit session."
                              : fmt::format("Connected to machine {}. Press ^] three times within 1s to exit session.",
                                            machine);
}

std::string terminated_text(const std::string& machine, bool machine_died) {
    if (machine_died) return fmt::format("Machine {} terminated.", machine);
    return machine == ".host" ? "Connection to the local host terminated."
                              : fmt::format("Connection to machine {} terminated.", machine);
}

struct ForwardOutcome {
    PtyForwardResult result;
    bool machine_died = false;
};

// Forwards until the session ends, then the messages systemd prints around it. `status` (shell over
// ExecutePTY): the command's status pipe, read as soon as it reports, which ends the session at the
// master's next hangup.
Result<ForwardOutcome> forward(Bus& bus, const Options& o, const std::string& machine, MachinePty& pty,
                               PtyForwardOptions fo, CommandStatusReader* status) {
    ForwardOutcome out;
    bool ignoring = fo.ignore_hangup;
    PtyForwarder fwd(pty.master.get(), std::move(fo));
    auto match = bus.on_machine_removed([&](const std::string& name) {
        if (name != machine) return;
        // The machine is gone: what is still queued is printed, then the next hangup ends the session.
        if (ignoring) out.machine_died = true;
        fwd.stop_ignoring_hangup();
    });
    fwd.add_watch({bus.fd(), [&] {
                       bus.process_pending();
                       return true;
                   }});
    if (status)
        fwd.add_watch({status->fd(), [&] {
                           if (!status->read_available()) return true;
                           fwd.stop_ignoring_hangup();
                           return false;
                       }});
    info(o, connected_text(machine));
    BERTH_ASSIGN(out.result, fwd.run());
    if (out.result.last_char != '\n') {
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }
    info(o, terminated_text(machine, out.machine_died));
    return out;
}

// TERM for a session on a pty, unless -E sets it: the guest's programs draw for our terminal.
std::vector<std::string> pty_environment(const Options& o) {
    std::vector<std::string> env = o.setenv;
    const char* term = std::getenv("TERM");
    bool have = false;
    for (auto& e : env) have |= e.rfind("TERM=", 0) == 0;
    if (term && !have) env.push_back(fmt::format("TERM={}", term));
    return env;
}

}  // namespace

Status verb_login(Bus& bus, const Options& o) {
    std::string machine = o.args.empty() || o.args[0].empty() ? ".host" : o.args[0];
    BERTH_ASSIGN_CTX(auto pty, bus.open_login(machine), "Failed to get login PTY of machine {}", quote_arg(machine));
    PtyForwardOptions fo;
    fo.ignore_hangup = true;  // the getty hangs up the tty between sessions
    BERTH_ASSIGN(auto outcome, forward(bus, o, machine, pty, fo, nullptr));
    (void)outcome;
    return {};
}

Result<int> verb_shell(Bus& bus, const Options& o) {
    ShellTarget target{o.uid.value_or(""), ".host"};
    if (!o.args.empty()) {
        BERTH_ASSIGN(target, parse_shell_target(o.args[0], o.uid));
    }
    ShellCommand cmd;
    cmd.user = target.user;
    if (o.args.size() >= 2) cmd.path = o.args[1];
    // As systemd: the arguments only when there are some beyond the command itself.
    if (o.args.size() >= 3) cmd.args.assign(o.args.begin() + 1, o.args.end());
    const std::string& machine = target.machine;

    BERTH_ASSIGN_CTX(auto path, bus.machine_path(machine), "Could not get path to machine {}", quote_arg(machine));
    bool terminal = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    if (!terminal) {
        // No pty: the command gets our stdin, stdout and stderr themselves.
        cmd.env = o.setenv;
        auto st = bus.execute(path, cmd, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO);
        if (st) {
            CommandStatusReader reader(std::move(*st));
            return reader.wait_exit_code(machine);
        }
        if (st.error().code != kNoSuchMethod)
            return wrap_error(st.error(), fmt::format("Failed to run a command in machine {}", quote_arg(machine)));
    } else {
        cmd.env = pty_environment(o);
        auto r = bus.execute_pty(path, cmd);
        if (r) {
            auto& [pty, status_fd] = *r;
            CommandStatusReader reader(std::move(status_fd));
            PtyForwardOptions fo;
            fo.ignore_initial_hangup = true;  // until the command has the tty, or has ended
            BERTH_ASSIGN(auto outcome, forward(bus, o, machine, pty, fo, &reader));
            // Left with ^] or by a signal: the command goes on (or gets its hangup); 0 as systemd.
            if (outcome.result.end != PtyForwardEnd::Hangup) return 0;
            return reader.wait_exit_code(machine);
        }
        if (r.error().code != kNoSuchMethod)
            return wrap_error(r.error(), fmt::format("Failed to get shell PTY of machine {}", quote_arg(machine)));
    }

    // systemd's machined: OpenMachineShell on a pty whatever our stdin is; no exit status, 0 as systemd.
    cmd.env = pty_environment(o);
    BERTH_ASSIGN_CTX(auto pty, bus.open_shell(machine, cmd), "Failed to get shell PTY of machine {}", quote_arg(machine));
    BERTH_ASSIGN(auto outcome, forward(bus, o, machine, pty, {}, nullptr));
    (void)outcome;
    return 0;
}

}  // namespace berth::machinectl
