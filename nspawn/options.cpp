#include "options.hpp"

#include <CLI/CLI.hpp>

namespace berth::nspawn {

Result<bool> parse_boolean(const std::string& text, const std::string& what) {
    if (text == "yes" || text == "true" || text == "1" || text == "on") return true;
    if (text == "no" || text == "false" || text == "0" || text == "off") return false;
    return plain_error(fmt::format("Invalid value \"{}\" for {}: expected yes or no", text, what));
}

std::string help_text() {
    return R"(nspawn [OPTIONS...] [COMMAND [ARGS...]]

Spawn a command or boot an OS in a light-weight container.

  -h --help                 Show this help
     --version              Print the version
  -q --quiet                Do not show status information
  -D --directory=PATH       Root directory of the machine
  -M --machine=NAME         Machine name (without -D: the image NAME in the pool)
  -b --boot                 Boot the image's init; arguments go to init
  -a --as-pid2              Run COMMAND as PID 2 under a minimal init
     --chdir=PATH           Working directory inside the machine
  -E --setenv=VAR=VALUE     Set an environment variable for PID 1
  -u --user=USER            Run the command as USER
     --hostname=NAME        Hostname (default: the machine name)
     --uuid=UUID            Machine ID, if the image has none
     --kill-signal=SIGNAL   Signal that asks the machine to stop
     --console=MODE         interactive, read-only, passive or pipe
     --read-only            Mount the root directory read-only
     --bind=SRC[:DST[:OPTS]]     Bind mount a host path (OPTS: rbind, norbind)
     --bind-ro=SRC[:DST[:OPTS]]  Read-only bind mount
     --tmpfs=PATH[:OPTS]    Mount a tmpfs on PATH
     --overlay=PATH[:PATH...]:PATH     Overlay mount; the last path is the destination
     --overlay-ro=PATH[:PATH...]:PATH  Read-only overlay mount
  -x --ephemeral            Run on a throw-away snapshot of the image
     --private-network      Own network namespace with only loopback
     --register=yes|no|auto Register with machined (auto: when it is on the bus)
     --keep-unit            Stay in the calling unit; exit 133 on guest reboot
     --notify-ready=yes|no  Pass the guest's READY=1 on instead of sending it at start
     --settings=yes|no|trusted  Use per-machine settings files
)";
}

Result<Options> parse_command_line(int argc, char** argv) {
    Options o;
    CLI::App app{"nspawn"};
    app.set_help_flag();
    app.prefix_command();

    // As with getopt, a repeated single-valued option takes the last value.
    auto str = [&](const char* names, std::optional<std::string>& field) {
        app.add_option_function<std::string>(names, [&field](const std::string& v) { field = v; })
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    };
    auto list = [&](const char* names, std::optional<std::vector<std::string>>& field) {
        app.add_option_function<std::string>(names, [&field](const std::string& v) {
                if (!field) field.emplace();
                field->push_back(v);
            })
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
            ->trigger_on_parse();
    };
    auto flag = [&](const char* names, std::optional<bool>& field) {
        app.add_flag_callback(names, [&field] { field = true; })->disable_flag_override();
    };
    std::optional<std::string> notify_ready;

    app.add_flag("-h,--help", o.help)->disable_flag_override();
    app.add_flag("--version", o.version)->disable_flag_override();
    flag("-q,--quiet", o.quiet);
    str("-D,--directory", o.directory);
    str("-M,--machine", o.machine);
    flag("-b,--boot", o.boot);
    flag("-a,--as-pid2", o.as_pid2);
    str("--chdir", o.chdir);
    list("-E,--setenv", o.setenv);
    str("-u,--user", o.user);
    str("--hostname", o.hostname);
    str("--uuid", o.uuid);
    str("--kill-signal", o.kill_signal);
    str("--console", o.console);
    flag("--read-only", o.read_only);
    list("--bind", o.bind);
    list("--bind-ro", o.bind_ro);
    list("--tmpfs", o.tmpfs);
    list("--overlay", o.overlay);
    list("--overlay-ro", o.overlay_ro);
    flag("-x,--ephemeral", o.ephemeral);
    flag("--private-network", o.private_network);
    str("--register", o.register_mode);
    flag("--keep-unit", o.keep_unit);
    str("--notify-ready", notify_ready);
    str("--settings", o.settings);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::string what = e.what();
        return plain_error(fmt::format("{} (see --help)", what));
    }
    if (notify_ready) {
        BERTH_ASSIGN(o.notify_ready, parse_boolean(*notify_ready, "--notify-ready"));
    }
    // Parsing stops at the first argument that is not an option; one that still looks like an option
    // was simply not recognised (only "--" lets a command start with '-').
    auto rest = app.remaining();
    if (!rest.empty() && rest.front() == "--") {
        rest.erase(rest.begin());
    } else if (!rest.empty() && rest.front().size() > 1 && rest.front()[0] == '-') {
        return plain_error(fmt::format("Unknown option \"{}\" (see --help)", rest.front()));
    }
    if (!rest.empty()) o.command = rest;
    return o;
}

}  // namespace berth::nspawn
