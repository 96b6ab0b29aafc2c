#include "common/values.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace berth {

namespace {
bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
}  // namespace

std::string value_text(const OptionValue& v) {
    if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
    if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
    if (auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
    return std::get<std::string>(v);
}

std::vector<std::string> split_items(std::string_view text, char separator) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= text.size()) {
        size_t j = text.find(separator, i);
        if (j == std::string_view::npos) j = text.size();
        if (j > i) out.emplace_back(text.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

std::vector<std::string_view> split_fields(std::string_view text, char separator) {
    std::vector<std::string_view> out;
    for (size_t i = 0;;) {
        size_t j = text.find(separator, i);
        out.push_back(text.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
        if (j == std::string_view::npos) return out;
        i = j + 1;
    }
}

std::optional<bool> parse_boolean(std::string_view t) {
    if (t == "yes" || t == "true" || t == "1" || t == "on") return true;
    if (t == "no" || t == "false" || t == "0" || t == "off") return false;
    return std::nullopt;
}

Result<bool> parse_boolean(const std::string& text, const std::string& what) {
    if (auto b = parse_boolean(std::string_view(text))) return *b;
    return plain_error(fmt::format("Invalid value \"{}\" for {}: expected yes or no", text, what));
}

std::optional<uint64_t> parse_uint(std::string_view s) {
    if (!all_digits(s)) return std::nullopt;
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<int64_t> parse_int(std::string_view s) {
    bool neg = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
    auto u = parse_uint(s);
    if (!u || *u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return neg ? -static_cast<int64_t>(*u) : static_cast<int64_t>(*u);
}

std::optional<uint64_t> parse_size(std::string_view s) {
    if (s == "infinity") return kInfinity;
    static constexpr std::pair<char, int> kSuffixes[] = {{'K', 10}, {'M', 20}, {'G', 30},
                                                         {'T', 40}, {'P', 50}, {'E', 60}};
    int shift = 0;
    if (!s.empty() && s.back() == 'B') s.remove_suffix(1);
    for (auto [c, sh] : kSuffixes)
        if (!s.empty() && s.back() == c) {
            shift = sh;
            s.remove_suffix(1);
            break;
        }
    std::string_view whole = s, frac;
    if (auto dot = s.find('.'); dot != std::string_view::npos) {
        whole = s.substr(0, dot);
        frac = s.substr(dot + 1);
        if (!all_digits(frac) || shift == 0) return std::nullopt;
        if (frac.size() > 18) frac = frac.substr(0, 18);
    }
    auto w = parse_uint(whole);
    if (!w) return std::nullopt;
    unsigned __int128 v = static_cast<unsigned __int128>(*w) << shift;
    if (!frac.empty()) {
        unsigned __int128 scale = 1;
        for (size_t i = 0; i < frac.size(); i++) scale *= 10;
        v += (static_cast<unsigned __int128>(*parse_uint(frac)) << shift) / scale;
    }
    if (v >= kInfinity) return std::nullopt;
    return static_cast<uint64_t>(v);
}

}  // namespace berth
