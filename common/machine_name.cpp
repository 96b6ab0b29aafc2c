#include "common/machine_name.hpp"

#include <cctype>

#include "common/escape.hpp"

namespace berth {

namespace {
// Letters, digits, hyphens: RFC 1123 host name labels, as systemd's hostname_is_valid().
bool ldh(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }
}  // namespace

bool machine_name_is_valid(std::string_view name) {
    return check_machine_name(name).ok();
}

Status check_machine_name(std::string_view name) {
    auto refuse = [&](const char* why) {
        return plain_error(fmt::format("Invalid machine name {}: {}", quote_untrusted(name), why));
    };
    if (name.empty()) return plain_error("Invalid machine name: it is empty");
    if (name.size() > kMachineNameMax) return refuse("longer than 64 characters");
    size_t label_start = 0;
    for (size_t i = 0; i <= name.size(); i++) {
        if (i < name.size() && name[i] != '.') {
            if (!ldh(name[i])) return refuse("only letters, digits, '-' and '.' are allowed");
            continue;
        }
        std::string_view label = name.substr(label_start, i - label_start);
        if (label.empty()) return refuse("empty label (leading, trailing or double '.')");
        if (label.front() == '-' || label.back() == '-') return refuse("a label starts or ends with '-'");
        label_start = i + 1;
    }
    return {};
}

std::string machine_name_from_path(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    auto slash = path.rfind('/');
    std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
    std::string out;
    for (char c : base) out += (ldh(c) || c == '.') ? c : '-';
    while (!out.empty() && (out.front() == '-' || out.front() == '.')) out.erase(0, 1);
    if (out.size() > kMachineNameMax) out.resize(kMachineNameMax);
    while (!out.empty() && (out.back() == '.' || out.back() == '-')) out.pop_back();
    return machine_name_is_valid(out) ? out : std::string{};
}

}  // namespace berth
