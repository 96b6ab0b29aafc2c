#include "machinectl/options.hpp"

#include <climits>
#include <cstdlib>

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
  login [NAME]                Get a login prompt in a container or on the
                              local host
  shell [[USER@]NAME [COMMAND...]]
                              Invoke a shell (or other command) in a container
                              or on the local host
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

Image Commands:
  list-images                 Show available container and VM images
  image-status [NAME...]      Show image details
  show-image [NAME...]        Show properties of image
  clone NAME NAME             Clone an image
  rename NAME NAME            Rename an image
  read-only NAME [BOOL]       Mark or unmark image read-only
  remove NAME...              Remove an image
  set-limit [NAME] BYTES      Set image or pool size limit (disk quota)
  clean                       Remove hidden (or with --all, all) images

Image Transfer Commands:
  import-tar FILE [NAME]      Import a local TAR container image
  import-raw FILE [NAME]      Import a local RAW container or VM image
  import-fs DIRECTORY [NAME]  Import a local directory container image
  export-tar NAME [FILE]      Export a TAR container image locally
  export-raw NAME [FILE]      Export a RAW container or VM image locally
  pull-tar URL [NAME]         Download a TAR container image
  pull-raw URL [NAME]         Download a RAW container or VM image
  list-transfers              Show list of downloads in progress
  cancel-transfer             Cancel a download

Options:
  -h --help                   Show this help
     --version                Show package version
     --no-pager               Do not pipe output into a pager (never done)
     --no-legend              Do not show the headers and footers
  -H --host=[USER@]HOST       Operate on remote host (not supported)
  -M --machine=CONTAINER      Operate on local container (only the local host:
                              .host, root@, root@.host)
  -p --property=NAME          Show only properties by this name
  -q --quiet                  Suppress output
  -a --all                    Show all properties, including empty ones
     --value                  When showing properties, only print the value
  -l --full                   Do not ellipsize output
     --kill-whom=WHOM         Whom to send signal to (leader, all)
  -s --signal=SIGNAL          Which signal to send
     --uid=USER               Specify user ID to invoke shell as
  -E --setenv=VAR[=VALUE]     Add an environment variable for shell
     --read-only              Create read-only bind mount, clone or import
     --mkdir                  Create directory before bind mounting, if missing
  -n --lines=INTEGER          Number of journal entries to show
     --max-addresses=INTEGER  Number of internet addresses to show at most
  -o --output=STRING          Change journal output mode (short, short-precise,
                               short-iso, short-iso-precise, short-full,
                               short-monotonic, short-unix, short-delta,
                               json, json-pretty, json-sse, json-seq, cat,
                               verbose, export, with-unit)
     --force                  Replace target file when copying, if necessary;
                              replace an image of the same name when importing
     --format=FORMAT          Compress the export: uncompressed, xz, gzip,
                              bzip2, zstd (default: by the file's suffix)
     --verify=MODE            Verification mode for downloaded images (no,
                              checksum, signature)

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

// CLI11 says "The following arguments were not expected: --foo" and the like; keep it to one line.
std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n') c = ' ';
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

// systemd's safe_atou(): decimal digits only, within unsigned.
std::optional<unsigned> parse_unsigned(std::string_view s) {
    if (s.empty() || s.size() > 10) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > UINT_MAX) return std::nullopt;
    return static_cast<unsigned>(v);
}

bool env_name_is_valid(std::string_view n) {
    if (n.empty() || n.size() > 4096 || (n[0] >= '0' && n[0] <= '9')) return false;
    for (char c : n)
        if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    return true;
}

// As systemd's env_value_is_valid(): UTF-8 without control characters but newline and tab.
bool env_value_is_valid(std::string_view v) {
    if (to_valid_utf8(v) != v) return false;
    for (unsigned char c : v)
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return false;
    return true;
}

// The options that take a value, for finding where shell's command line begins (see split_shell()).
bool takes_value(std::string_view arg) {
    if (arg.substr(0, 2) == "--") {
        auto name = arg.substr(2, arg.find('=') == std::string_view::npos ? std::string_view::npos : arg.find('=') - 2);
        if (arg.find('=') != std::string_view::npos) return false;
        for (auto o : {"property", "kill-whom", "signal", "host", "machine", "lines", "output", "verify", "format",
                       "uid", "setenv", "max-addresses"})
            if (name == o) return true;
        return false;
    }
    // A cluster of short flags: the first one that takes a value takes the rest of the word, or the next.
    for (size_t i = 1; i < arg.size(); i++)
        if (std::string_view("psHMnoE").find(arg[i]) != std::string_view::npos) return i + 1 == arg.size();
    return false;
}

// As systemd: options are looked for anywhere, except that for `shell` everything from the argument after
// the machine on belongs to the command (`machinectl shell web ls -l`). Returns the index of that argument,
// or argc.
int split_shell(int argc, const char* const* argv) {
    bool shell = false;
    for (int i = 1; i < argc; i++) {
        std::string_view a = argv[i];
        if (a == "--") return argc;
        if (a.size() > 1 && a[0] == '-') {
            if (takes_value(a)) i++;
            continue;
        }
        if (shell) return i;
        if (a != "shell") return argc;
        shell = true;
    }
    return argc;
}

Status check_machine_option(const std::string& machine) {
    // The local host, as systemd's -M spells it; another machine's bus is out of reach of our machined.
    if (machine == ".host" || machine == "root@" || machine == "root@.host") return {};
    return plain_error(fmt::format("Operating on machine {} is not supported (-M/--machine): only the local host "
                                   "(.host, root@, root@.host); run machinectl inside that machine",
                                   quote_arg(machine)));
}

