#include "nspawn/plan.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "common/chase.hpp"
#include "common/fileio.hpp"
#include "common/machine_name.hpp"
#include "common/machined_config.hpp"
#include "common/paths.hpp"
#include "common/signals.hpp"
#include "common/values.hpp"
#include "nspawn/options.hpp"
#include "nspawn/settings.hpp"

namespace berth::nspawn {

namespace {

constexpr const char* kInits[] = {"/usr/lib/systemd/systemd", "/lib/systemd/systemd", "/sbin/init"};

// Split on ':' honouring "\:" escapes.
std::vector<std::string> split_colons(const std::string& spec) {
    std::vector<std::string> out(1);
    for (size_t i = 0; i < spec.size(); i++) {
        if (spec[i] == '\\' && i + 1 < spec.size() && spec[i + 1] == ':') {
            out.back() += ':';
            i++;
        } else if (spec[i] == ':') {
            out.emplace_back();
        } else {
            out.back() += spec[i];
        }
    }
    return out;
}

Result<std::string> host_path(const std::string& p, const std::string& what) {
    BERTH_ASSIGN(std::string norm, normalize_absolute_path(p, what));
    struct stat st {};
    if (::stat(norm.c_str(), &st) < 0) return errno_error(fmt::format("{} {}", what, norm));
    return norm;
}

// BERTH_POOL (tests), else machined's pool: the images `machinectl start` and nspawn -M agree on.
Result<std::string> pool_path() {
    if (const char* env = std::getenv("BERTH_POOL"); env && *env) return std::string(env);
    BERTH_ASSIGN(MachinedConfig config, load_machined_config(paths::kMachinedConfig, false));
    return config.pool;
}

bool is_executable_in_root(int rootfd, const std::string& path) {
    auto fd = open_in_root(rootfd, path, O_PATH);
    if (!fd.ok()) return false;
    struct stat st {};
    return ::fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

Result<std::string> find_init(int rootfd, const std::string& dir) {
    for (auto* p : kInits)
        if (is_executable_in_root(rootfd, p)) return std::string(p);
    return plain_error(fmt::format("No init found in image {} (tried /usr/lib/systemd/systemd, "
                                   "/lib/systemd/systemd, /sbin/init)",
                                   dir),
                       ENOENT);
}

bool command_exists(int rootfd, const std::string& cmd) {
    if (cmd.find('/') != std::string::npos) return is_executable_in_root(rootfd, cmd);
    for (auto* d : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"})
        if (is_executable_in_root(rootfd, std::string(d) + "/" + cmd)) return true;
    return false;
}

// A path inside the image, as a host path: symlinks resolved without leaving the image.
Result<std::string> resolve_in_image(int rootfd, const std::string& rel, const std::string& image) {
    auto fd = open_in_root(rootfd, rel, O_PATH | O_DIRECTORY);
    if (!fd.ok()) return Error{fd.error().code, fmt::format("Overlay layer +{} in image {}: {}", rel, image,
                                                            std::strerror(fd.error().code))};
    char buf[PATH_MAX];
    ssize_t n = ::readlink(fmt::format("/proc/self/fd/{}", fd->get()).c_str(), buf, sizeof buf - 1);
    if (n < 0) return errno_error(fmt::format("Failed to resolve overlay layer +{}", rel));
    return std::string(buf, n);
}

}  // namespace

Status check_env(const std::string& kv) {
    auto eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos)
        return plain_error(fmt::format("Invalid environment assignment \"{}\": expected VAR=VALUE", kv));
    for (size_t i = 0; i < eq; i++) {
        char c = kv[i];
        if (!(isalnum(static_cast<unsigned char>(c)) || c == '_') || (i == 0 && isdigit(static_cast<unsigned char>(c))))
            return plain_error(fmt::format("Invalid environment variable name in \"{}\"", kv));
    }
    return {};
}

Status check_hostname(const std::string& h) {
    if (h.empty() || h.size() > 64 || !machine_name_is_valid(h))
        return plain_error(fmt::format("Invalid hostname \"{}\"", h));
    return {};
}

Result<BindMount> parse_bind(const std::string& spec, bool read_only) {
    auto parts = split_colons(spec);
    if (parts.size() > 3) return plain_error(fmt::format("Invalid bind mount \"{}\": too many ':'", spec));
    BindMount b;
    b.read_only = read_only;
    BERTH_ASSIGN(b.source, host_path(parts[0], "Bind source"));
    BERTH_ASSIGN(b.destination, normalize_absolute_path(parts.size() > 1 && !parts[1].empty() ? parts[1] : parts[0],
                                                        "Bind destination"));
    if (b.destination == "/") return plain_error(fmt::format("Invalid bind mount \"{}\": cannot bind over /", spec));
    if (parts.size() > 2) {
        for (const std::string& o : split_items(parts[2])) {
            if (o == "rbind") b.recursive = true;
            else if (o == "norbind") b.recursive = false;
            else if (o == "idmap") b.idmap = true;
            else if (o == "noidmap") b.idmap = false;
            else return plain_error(fmt::format("Invalid bind mount \"{}\": unknown option \"{}\"", spec, o));
        }
    }
    return b;
}

Result<TmpfsMount> parse_tmpfs(const std::string& spec) {
    auto parts = split_colons(spec);
    TmpfsMount t;
    BERTH_ASSIGN(t.destination, normalize_absolute_path(parts[0], "Tmpfs path"));
    if (t.destination == "/") return plain_error("Invalid --tmpfs: cannot mount a tmpfs over /");
    std::string opts;
    for (size_t i = 1; i < parts.size(); i++) opts += (i > 1 ? ":" : "") + parts[i];
    if (parts.size() == 1) {
        t.options = "mode=0755";
        return t;
    }
    // Checked here, not by the kernel in the child: tmpfs's parameters go to fsconfig(), the mount flags
    // become mount attributes (fsconfig refuses them), and anything else is an error naming it.
    auto bad = [&](const std::string& why) {
        return plain_error(fmt::format("Invalid --tmpfs \"{}\": {}", spec, why));
    };
    std::vector<std::string> params;
    for (const std::string& o : split_items(opts)) {
        auto eq = o.find('=');
        std::string key = o.substr(0, eq), value = eq == std::string::npos ? "" : o.substr(eq + 1);
        if (eq == std::string::npos) {
            if (o == "noexec") t.attrs |= MOUNT_ATTR_NOEXEC;
            else if (o == "ro") t.attrs |= MOUNT_ATTR_RDONLY;
            else if (o == "exec") t.attrs &= ~MOUNT_ATTR_NOEXEC;
            else if (o == "rw") t.attrs &= ~MOUNT_ATTR_RDONLY;
            else if (o == "nosuid" || o == "nodev") {}  // always
            else if (o == "suid" || o == "dev")
                return bad(fmt::format("\"{}\" is not allowed: a machine's tmpfs is always nosuid,nodev", o));
            else
                return bad(fmt::format("unknown option \"{}\" (known: mode, size, nr_inodes, uid, gid, nosuid, "
                                       "nodev, noexec, exec, ro, rw)",
                                       o));
            continue;
        }
        if (key == "mode") {
            bool octal = !value.empty() && value.size() <= 5 &&
                         value.find_first_not_of("01234567") == std::string::npos;
            if (!octal || std::stoul(value, nullptr, 8) > 07777)
                return bad(fmt::format("mode \"{}\" is not an octal mode up to 07777", value));
        } else if (key == "size" || key == "nr_inodes") {
            // As tmpfs reads them: a number with an optional K, M, G, T, P or E suffix (either case); a size
            // may instead be a percentage of the host's memory.
            std::string digits = value;
            if (key == "size" && !digits.empty() && digits.back() == '%') digits.pop_back();
            else if (!digits.empty() && std::string_view("kKmMgGtTpPeE").find(digits.back()) != std::string_view::npos)
                digits.pop_back();
            auto n = parse_uint(digits);
            if (!n || (value.back() == '%' && (*n < 1 || *n > 100)))
                return bad(fmt::format("{} \"{}\" is not a number with an optional K, M, G suffix{}", key, value,
                                       key == "size" ? " or a percentage of memory (1-100%)" : ""));
        } else if (key == "uid" || key == "gid") {
            auto n = parse_uint(value);
            if (!n || *n >= 0xFFFFFFFFull) return bad(fmt::format("{} \"{}\" is not a user or group ID", key, value));
        } else {
            return bad(fmt::format("unknown option \"{}\" (known: mode, size, nr_inodes, uid, gid, nosuid, nodev, "
                                   "noexec, exec, ro, rw)",
                                   key));
        }
        params.push_back(o);
    }
    for (auto& p : params) t.options += (t.options.empty() ? "" : ",") + p;
    return t;
}

// systemd-nspawn's rules: layers lowest first, the last path is the destination; with only two paths the
// second is both the host's top layer and the mount point. "+PATH" is relative to the image (resolved by
// make_plan); an empty top layer of a writable overlay is a temporary directory.
Result<OverlayMount> parse_overlay(const std::string& spec, bool read_only) {
    auto parts = split_colons(spec);
    if (parts.size() < 2)
        return plain_error(fmt::format("Invalid overlay \"{}\": need at least a layer and a destination", spec));
    OverlayMount o;
    o.read_only = read_only;
    BERTH_ASSIGN(o.destination, normalize_absolute_path(parts.back(), "Overlay destination"));
    if (o.destination == "/") return plain_error(fmt::format("Invalid overlay \"{}\": cannot overlay /", spec));
    parts.pop_back();
    if (parts.size() == 1) parts.push_back(o.destination);
    for (size_t i = 0; i < parts.size(); i++) {
        const std::string& p = parts[i];
        bool top = i + 1 == parts.size();
        std::string layer;
        if (p.empty()) {
            if (!top || read_only)
                return plain_error(fmt::format("Invalid overlay \"{}\": only the top layer of a writable overlay may "
                                               "be empty",
                                               spec));
        } else if (p[0] == '+') {
            BERTH_ASSIGN(std::string rel, normalize_absolute_path(p.substr(1), "Overlay layer"));
            layer = "+" + rel;
        } else {
            BERTH_ASSIGN(layer, host_path(p, "Overlay layer"));
        }
        o.lowers.push_back(layer);
    }
    if (!read_only) {
        o.upper = o.lowers.back();
        o.lowers.pop_back();
    }
    return o;
}

Result<ConsoleMode> parse_console(const std::string& text) {
    if (text == "interactive") return ConsoleMode::Interactive;
    if (text == "read-only") return ConsoleMode::ReadOnly;
    if (text == "passive") return ConsoleMode::Passive;
    if (text == "pipe") return ConsoleMode::Pipe;
    return plain_error(fmt::format("Invalid console mode \"{}\": expected interactive, read-only, passive or pipe", text));
}

Result<Plan> make_plan(Options o, std::vector<std::string>& warnings) {
    PlanDraft d;
    Plan& plan = d.plan;
    if (::geteuid() != 0) return plain_error("nspawn must be run as root", EPERM);

    // Where and who: the command line alone says.
    std::string dir;
    auto machine = o.text("machine");
    if (auto directory = o.text("directory")) {
        dir = *directory;
    } else if (machine) {
        BERTH_TRY(check_machine_name(*machine));
        BERTH_ASSIGN(plan.pool, pool_path());
        dir = plan.pool + "/" + *machine;
    } else {
        char cwd[PATH_MAX];
        if (!::getcwd(cwd, sizeof cwd)) return errno_error("Failed to get the current directory");
        dir = cwd;
    }
    char real[PATH_MAX];
    if (!::realpath(dir.c_str(), real)) return errno_error(fmt::format("Directory {}", dir));
    struct stat st {};
    if (::stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
        return plain_error(fmt::format("Directory {} is not a directory", dir), ENOTDIR);
    plan.directory = real;
    if (plan.directory == "/") return plain_error("Refusing to use the host's root directory as a machine image");

    if (machine) {
        plan.machine = *machine;
    } else {
        plan.machine = machine_name_from_path(plan.directory);
        if (plan.machine.empty())
            return plain_error(fmt::format("Cannot derive a machine name from {}: use --machine=NAME", plan.directory));
    }
    BERTH_TRY(check_machine_name(plan.machine));

    // Settings fill what the command line left open.
    SettingsMode smode = SettingsMode::Yes;
    if (auto settings = o.text("settings")) {
        if (*settings == "trusted") smode = SettingsMode::Trusted;
        else {
            BERTH_ASSIGN(bool yes, parse_boolean(*settings, "--settings"));
            smode = yes ? SettingsMode::Yes : SettingsMode::No;
        }
    }
    if (smode != SettingsMode::No) {
        for (auto& f : find_settings(plan.machine, plan.directory, smode == SettingsMode::Trusted)) {
            BERTH_ASSIGN(std::string text, read_file(f.path));
            BERTH_TRY(apply_settings(text, f, o, warnings));
            plan.settings_files.push_back(f.path);
        }
    }

    // Every option said, by its entry's parser, in the table's order.
    BERTH_TRY(parse_options(o, d));

    // What depends on several options.
    if (plan.boot && plan.as_pid2) return plain_error("--boot and --as-pid2 cannot be combined");
    if (!d.has("console"))
        plan.console = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO) ? ConsoleMode::Interactive : ConsoleMode::Pipe;
    if (!d.has("kill-signal")) plan.kill_signal = plan.boot ? SIGRTMIN + 3 : SIGKILL;
    if (!d.has("hostname")) {
        plan.hostname = plan.machine;
        BERTH_TRY(check_hostname(plan.hostname));
    }

    BERTH_TRY(finish_network(plan.network, plan.private_network));
    plan.private_network = plan.network.private_network;
    if (!plan.network.ports.empty() && !plan.network.veth && plan.network.bridge.empty() && plan.network.zone.empty())
        return plain_error("--port needs a virtual network link: add --network-veth, --network-bridge or --network-zone");
    BERTH_TRY(finish_userns(plan.userns, plan.directory));
    // A chown writes every file of the image: only to one that is writable and locked for this machine
    // alone (-x and --read-only share the image with other machines).
    if (plan.userns.enabled() && plan.userns.ownership == Ownership::Chown && (plan.ephemeral || plan.read_only))
        return plain_error(fmt::format("--private-users-ownership=chown changes the owner of every file of {}: "
                                       "not with {}, which leaves the image unchanged",
                                       plan.directory, plan.ephemeral ? "--ephemeral" : "--read-only"));
    // Without a user namespace the machine's root is host root: "idmap" is the identity, nothing to do
    // (as with systemd-nspawn), so one command line serves both modes.
    if (!plan.userns.enabled())
        for (auto& b : plan.binds) b.idmap = false;
    finish_privileges(plan.privileges, d.capabilities_added, d.capabilities_dropped, plan.private_network);
    BERTH_TRY(finish_resources(plan.resources));
    // Without a range of its own the kernel keeps no ceiling of the machine's tasks: its cgroup does.
    bool own_range = plan.userns.enabled() && plan.userns.mode != UserNsMode::Identity;
    if (!own_range && !plan.resources.pids_max) {
        plan.resources.pids_max = plan.resources.tasks_ceiling;
        plan.resources.pids_max_is_default = true;
    }
    if (!plan.resources.userns_limits.empty() && !plan.userns.enabled())
        return plain_error("--userns-limit sets limits of the machine's user namespace: not with --private-users=no");

    // What must exist inside the image.
    UniqueFd rootfd(::open(plan.directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!rootfd) return errno_error(fmt::format("Failed to open {}", plan.directory));

    BERTH_ASSIGN(plan.user, lookup_user(rootfd.get(), d.user, plan.machine));
    for (auto& ov : plan.overlays) {
        for (auto* layer : [&] {
                 std::vector<std::string*> all;
                 for (auto& l : ov.lowers) all.push_back(&l);
                 all.push_back(&ov.upper);
                 return all;
             }()) {
            if (layer->empty() || (*layer)[0] != '+') continue;
            BERTH_ASSIGN(*layer, resolve_in_image(rootfd.get(), layer->substr(1), plan.directory));
        }
    }

    if (plan.boot) {
        BERTH_ASSIGN(std::string init, find_init(rootfd.get(), plan.directory));
        plan.argv.push_back(init);
        plan.argv.insert(plan.argv.end(), d.command.begin(), d.command.end());
    } else {
        plan.argv = d.command.empty() ? std::vector<std::string>{plan.user.shell} : d.command;
        bool mounts_may_add = !plan.binds.empty() || !plan.overlays.empty() || !plan.tmpfs.empty();
        if (!mounts_may_add && !command_exists(rootfd.get(), plan.argv[0]))
            return plain_error(fmt::format("Command \"{}\" not found in machine \"{}\"", plan.argv[0], plan.machine),
                               ENOENT);
    }

    // Machine ID: the image's own, else --uuid, else random (transient).
    // A guest may plant anything there for its next boot (a FIFO, a device, a huge file): never a hang.
    auto mid = read_untrusted_file(rootfd.get(), "/etc/machine-id", 4096);
    if (!mid.ok() && mid.error().code != ENOENT)
        warnings.push_back(fmt::format("Ignoring the image's machine ID: {}", mid.error().message));
    if (mid.ok() && mid->size() >= 32) {
        auto id = parse_id128(mid->substr(0, 32));
        if (id.ok() && !id128_is_null(*id)) {
            plan.uuid = *id;
            plan.uuid_from_image = true;
        }
    }
    if (!plan.uuid_from_image) plan.uuid = d.uuid ? *d.uuid : random_id128();
    else if (d.uuid && *d.uuid != plan.uuid)
        warnings.push_back("--uuid ignored: the image has a machine ID of its own in /etc/machine-id");

    return plan;
}

}  // namespace berth::nspawn
