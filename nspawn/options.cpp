#include "nspawn/options.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>

#include "common/chase.hpp"
#include "common/id128.hpp"
#include "common/signals.hpp"

namespace berth::nspawn {

namespace {

// ---- What the parsers share ----------------------------------------------------------------------------

// The text of a command-line value or a settings string (the table's types let nothing else through).
const std::string& text(const OptionValue& v) {
    static const std::string kEmpty;
    auto* s = std::get_if<std::string>(&v);
    return s ? *s : kEmpty;
}

Result<bool> yes_no(const OptionSpec& spec, const OptionValue& v) {
    if (auto* b = std::get_if<bool>(&v)) return *b;
    return parse_boolean(text(v), spec.label());
}

// A flag or yes/no option into a field of the plan.
template <bool Plan::*F>
Status set_bool(const OptionSpec& spec, const OptionValue& v, PlanDraft& d) {
    BERTH_ASSIGN(d.plan.*F, yes_no(spec, v));
    return {};
}

Status set_resource_option(const OptionSpec& spec, const OptionValue& v, PlanDraft& d) {
    return set_resource(spec.name, v, spec.label(), d.plan.resources);
}

// ---- The parsers of one option each -------------------------------------------------------------------

Status parse_chdir(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    BERTH_ASSIGN(d.plan.chdir, normalize_absolute_path(text(v), "Working directory"));
    return {};
}

Status parse_setenv(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    BERTH_TRY(check_env(text(v)));
    d.plan.environment.push_back(text(v));
    return {};
}

Status parse_user(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    d.user = text(v);
    return {};
}

Status parse_hostname(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    BERTH_TRY(check_hostname(text(v)));
    d.plan.hostname = text(v);
    return {};
}

Status parse_uuid(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    BERTH_ASSIGN(Id128 id, parse_id128(text(v)));
    if (id128_is_null(id)) return plain_error("--uuid must not be all zeros");
    d.uuid = id;
    return {};
}

Status parse_kill_signal(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    if (auto* n = std::get_if<int64_t>(&v)) {
        if (*n < 1 || *n > SIGRTMAX) return plain_error(fmt::format("Unknown signal \"{}\"", *n));
        d.plan.kill_signal = static_cast<int>(*n);
        return {};
    }
    BERTH_ASSIGN(d.plan.kill_signal, parse_signal(text(v)));
    return {};
}

Status parse_console_option(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    BERTH_ASSIGN(d.plan.console, parse_console(text(v)));
    if (d.plan.console == ConsoleMode::Interactive && !::isatty(STDIN_FILENO))
        return plain_error("--console=interactive needs a terminal on standard input");
    return {};
}

Status parse_register(const OptionSpec& spec, const OptionValue& v, PlanDraft& d) {
    if (text(v) == "auto") {
        d.plan.register_mode = RegisterMode::Auto;
        return {};
    }
    BERTH_ASSIGN(bool yes, yes_no(spec, v));
    d.plan.register_mode = yes ? RegisterMode::Yes : RegisterMode::No;
    return {};
}

// A list option whose every value parses into one more element of a list of the plan.
template <auto List, auto Parse, auto... Args>
Status append(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    BERTH_ASSIGN(auto item, Parse(text(v), Args...));
    (d.plan.*List).push_back(std::move(item));
    return {};
}

Status parse_command(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    d.command.push_back(text(v));
    return {};
}

Status parse_private_users(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    return set_private_users(v, d.plan.userns);
}

Status parse_ownership(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    return set_private_users_ownership(text(v), d.plan.userns);
}

Status parse_capability(const OptionSpec& spec, const OptionValue& v, PlanDraft& d) {
    BERTH_ASSIGN(uint64_t mask, parse_capabilities(text(v), spec.label().c_str()));
    (spec.name == "capability" ? d.capabilities_added : d.capabilities_dropped) |= mask;
    return {};
}

Status parse_no_new_privileges(const OptionSpec& spec, const OptionValue& v, PlanDraft& d) {
    BERTH_ASSIGN(d.plan.privileges.no_new_privileges, yes_no(spec, v));
    return {};
}

Status parse_system_call_filter(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    return add_system_call_filter(text(v), d.plan.privileges);
}

Status parse_network_veth(const OptionSpec& spec, const OptionValue& v, PlanDraft& d) {
    BERTH_ASSIGN(d.plan.network.veth, yes_no(spec, v));
    return {};
}

Status parse_network_bridge(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    return set_network_bridge(text(v), d.plan.network);
}

Status parse_network_zone(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    return set_network_zone(text(v), d.plan.network);
}

Status parse_network_interface(const OptionSpec&, const OptionValue& v, PlanDraft& d) {
    return add_network_interface(text(v), d.plan.network);
}

Status parse_port_option(const OptionSpec&, const OptionValue& v, PlanDraft& d) { return add_port(text(v), d.plan.network); }

// ---- The table --------------------------------------------------------------------------------------------

using K = OptionKind;
constexpr unsigned kResourceTypes = kNumber | kString;  // "512M" or 536870912

// clang-format off
const OptionSpec kOptions[] = {
    // name, flags, section, aliases, arg, help, group, kind, privileged, settings types, parser
    {"help", "-h,--help", "", "", "", "Show this help", "", K::Flag, false, 0, nullptr},
    {"version", "--version", "", "", "", "Print the version", "", K::Flag, false, 0, nullptr},
    {"quiet", "-q,--quiet", "exec", "", "", "Do not show status information", "", K::Flag, false, kBool,
     set_bool<&Plan::quiet>},
    {"directory", "-D,--directory", "", "", "PATH", "Root directory of the machine", "", K::Value, false, 0, nullptr},
    {"machine", "-M,--machine", "", "", "NAME", "Machine name (without -D: the image NAME in the pool)", "", K::Value,
     false, 0, nullptr},
    {"boot", "-b,--boot", "exec", "", "", "Boot the image's init; arguments go to init", "", K::Flag, false, kBool,
     set_bool<&Plan::boot>},
    {"as-pid2", "-a,--as-pid2", "exec", "", "", "Run COMMAND as PID 2 under a minimal init", "", K::Flag, false, kBool,
     set_bool<&Plan::as_pid2>},
    {"command", "", "exec", "", "", "", "", K::List, false, kString, parse_command},
    {"chdir", "--chdir", "exec", "working_directory", "PATH", "Working directory inside the machine", "", K::Value,
     false, kString, parse_chdir},
    {"setenv", "-E,--setenv", "exec", "environment", "VAR=VALUE", "Set an environment variable for PID 1", "",
     K::List, false, kString, parse_setenv},
    {"user", "-u,--user", "exec", "", "USER", "Run the command as USER", "", K::Value, false, kString, parse_user},
    {"hostname", "--hostname", "exec", "", "NAME", "Hostname (default: the machine name)", "", K::Value, false,
     kString, parse_hostname},
    {"uuid", "--uuid", "exec", "", "UUID", "Machine ID, if the image has none", "", K::Value, false, kString,
     parse_uuid},
    {"kill-signal", "--kill-signal", "exec", "", "SIGNAL", "Signal that asks the machine to stop", "", K::Value,
     false, kInteger | kString, parse_kill_signal},
    {"console", "--console", "exec", "", "MODE", "interactive, read-only, passive or pipe", "", K::Value, false,
     kString, parse_console_option},
    {"read-only", "--read-only", "files", "", "", "Mount the root directory read-only", "", K::Flag, false, kBool,
     set_bool<&Plan::read_only>},
    {"bind", "--bind", "files", "", "SRC[:DST[:OPTS]]", "Bind mount a host path (OPTS: rbind, norbind, idmap)", "",
     K::List, true, kString, append<&Plan::binds, parse_bind, false>},
    {"bind-ro", "--bind-ro", "files", "", "SRC[:DST[:OPTS]]", "Read-only bind mount", "", K::List, true, kString,
     append<&Plan::binds, parse_bind, true>},
    {"tmpfs", "--tmpfs", "files", "", "PATH[:OPTS]",
     "Mount a tmpfs on PATH (OPTS: mode, size, nr_inodes, uid, gid, noexec, ro)", "", K::List, false, kString,
     append<&Plan::tmpfs, parse_tmpfs>},
    {"overlay", "--overlay", "files", "", "PATH[:PATH...]:PATH", "Overlay mount; the last path is the destination",
     "", K::List, true, kString, append<&Plan::overlays, parse_overlay, false>},
    {"overlay-ro", "--overlay-ro", "files", "", "PATH[:PATH...]:PATH", "Read-only overlay mount", "", K::List, true,
     kString, append<&Plan::overlays, parse_overlay, true>},
    {"ephemeral", "-x,--ephemeral", "files", "", "", "Run on a throw-away snapshot of the image", "", K::Flag, false,
     kBool, set_bool<&Plan::ephemeral>},
    {"private-network", "--private-network", "network", "private", "", "Own network namespace with only loopback",
     "", K::Flag, false, kBool, set_bool<&Plan::private_network>},
    {"register", "--register", "exec", "", "yes|no|auto", "Register with machined (auto: when it is on the bus)", "",
     K::Value, false, kBool | kString, parse_register},
    {"keep-unit", "--keep-unit", "exec", "", "", "Stay in the calling unit; exit 133 on guest reboot", "", K::Flag,
     false, kBool, set_bool<&Plan::keep_unit>},
    {"notify-ready", "--notify-ready", "exec", "", "yes|no",
     "Pass the guest's READY=1 on instead of sending it at start", "", K::Value, false, kBool,
     set_bool<&Plan::notify_ready>},
    {"settings", "--settings", "", "", "yes|no|trusted", "Use per-machine settings files", "", K::Value, false, 0,
     nullptr},

    {"private-users", "--private-users", "exec", "", "no|yes|pick|identity|BASE[:RANGE]",
     "User namespace (default: pick a free 64K range)", "Isolation", K::Value, true,
     kBool | kInteger | kString, parse_private_users},
    {"private-users-ownership", "--private-users-ownership", "exec", "", "auto|map|chown|off",
     "How image files get the machine's UIDs (default: idmapped mounts)", "Isolation", K::Value, false, kString,
     parse_ownership},
    {"capability", "--capability", "exec", "", "CAP[,CAP...]", "Keep more capabilities (or \"all\")", "Isolation",
     K::List, true, kString, parse_capability},
    {"drop-capability", "--drop-capability", "exec", "", "CAP[,CAP...]", "Drop capabilities", "Isolation", K::List,
     false, kString, parse_capability},
    {"no-new-privileges", "--no-new-privileges", "exec", "", "yes|no", "Set PR_SET_NO_NEW_PRIVS for PID 1",
     "Isolation", K::Value, false, kBool, parse_no_new_privileges},
    {"system-call-filter", "--system-call-filter", "exec", "", "NAME|~NAME", "Allow (or with ~ forbid) system calls",
     "Isolation", K::List, true, kString, parse_system_call_filter},

    {"memory-max", "--memory-max", "resources", "", "BYTES", "Memory limit (K, M, G suffixes; infinity)",
     "Resources", K::Value, false, kResourceTypes, set_resource_option},
    {"memory-high", "--memory-high", "resources", "", "BYTES", "Memory pressure threshold", "Resources", K::Value,
     false, kResourceTypes, set_resource_option},
    {"memory-swap-max", "--memory-swap-max", "resources", "", "BYTES", "Swap limit", "Resources", K::Value, false,
     kResourceTypes, set_resource_option},
    {"cpu-weight", "--cpu-weight", "resources", "", "1..10000", "CPU weight (default 100)", "Resources", K::Value,
     false, kResourceTypes, set_resource_option},
    {"cpu-quota", "--cpu-quota", "resources", "", "PERCENT", "CPU time, 100% = one CPU", "Resources", K::Value, false,
     kResourceTypes, set_resource_option},
    {"pids-max", "--pids-max", "resources", "", "N", "Processes and threads of the machine", "Resources", K::Value,
     false, kResourceTypes, set_resource_option},
    {"io-weight", "--io-weight", "resources", "", "1..10000", "IO weight (default 100)", "Resources", K::Value, false,
     kResourceTypes, set_resource_option},
    {"cpu-affinity", "--cpu-affinity", "resources", "", "CPUS", "CPUs PID 1 may run on (\"0,2-3\")", "Resources",
     K::Value, false, kResourceTypes, set_resource_option},
    {"oom-score-adjust", "--oom-score-adjust", "resources", "", "-1000..1000", "OOM score adjustment of PID 1",
     "Resources", K::Value, false, kResourceTypes, set_resource_option},
    {"rlimit", "--rlimit", "resources", "", "NAME=SOFT[:HARD]", "A process limit of PID 1 (NOFILE, NPROC, ...)",
     "Resources", K::List, false, kString, set_resource_option},
    {"userns-limit", "--userns-limit", "resources", "", "NAME=N",
     "A limit of the machine's user namespace (/proc/sys/user/max_NAME)",
     "Resources", K::List, false, kString, set_resource_option},

    {"network-veth", "-n,--network-veth", "network", "veth", "", "veth pair: ve-NAME on the host, host0 inside",
     "Network", K::Flag, false, kBool, parse_network_veth},
    {"network-bridge", "--network-bridge", "network", "bridge", "BR", "veth with the host side (vb-NAME) on bridge BR",
     "Network", K::Value, true, kString, parse_network_bridge},
    {"network-zone", "--network-zone", "network", "zone", "ZONE", "veth on bridge vz-ZONE, created on demand",
     "Network", K::Value, true, kString, parse_network_zone},
    {"network-interface", "--network-interface", "network", "interface", "IF", "Move a host interface into the machine",
     "Network", K::List, true, kString, parse_network_interface},
    {"port", "-p,--port", "network", "", "[tcp|udp:]HOSTPORT[:GUESTPORT]", "Forward a host port to the machine",
     "Network", K::List, true, kString, parse_port_option},
};
// clang-format on

const OptionSpec& spec_of(std::string_view name) {
    const OptionSpec* s = find_option(name);
    if (!s) std::abort();  // only called with names of the table
    return *s;
}

// Runs the parsers of the options named in `names` over what `o` says of them.
Status parse_group(const Options& o, std::initializer_list<std::string_view> names, PlanDraft& d) {
    for (auto name : names) {
        const OptionSpec& spec = spec_of(name);
        if (const auto* vs = o.values(name))
            for (auto& v : *vs) BERTH_TRY(spec.parse(spec, v, d));
    }
    return {};
}

}  // namespace

std::span<const OptionSpec> option_table() { return kOptions; }

const OptionSpec* find_option(std::string_view name) {
    std::string n(name);
    std::replace(n.begin(), n.end(), '_', '-');
    for (auto& s : kOptions)
        if (s.name == n) return &s;
    for (auto& s : kOptions) {
        std::string_view rest = s.aliases;
        while (!rest.empty()) {
            auto sp = rest.find(' ');
            if (rest.substr(0, sp) == name) return &s;
            rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
        }
    }
    return nullptr;
}

// ---- Options: the record ---------------------------------------------------------------------------------

void Options::set(std::string_view name, OptionValue v) {
    auto& vs = values_[std::string(name)];
    const OptionSpec* spec = find_option(name);
    if (!spec || spec->kind != OptionKind::List) vs.clear();
    vs.push_back(std::move(v));
}

void Options::set_list(std::string_view name, const std::vector<std::string>& values) {
    auto& vs = values_[std::string(name)];
    vs.assign(values.begin(), values.end());
}

const std::vector<OptionValue>* Options::values(std::string_view name) const {
    auto it = values_.find(name);
    return it == values_.end() ? nullptr : &it->second;
}

std::optional<std::string> Options::text(std::string_view name) const {
    auto* vs = values(name);
    if (!vs || vs->empty()) return std::nullopt;
    return value_text(vs->back());
}

std::optional<bool> Options::flag(std::string_view name) const {
    auto* vs = values(name);
    if (!vs || vs->empty() || !std::holds_alternative<bool>(vs->back())) return std::nullopt;
    return std::get<bool>(vs->back());
}

std::optional<std::vector<std::string>> Options::texts(std::string_view name) const {
    auto* vs = values(name);
    if (!vs) return std::nullopt;
    std::vector<std::string> out;
    for (auto& v : *vs) out.push_back(value_text(v));
    return out;
}

// ---- The command line ----------------------------------------------------------------------------------

std::string help_text() {
    std::string out = R"(nspawn [OPTIONS...] [COMMAND [ARGS...]]

Spawn a command or boot an OS in a light-weight container.
)";
    std::string_view group = "-";
    for (auto& s : kOptions) {
        if (s.flags.empty()) continue;
        if (s.group != group) {
            group = s.group;
            out += group.empty() ? "\n" : fmt::format("\n{}:\n", group);
        }
        std::string flags(s.flags), shorts, longs;
        for (size_t i = 0; i < flags.size();) {
            size_t j = flags.find(',', i);
            if (j == std::string::npos) j = flags.size();
            std::string f = flags.substr(i, j - i);
            (f.starts_with("--") ? longs : shorts) = f;
            i = j + 1;
        }
        std::string left = fmt::format("  {:<3}{}{}{}", shorts, longs, s.arg.empty() ? "" : "=", s.arg);
        out += left.size() < 28 ? fmt::format("{:<28}{}\n", left, s.help) : fmt::format("{}\n{:28}{}\n", left, "", s.help);
        if (s.name == "private-users") out += fmt::format("{:<28}{}\n", "  -U", "Same as --private-users=pick");
    }
    out += "\nSettings files take the same options as keys (\"chdir\", \"memory_max\" or \"memory-max\"), see "
           "nspawn(1).\n";
    return out;
}

