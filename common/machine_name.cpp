#include "machine_name.hpp"

#include <cctype>

namespace berth {

namespace {
bool valid_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}
}  // namespace

bool machine_name_is_valid(std::string_view name) {
    return check_machine_name(name).ok();
}

Status check_machine_name(std::string_view name) {
    if (name.empty()) return plain_error("Machine name is empty");
    if (name.size() > kMachineNameMax)
        return plain_error(fmt::format("Machine name \"{}\" is longer than {} characters", name, kMachineNameMax));
    if (name == "." || name == "..")
        return plain_error(fmt::format("Machine name \"{}\" is not allowed", name));
    bool label_start = true;
    for (char c : name) {
        if (c == '.') {
            if (label_start) return plain_error(fmt::format("Machine name \"{}\" has an empty label", name));
            label_start = true;
            continue;
        }
        if (!valid_char(c))
            return plain_error(fmt::format(
                "Machine name \"{}\" contains an invalid character (allowed: letters, digits, '-', '_', '.')",
                name));
        if (label_start && c == '-')
            return plain_error(fmt::format("Machine name \"{}\" has a label starting with '-'", name));
        label_start = false;
    }
    if (label_start) return plain_error(fmt::format("Machine name \"{}\" ends with '.'", name));
    return {};
}

std::string machine_name_from_path(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    auto slash = path.rfind('/');
    std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
    std::string out;
    for (char c : base) out += (valid_char(c) || c == '.') ? c : '-';
    while (!out.empty() && (out.front() == '-' || out.front() == '.')) out.erase(0, 1);
    if (out.size() > kMachineNameMax) out.resize(kMachineNameMax);
    while (!out.empty() && (out.back() == '.' || out.back() == '-')) out.pop_back();
    return machine_name_is_valid(out) ? out : std::string{};
}

}  // namespace berth
