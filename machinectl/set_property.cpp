#include "machinectl/set_property.hpp"

#include <fmt/format.h>

#include "machinectl/options.hpp"

namespace berth::machinectl {

Result<std::vector<std::pair<std::string, std::string>>> parse_assignments(const std::vector<std::string>& args) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& a : args) {
        auto eq = a.find('=');
        if (eq == std::string::npos || eq == 0)
            return plain_error(fmt::format("Invalid assignment {}: KEY=VALUE expected", quote_arg(a)));
        std::string key = a.substr(0, eq);
        for (unsigned char c : key)
            if (!(std::isalnum(c) || c == '-' || c == '_'))
                return plain_error(fmt::format("Invalid property name {} in {}", quote_arg(key), quote_arg(a)));
        out.emplace_back(key, a.substr(eq + 1));
    }
    return out;
}

}  // namespace berth::machinectl
