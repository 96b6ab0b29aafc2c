#include "machinectl/options.hpp"

#include <CLI/CLI.hpp>

#include "common/escape.hpp"
#include "common/machine_name.hpp"
#include "common/signals.hpp"
#include "machinectl/set_property.hpp"
#include "machinectl/verbs.hpp"

namespace berth::machinectl {

std::string help_text() {
    return R"(machinectl [OPTIONS...] COMMAND ...

Send control commands to or query the machine registry of berth's machined.

Machine Commands:
  list                        List running VMs and containers
  status NAME...              Show VM/container details
  show [NAME...]              Show properties of one or more VMs/containers
  start NAME...               Start container as a service
  stop NAME...                Power off one or more containers (as poweroff)
  poweroff NAME...            Power off one or more containers
  reboot NAME...              Reboot one or more containers
  terminate NAME...           Terminate one or more VMs/containers
  kill NAME...                Send signal to processes of a VM/container
  enable NAME...              Enable automatic container start at boot
  disable NAME...             Disable automatic container start at boot
  freeze NAME...              Freeze all processes of one or more containers
  thaw NAME...                Thaw one or more frozen containers
  set-property NAME KEY=VALUE...
                              Set resource limits of a running container
  bind NAME PATH [PATH]       Bind mount a path from the host into a container
  copy-to NAME PATH [PATH]    Copy files from the host to a container
  copy-from NAME PATH [PATH]  Copy files from a container to the host

Options:
  -h --help                   Show this help
     --version                Show package version
     --no-pager               Do not pipe output into a pager (never done)
     --no-legend              Do not show the headers and footers
  -H --host=[USER@]HOST       Operate on remote host (not supported)
  -M --machine=CONTAINER      Operate on local container (not supported)
  -p --property=NAME          Show only properties by this name
  -q --quiet                  Suppress output
  -a --all                    Show all properties, including empty ones
     --value                  When showing properties, only print the value
  -l --full                   Do not ellipsize output
     --kill-whom=WHOM         Whom to send signal to (leader, all)
  -s --signal=SIGNAL          Which signal to send
     --read-only              Create read-only bind mount
     --mkdir                  Create directory before bind mounting, if missing
     --force                  Replace target file when copying, if necessary
  -o --output=MODE            Output of list, status and show: table, json,
                              json-pretty

See docs/machinectl.md for details.
)";
}

std::string quote_arg(std::string_view s) { return quote_untrusted(s); }

Status check_name(std::string_view name) {
    if (name == ".host") return {};
    if (name.empty()) return plain_error("Invalid machine name: it is empty");
    if (name.size() > kMachineNameMax)
        return plain_error(fmt::format("Invalid machine name {}: longer than {} characters", quote_arg(name), kMachineNameMax));
    if (!machine_name_is_valid(name))
        return plain_error(fmt::format("Invalid machine name {}: only letters, digits, '-' and '.' are allowed, "
                                       "in labels that do not start or end with '-'", quote_arg(name)));
    return {};
}

namespace {

Result<OutputMode> parse_output(const std::string& s) {
    if (s == "table" || s == "short") return OutputMode::Table;
    if (s == "json") return OutputMode::Json;
    if (s == "json-pretty") return OutputMode::JsonPretty;
    return plain_error(fmt::format("Unknown output mode {}: table, json or json-pretty", quote_arg(s)));
}

// CLI11 says "The following arguments were not expected: --foo" and the like; keep it to one line.
std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n') c = ' ';
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

}  // namespace

Result<Options> parse_command_line(int argc, const char* const* argv) {
    Options o;
    CLI::App app{"machinectl"};
    app.set_help_flag();
    std::string output, signal, host, machine;
    std::vector<std::string> properties, positionals;
    bool no_legend = false, no_pager = false, no_ask_password = false;

    app.add_flag("-h,--help", o.help)->disable_flag_override();
    app.add_flag("--version", o.version)->disable_flag_override();
    app.add_flag("-q,--quiet", o.quiet)->disable_flag_override();
    app.add_flag("--no-legend", no_legend)->disable_flag_override();
    app.add_flag("--no-pager", no_pager)->disable_flag_override();
    app.add_flag("--no-ask-password", no_ask_password)->disable_flag_override();
    app.add_flag("-l,--full", o.full)->disable_flag_override();
    app.add_flag("-a,--all", o.all)->disable_flag_override();
    app.add_flag("--value", o.value_only)->disable_flag_override();
    app.add_flag("--force", o.force)->disable_flag_override();
    app.add_flag("--read-only", o.read_only)->disable_flag_override();
    app.add_flag("--mkdir", o.mkdir)->disable_flag_override();
    app.add_option_function<std::string>("-p,--property", [&](const std::string& v) { properties.push_back(v); })
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->trigger_on_parse();
    app.add_option("-o,--output", output)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--kill-whom", o.kill_whom)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("-s,--signal", signal)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    auto* host_opt = app.add_option("-H,--host", host);
    auto* machine_opt = app.add_option("-M,--machine", machine);
    app.add_option("verb-and-args", positionals);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return plain_error(one_line(e.what()));
    }

    if (host_opt->count() > 0)
        return plain_error("Operating on a remote host is not supported (-H/--host); run machinectl there");
    if (machine_opt->count() > 0)
        return plain_error("Operating on another machine's machined is not supported (-M/--machine); "
                           "run machinectl inside it");
    if (o.help || o.version) return o;

    o.legend = !no_legend;
    for (auto& p : properties) {
        size_t start = 0;
        while (start <= p.size()) {
            size_t comma = p.find(',', start);
            if (comma == std::string::npos) comma = p.size();
            if (comma > start) o.properties.push_back(p.substr(start, comma - start));
            start = comma + 1;
        }
    }
    if (!output.empty()) {
        BERTH_ASSIGN(o.output, parse_output(output));
        // As systemd: JSON output comes without header and footer, so that it parses.
        if (o.output != OutputMode::Table) o.legend = false;
    }
    if (!signal.empty()) {
        auto sig = parse_signal(signal);
        if (!sig) return sig.error();
        o.signal = *sig;
    }
    if (!o.kill_whom.empty() && o.kill_whom != "leader" && o.kill_whom != "all")
        return plain_error(fmt::format("Invalid --kill-whom= value {}: leader or all", quote_arg(o.kill_whom)));

    if (!positionals.empty()) {
        o.verb = positionals.front();
        o.args.assign(positionals.begin() + 1, positionals.end());
    }
    const Verb* verb = find_verb(o.verb);
    if (!verb) return plain_error(fmt::format("Unknown command verb {}", quote_arg(o.verb)));
    if (o.args.size() < verb->min_args)
        return plain_error(fmt::format("Too few arguments for {}: see machinectl --help", quote_arg(o.verb)));
    if (o.args.size() > verb->max_args)
        return plain_error(fmt::format("Too many arguments for {}: see machinectl --help", quote_arg(o.verb)));
    if (verb->names) {
        size_t n = o.verb == "set-property" ? 1 : o.args.size();
        for (size_t i = 0; i < n; i++) BERTH_TRY(check_name(o.args[i]));
    }
    if (o.verb == "set-property") BERTH_TRY(parse_assignments({o.args.begin() + 1, o.args.end()}));
    return o;
}

}  // namespace berth::machinectl
