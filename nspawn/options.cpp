#include "nspawn/options.hpp"

#include <CLI/CLI.hpp>

#include "common/values.hpp"

namespace berth::nspawn {

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
     --bind=SRC[:DST[:OPTS]]     Bind mount a host path (OPTS: rbind, norbind, idmap)
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

Isolation:
     --private-users=no|yes|pick|identity|BASE[:RANGE]
                            User namespace (default: pick a free 64K range)
  -U                        Same as --private-users=pick
     --private-users-ownership=auto|map|chown|off
                            How image files get the machine's UIDs (default: idmapped mounts)
     --capability=CAP[,CAP...]       Keep more capabilities (or "all")
     --drop-capability=CAP[,CAP...]  Drop capabilities
     --no-new-privileges=yes|no      Set PR_SET_NO_NEW_PRIVS for PID 1
     --system-call-filter=NAME|~NAME Allow (or with ~ forbid) system calls

Resources (live-adjustable with machinectl set-property):
     --memory-max=BYTES  --memory-high=BYTES  --memory-swap-max=BYTES
     --cpu-weight=1..10000  --cpu-quota=PERCENT  --pids-max=N  --io-weight=1..10000
     --cpu-affinity=CPUS    --rlimit=NAME=SOFT[:HARD]  --oom-score-adjust=-1000..1000
     --userns-limit=NAME=N  A per-user limit in the machine's user namespace
                            (inotify_instances, user_namespaces, ...: /proc/sys/user/max_NAME)

Network:
  -n --network-veth         veth pair: ve-NAME on the host, host0 inside
     --network-bridge=BR    veth with the host side (vb-NAME) on bridge BR
     --network-zone=ZONE    veth on bridge vz-ZONE, created on demand
     --network-interface=IF Move a host interface into the machine
  -p --port=[tcp|udp:]HOSTPORT[:GUESTPORT]  Forward a host port to the machine
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
    str("--private-users", o.private_users);
    app.add_flag_callback("-U", [&o] { o.private_users = "pick"; })->disable_flag_override();
    str("--private-users-ownership", o.private_users_ownership);
    list("--capability", o.capability);
    list("--drop-capability", o.drop_capability);
    str("--no-new-privileges", o.no_new_privileges);
    list("--system-call-filter", o.system_call_filter);
    str("--memory-max", o.memory_max);
    str("--memory-high", o.memory_high);
    str("--memory-swap-max", o.memory_swap_max);
    str("--cpu-weight", o.cpu_weight);
    str("--cpu-quota", o.cpu_quota);
    str("--pids-max", o.pids_max);
    str("--io-weight", o.io_weight);
    str("--cpu-affinity", o.cpu_affinity);
    str("--oom-score-adjust", o.oom_score_adjust);
    list("--rlimit", o.rlimit);
    list("--userns-limit", o.userns_limit);
    flag("-n,--network-veth", o.network_veth);
    str("--network-bridge", o.network_bridge);
    str("--network-zone", o.network_zone);
    list("--network-interface", o.network_interface);
    list("-p,--port", o.port);

    // CLI11 reads "--name=" (an empty value) as "--name" and takes the next argument as its value: the
    // empty value is passed as an argument of its own instead. Options end at "--" or the command.
    std::vector<std::string> args{argv, argv + argc};
    auto takes_value = [&](const std::string& name) {
        const CLI::Option* opt = app.get_option_no_throw(name);
        return opt && opt->get_items_expected_max() > 0;
    };
    for (size_t i = 1; i < args.size(); i++) {
        const std::string& a = args[i];
        if (a == "--" || a.size() < 2 || a[0] != '-') break;  // the command starts here
        if (a.size() > 3 && a.starts_with("--") && a.back() == '=') {
            args[i].pop_back();
            args.insert(args.begin() + static_cast<long>(i) + 1, "");
            i++;
        } else if (a.find('=') == std::string::npos && (a.starts_with("--") || a.size() == 2) && takes_value(a)) {
            i++;  // "--name VALUE" or "-X VALUE": the value is not an option
        }
    }
    std::vector<char*> ptrs;
    for (auto& a : args) ptrs.push_back(a.data());
    try {
        app.parse(static_cast<int>(ptrs.size()), ptrs.data());
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