Result<Options> parse_command_line(int argc, char** argv) {
    Options o;
    CLI::App app{"nspawn"};
    app.set_help_flag();
    app.prefix_command();

    for (auto& s : kOptions) {
        if (s.flags.empty()) continue;
        std::string flags(s.flags), name(s.name);
        if (s.name == "help") {
            app.add_flag("-h,--help", o.help)->disable_flag_override();
        } else if (s.name == "version") {
            app.add_flag("--version", o.version)->disable_flag_override();
        } else if (s.kind == OptionKind::Flag) {
            app.add_flag_callback(flags, [&o, name] { o.set(name, true); })->disable_flag_override();
        } else if (s.kind == OptionKind::Value) {
            // As with getopt, a repeated single-valued option takes the last value.
            app.add_option_function<std::string>(flags, [&o, name](const std::string& v) { o.set(name, v); })
                ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
        } else {
            app.add_option_function<std::string>(flags, [&o, name](const std::string& v) { o.set(name, v); })
                ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
                ->trigger_on_parse();
        }
    }
    app.add_flag_callback("-U", [&o] { o.set("private-users", std::string("pick")); })->disable_flag_override();

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
    // A yes/no option's value is a boolean from here on, as a settings file gives it.
    for (auto& s : kOptions) {
        const auto* vs = o.values(s.name);
        if (s.kind != OptionKind::Value || s.types != kBool || !vs) continue;
        BERTH_ASSIGN(bool b, parse_boolean(text(vs->back()), s.label()));
        o.set(s.name, b);
    }
    // Parsing stops at the first argument that is not an option; one that still looks like an option
    // was simply not recognised (only "--" lets a command start with '-').
    auto rest = app.remaining();
    if (!rest.empty() && rest.front() == "--") {
        rest.erase(rest.begin());
    } else if (!rest.empty() && rest.front().size() > 1 && rest.front()[0] == '-') {
        return plain_error(fmt::format("Unknown option \"{}\" (see --help)", rest.front()));
    }
    if (!rest.empty()) o.set_list("command", rest);
    return o;
}

Status parse_options(const Options& o, PlanDraft& d) {
    for (auto& spec : kOptions) {
        const auto* values = o.values(spec.name);
        if (!values || !spec.parse) continue;
        d.given.insert(std::string(spec.name));
        for (auto& v : *values) BERTH_TRY(spec.parse(spec, v, d));
    }
    return {};
}

// ---- Groups on their own (tests) -------------------------------------------------------------------------

Result<Privileges> parse_privileges(const Options& o, bool private_network) {
    PlanDraft d;
    BERTH_TRY(parse_group(o, {"capability", "drop-capability", "no-new-privileges", "system-call-filter"}, d));
    finish_privileges(d.plan.privileges, d.capabilities_added, d.capabilities_dropped, private_network);
    return d.plan.privileges;
}

Result<Resources> parse_resources(const Options& o) {
    PlanDraft d;
    BERTH_TRY(parse_group(o, {"memory-max", "memory-high", "memory-swap-max", "cpu-weight", "cpu-quota", "pids-max",
                              "io-weight", "cpu-affinity", "oom-score-adjust", "rlimit", "userns-limit"},
                          d));
    BERTH_TRY(finish_resources(d.plan.resources));
    return d.plan.resources;
}

}  // namespace berth::nspawn
