#include "common/machined_config.hpp"

#include <sys/stat.h>

#include <toml++/toml.h>

#include "common/fileio.hpp"
#include "common/toml_text.hpp"

namespace berth {

Result<MachinedConfig> load_machined_config(const std::string& path, bool required) {
    MachinedConfig c;
    struct stat st {};
    if (::stat(path.c_str(), &st) < 0) {
        if (errno == ENOENT && !required) return c;
        return errno_error(fmt::format("Failed to read {}", path));
    }
    BERTH_ASSIGN(std::string text, read_file(path));
    BERTH_ASSIGN(std::string guarded, guard_toml_text(text, "configuration " + path));
    toml::table t;
    try {
        t = toml::parse(guarded, path);
    } catch (const toml::parse_error& e) {
        return plain_error(fmt::format("Failed to parse {}: {} (line {})", path, e.description(),
                                       e.source().begin.line));
    }
    for (auto& [key, node] : t) {
        std::string k(key.str());
        auto bad = [&](const char* what) {
            return plain_error(fmt::format("Invalid \"{}\" in {}: expected {}", k, path, what));
        };
        if (k == "pool" || k == "enabled_dir" || k == "state_dir" || k == "nspawn" || k == "machines_dir") {
            auto v = node.value<std::string>();
            if (!v || v->empty() || (*v)[0] != '/') return bad("an absolute path");
            (k == "pool"          ? c.pool
             : k == "enabled_dir" ? c.enabled_dir
             : k == "state_dir"   ? c.state_dir
             : k == "machines_dir" ? c.machines_dir
                                   : c.nspawn) = *v;
        } else if (k == "allowed_groups") {
            auto* a = node.as_array();
            if (!a) return bad("an array of group names");
            for (auto& g : *a) {
                auto v = g.value<std::string>();
                if (!v || v->empty()) return bad("an array of group names");
                c.allowed_groups.push_back(*v);
            }
        } else if (k == "image_search_path" || k == "import_keyrings") {
            auto* a = node.as_array();
            if (!a) return bad("an array of absolute paths");
            auto& list = k == "image_search_path" ? c.image_search_path : c.import_keyrings;
            list.clear();
            for (auto& d : *a) {
                auto v = d.value<std::string>();
                if (!v || v->empty() || (*v)[0] != '/') return bad("an array of absolute paths");
                list.push_back(*v);
            }
        } else if (k == "log_level") {
            auto v = node.value<std::string>();
            auto level = v ? spdlog::level::from_str(*v) : spdlog::level::off;
            if (!v || (level == spdlog::level::off && *v != "off"))
                return bad("one of trace, debug, info, warning, error, critical, off");
            c.log_level = level;
        } else if (k == "terminate_timeout_sec" || k == "start_timeout_sec") {
            auto* i = node.as_integer();  // not value<int64_t>(): it converts floats unchecked
            std::optional<int64_t> v = i ? std::optional<int64_t>(i->get()) : std::nullopt;
            if (!v || *v < 0 || *v > 3600) return bad("seconds between 0 and 3600");
            (k == "start_timeout_sec" ? c.start_timeout_sec : c.terminate_timeout_sec) = static_cast<int>(*v);
        } else if (k == "image_usage_refresh_sec") {
            auto* i = node.as_integer();
            if (!i || i->get() < 0 || i->get() > 86400) return bad("seconds between 0 and 86400");
            c.image_usage_refresh_sec = static_cast<int>(i->get());
        } else {
            return plain_error(fmt::format("Unknown key \"{}\" in {}", k, path));
        }
    }
    return c;
}

}  // namespace berth
