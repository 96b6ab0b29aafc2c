#include "nspawn/settings.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <set>

#include <toml++/toml.h>

#include "common/paths.hpp"
#include "common/toml_text.hpp"

namespace berth::nspawn {

namespace {

// What a key of these types may be, for the message when it is something else.
std::string expected(const OptionSpec& spec) {
    if (spec.kind == OptionKind::List) return "an array of strings";
    std::vector<std::string> kinds;
    if (spec.types & kBool) kinds.push_back("true or false");
    if (spec.types & kNumber) kinds.push_back("a number");
    if (spec.types & kString) kinds.push_back("a string");
    std::string out;
    for (size_t i = 0; i < kinds.size(); i++) out += (i == 0 ? "" : i + 1 == kinds.size() ? " or " : ", ") + kinds[i];
    return out;
}

// The node as the option's value(s), in their own type; nothing when the type is not one the key takes.
std::optional<std::vector<OptionValue>> values_of(const toml::node& n, const OptionSpec& spec) {
    if (spec.kind == OptionKind::List) {
        const auto* arr = n.as_array();
        if (!arr) return std::nullopt;
        std::vector<OptionValue> out;
        for (auto& e : *arr) {
            if (!e.is_string()) return std::nullopt;
            out.emplace_back(*e.value<std::string>());
        }
        return out;
    }
    if (n.is_boolean() && (spec.types & kBool)) return std::vector<OptionValue>{*n.value<bool>()};
    if (auto* i = n.as_integer(); i && (spec.types & kInteger)) return std::vector<OptionValue>{i->get()};
    if (auto* f = n.as_floating_point(); f && (spec.types & kFloat)) return std::vector<OptionValue>{f->get()};
    if (n.is_string() && (spec.types & kString)) return std::vector<OptionValue>{*n.value<std::string>()};
    return std::nullopt;
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
    // The command line wins: what it said before this file is kept.
    std::set<std::string> from_command_line;
    for (auto& spec : option_table())
        if (options.has(spec.name)) from_command_line.insert(std::string(spec.name));
    for (auto& [section, node] : doc) {
        const auto* table = node.as_table();
        std::string sname(section.str());
        if (!table)
            return plain_error(fmt::format("Settings file {}: \"{}\" is not a section", file.path, sname));
        auto specs = option_table();
        if (sname.empty() || std::none_of(specs.begin(), specs.end(), [&](auto& k) { return sname == k.section; }))
            return plain_error(fmt::format("Settings file {}: unknown section [{}]", file.path, sname));
        for (auto& [key, value] : *table) {
            std::string kname(key.str());
            std::string where = fmt::format("Settings file {}: [{}] {}", file.path, sname, kname);
            const OptionSpec* spec = find_option(kname);
            if (!spec || spec->section != sname) return plain_error(fmt::format("{}: unknown key", where));
            if (spec->privileged && !file.trusted) {
                warnings.push_back(fmt::format("{}: ignored, the file is not trusted (use --settings=trusted or "
                                               "put it in /etc/berth/nspawn/)",
                                               where));
                continue;
            }
            auto values = values_of(value, *spec);
            if (!values) return plain_error(fmt::format("{}: expected {}", where, expected(*spec)));
            if (from_command_line.count(std::string(spec->name))) continue;
            if (spec->kind == OptionKind::List) {
                std::vector<std::string> texts;
                for (auto& v : *values) texts.push_back(std::get<std::string>(v));
                options.set_list(spec->name, texts);
            } else {
                options.set(spec->name, values->front());
            }
        }
    }
    return {};
}

}  // namespace berth::nspawn