Status check_verb_args(const Options& o) {
    if (o.verb == "login") {
        if (!o.args.empty() && !o.args[0].empty()) BERTH_TRY(check_name(o.args[0]));
        return {};
    }
    if (o.verb == "shell") {
        if (!o.args.empty()) BERTH_TRY(parse_shell_target(o.args[0], o.uid));
        return {};
    }
    const Verb* verb = find_verb(o.verb);
    if (verb->names) {
        size_t n = o.verb == "set-property" ? 1 : o.args.size();
        for (size_t i = 0; i < n; i++) BERTH_TRY(check_name(o.args[i]));
    }
    if (o.verb == "set-property") BERTH_TRY(parse_assignments({o.args.begin() + 1, o.args.end()}));
    return {};
}

}  // namespace

Status add_setenv(std::vector<std::string>& env, std::string_view assignment) {
    auto eq = assignment.find('=');
    std::string name(assignment.substr(0, eq));
    std::string entry;
    if (eq == std::string_view::npos) {
        if (!env_name_is_valid(name)) return plain_error("");
        const char* v = std::getenv(name.c_str());
        entry = name + "=" + (v ? v : "");
    } else {
        if (!env_name_is_valid(name) || !env_value_is_valid(assignment.substr(eq + 1))) return plain_error("");
        entry = std::string(assignment);
    }
    for (auto& e : env)
        if (e.compare(0, name.size() + 1, name + "=") == 0) {
            e = entry;
            return {};
        }
    env.push_back(std::move(entry));
    return {};
}

Result<ShellTarget> parse_shell_target(std::string_view spec, const std::optional<std::string>& uid) {
    ShellTarget t;
    auto at = spec.find('@');
    std::string_view machine = spec;
    if (at != std::string_view::npos) {
        // As ssh and systemd: "@host" is refused.
        if (at == 0)
            return plain_error(fmt::format("Failed to parse machine specification {}: no user before '@'",
                                           quote_arg(spec)));
        t.user = std::string(spec.substr(0, at));
        machine = spec.substr(at + 1);
    } else if (uid) {
        t.user = *uid;
    }
    t.machine = machine.empty() ? ".host" : std::string(machine);
    BERTH_TRY(check_name(t.machine));
    return t;
}

Result<Options> parse_command_line(int argc, const char* const* argv) {
    Options o;
    CLI::App app{"machinectl"};
    app.set_help_flag();
    std::string output, signal, host, machine, lines, max_addresses, uid;
    std::vector<std::string> properties, positionals, setenv;
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
    app.add_option_function<std::string>("-E,--setenv", [&](const std::string& v) { setenv.push_back(v); })
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->trigger_on_parse();
    app.add_option("-o,--output", output)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("-n,--lines", lines)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--max-addresses", max_addresses)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    auto* uid_opt = app.add_option("--uid", uid)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    auto* format_opt = app.add_option("--format", o.format)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--verify", o.verify)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--kill-whom", o.kill_whom)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("-s,--signal", signal)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    auto* host_opt = app.add_option("-H,--host", host);
    auto* machine_opt = app.add_option("-M,--machine", machine)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("verb-and-args", positionals);

    int split = split_shell(argc, argv);
    try {
        app.parse(split, argv);
    } catch (const CLI::ParseError& e) {
        return plain_error(one_line(e.what()));
    }
    for (int i = split; i < argc; i++) positionals.emplace_back(argv[i]);

    if (output == "help") {
        o.output_help = true;
        return o;
    }
    if (host_opt->count() > 0)
        return plain_error("Operating on a remote host is not supported (-H/--host); run machinectl there");
    if (machine_opt->count() > 0) BERTH_TRY(check_machine_option(machine));
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
        auto mode = output_mode_from_name(output);
        if (!mode) return plain_error(fmt::format("Unknown output '{}'.", escape_untrusted(output)));
        o.output = *mode;
        // As systemd: JSON output comes without header and footer, so that it parses.
        if (output_mode_is_json(o.output)) o.legend = false;
    }
    if (!lines.empty()) {
        auto n = parse_unsigned(lines);
        if (!n) return plain_error(fmt::format("Failed to parse lines '{}'", escape_untrusted(lines)));
        o.lines = *n;
    }
    if (!max_addresses.empty()) {
        auto n = max_addresses == "all" ? std::optional<unsigned>(UINT_MAX) : parse_unsigned(max_addresses);
        if (!n) return plain_error(fmt::format("Invalid number of addresses: {}", escape_untrusted(max_addresses)));
        o.max_addresses = *n;
    }
    if (uid_opt->count() > 0) o.uid = uid;
    for (auto& e : setenv)
        if (!add_setenv(o.setenv, e))
            return plain_error(fmt::format("Cannot assign environment variable {}: Invalid argument", escape_untrusted(e)));
    if (!signal.empty()) {
        auto sig = parse_signal(signal);
        if (!sig) return sig.error();
        o.signal = *sig;
    }
    if (format_opt->count() > 0 && o.format != "uncompressed" && o.format != "xz" && o.format != "gzip" &&
        o.format != "bzip2" && o.format != "zstd")
        return plain_error(fmt::format("Unknown format: {}", quote_arg(o.format)));
    if (o.verify != "no" && o.verify != "checksum" && o.verify != "signature")
        return plain_error(fmt::format("Failed to parse --verify= setting: {}", escape_untrusted(o.verify)));
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
    if (o.verb == "login" && (o.uid || !o.setenv.empty()))
        return plain_error("--setenv= and --uid= are not supported for 'login'. Use 'shell' instead.");
    BERTH_TRY(check_verb_args(o));
    return o;
}

}  // namespace berth::machinectl
