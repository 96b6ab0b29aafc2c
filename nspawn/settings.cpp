#include "common/paths.hpp"
#include "nspawn/settings.hpp"

#include <sys/stat.h>

#include <toml++/toml.h>

#include "common/toml_text.hpp"

namespace berth::nspawn {

namespace {

using Apply = Status (*)(const toml::node&, Options&, const std::string& where);

struct Key {
    const char* section;
    const char* name;
    bool privileged;  // exposes host resources: ignored in untrusted files
    Apply apply;
};

Status type_error(const std::string& where, const char* want) {
    return plain_error(fmt::format("{}: expected {}", where, want));
}

template <std::optional<bool> Options::*F>
Status set_bool(const toml::node& n, Options& o, const std::string& where) {
    auto v = n.value<bool>();
    if (!v || !n.is_boolean()) return type_error(where, "true or false");
    if (!(o.*F)) o.*F = *v;
    return {};
}

template <std::optional<std::string> Options::*F>
Status set_string(const toml::node& n, Options& o, const std::string& where) {
    if (!n.is_string()) return type_error(where, "a string");
    if (!(o.*F)) o.*F = *n.value<std::string>();
    return {};
}

Status string_list(const toml::node& n, const std::string& where, std::vector<std::string>& out) {
    const auto* arr = n.as_array();
    if (!arr) return type_error(where, "an array of strings");
    for (auto& e : *arr) {
        if (!e.is_string()) return type_error(where, "an array of strings");
        out.push_back(*e.value<std::string>());
    }
    return {};
}

template <std::optional<std::vector<std::string>> Options::*F>
Status set_list(const toml::node& n, Options& o, const std::string& where) {
    std::vector<std::string> v;
    BERTH_TRY(string_list(n, where, v));
    if (!(o.*F)) o.*F = std::move(v);
    return {};
}

Status set_kill_signal(const toml::node& n, Options& o, const std::string& where) {
    if (n.is_integer()) {
        if (!o.kill_signal) o.kill_signal = std::to_string(*n.value<int64_t>());
        return {};
    }
    return set_string<&Options::kill_signal>(n, o, where);
}

Status set_register(const toml::node& n, Options& o, const std::string& where) {
    if (n.is_boolean()) {
        if (!o.register_mode) o.register_mode = *n.value<bool>() ? "yes" : "no";
        return {};
    }
    return set_string<&Options::register_mode>(n, o, where);
}

// A string, or an integer written without quotes ("512M" or 536870912).
template <std::optional<std::string> Options::*F>
Status set_scalar(const toml::node& n, Options& o, const std::string& where) {
    if (n.is_integer()) {
        if (!(o.*F)) o.*F = std::to_string(*n.value<int64_t>());
        return {};
    }
    if (n.is_floating_point()) {
        if (!(o.*F)) o.*F = fmt::format("{}", *n.value<double>());
        return {};
    }
    return set_string<F>(n, o, where);
}

template <std::optional<std::string> Options::*F>
Status set_yes_no(const toml::node& n, Options& o, const std::string& where) {
    if (!n.is_boolean()) return type_error(where, "true or false");
    if (!(o.*F)) o.*F = *n.value<bool>() ? "yes" : "no";
    return {};
}

Status set_private_users(const toml::node& n, Options& o, const std::string& where) {
    if (n.is_boolean()) {
        if (!o.private_users) o.private_users = *n.value<bool>() ? "pick" : "no";
        return {};
    }
    return set_scalar<&Options::private_users>(n, o, where);
}

constexpr Key kKeys[] = {
    {"exec", "boot", false, set_bool<&Options::boot>},
    {"exec", "as_pid2", false, set_bool<&Options::as_pid2>},
    {"exec", "command", false, set_list<&Options::command>},
    {"exec", "working_directory", false, set_string<&Options::chdir>},
    {"exec", "environment", false, set_list<&Options::setenv>},
    {"exec", "user", false, set_string<&Options::user>},
    {"exec", "hostname", false, set_string<&Options::hostname>},
    {"exec", "uuid", false, set_string<&Options::uuid>},
    {"exec", "kill_signal", false, set_kill_signal},
    {"exec", "console", false, set_string<&Options::console>},
    {"exec", "quiet", false, set_bool<&Options::quiet>},
    {"exec", "notify_ready", false, set_bool<&Options::notify_ready>},
    {"exec", "register", false, set_register},
    {"exec", "keep_unit", false, set_bool<&Options::keep_unit>},
    {"files", "read_only", false, set_bool<&Options::read_only>},
    {"files", "ephemeral", false, set_bool<&Options::ephemeral>},
    {"files", "tmpfs", false, set_list<&Options::tmpfs>},
    {"files", "bind", true, set_list<&Options::bind>},
    {"files", "bind_ro", true, set_list<&Options::bind_ro>},
    {"files", "overlay", true, set_list<&Options::overlay>},
    {"files", "overlay_ro", true, set_list<&Options::overlay_ro>},
    {"exec", "private_users", true, set_private_users},
    {"exec", "private_users_ownership", false, set_string<&Options::private_users_ownership>},
    {"exec", "capability", true, set_list<&Options::capability>},
    {"exec", "drop_capability", false, set_list<&Options::drop_capability>},
    {"exec", "no_new_privileges", false, set_yes_no<&Options::no_new_privileges>},
    {"exec", "system_call_filter", true, set_list<&Options::system_call_filter>},
    {"resources", "memory_max", false, set_scalar<&Options::memory_max>},
    {"resources", "memory_high", false, set_scalar<&Options::memory_high>},
    {"resources", "memory_swap_max", false, set_scalar<&Options::memory_swap_max>},
    {"resources", "cpu_weight", false, set_scalar<&Options::cpu_weight>},
    {"resources", "cpu_quota", false, set_scalar<&Options::cpu_quota>},
    {"resources", "pids_max", false, set_scalar<&Options::pids_max>},
    {"resources", "io_weight", false, set_scalar<&Options::io_weight>},
    {"resources", "cpu_affinity", false, set_scalar<&Options::cpu_affinity>},
    {"resources", "oom_score_adjust", false, set_scalar<&Options::oom_score_adjust>},
    {"resources", "rlimit", false, set_list<&Options::rlimit>},
    {"resources", "userns_limit", false, set_list<&Options::userns_limit>},
    {"network", "private", false, set_bool<&Options::private_network>},
    {"network", "veth", false, set_bool<&Options::network_veth>},
    {"network", "bridge", true, set_string<&Options::network_bridge>},
    {"network", "zone", true, set_string<&Options::network_zone>},
    {"network", "interface", true, set_list<&Options::network_interface>},
    {"network", "port", true, set_list<&Options::port>},
};

const Key* find_key(std::string_view section, std::string_view name) {
    for (auto& k : kKeys)
        if (section == k.section && name == k.name) return &k;
    return nullptr;
}

bool is_file(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

std::vector<SettingsFile> find_settings(const std::string& name, const std::string& directory, bool trust_image_dir) {
    for (const char* dir : paths::kSettingsDirs) {
        std::string p = fmt::format("{}/{}.toml", dir, name);
        if (is_file(p)) return {{p, true}};
    }
    auto slash = directory.rfind('/');
    std::string parent = slash == 0 ? "/" : directory.substr(0, slash);
    std::string p = fmt::format("{}/{}.toml", parent == "/" ? "" : parent, name);
    if (is_file(p)) return {{p, trust_image_dir}};
    return {};
}

Status apply_settings(const std::string& toml_text, const SettingsFile& file, Options& options,
                      std::vector<std::string>& warnings) {
    BERTH_ASSIGN(std::string guarded, guard_toml_text(toml_text, "settings file " + file.path));
    toml::table doc;
    try {
        doc = toml::parse(guarded, file.path);
    } catch (const toml::parse_error& e) {
        return plain_error(fmt::format("Failed to parse settings file {} at line {}: {}", file.path,
                                       e.source().begin.line, e.description()));
    }
    for (auto& [section, node] : doc) {
        const auto* table = node.as_table();
        std::string sname(section.str());
        if (!table)
            return plain_error(fmt::format("Settings file {}: \"{}\" is not a section", file.path, sname));
        bool known = false;
        for (auto& k : kKeys) known = known || sname == k.section;
        if (!known) return plain_error(fmt::format("Settings file {}: unknown section [{}]", file.path, sname));
        for (auto& [key, value] : *table) {
            std::string kname(key.str());
            std::string where = fmt::format("Settings file {}: [{}] {}", file.path, sname, kname);
            const Key* k = find_key(sname, kname);
            if (!k) return plain_error(fmt::format("{}: unknown key", where));
            if (k->privileged && !file.trusted) {
                warnings.push_back(fmt::format("{}: ignored, the file is not trusted (use --settings=trusted or "
                                               "put it in /etc/berth/nspawn/)",
                                               where));
                continue;
            }
            BERTH_TRY(k->apply(value, options, where));
        }
    }
    return {};
}

}  // namespace berth::nspawn
