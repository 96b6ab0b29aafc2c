#include "machinectl/properties.hpp"

#include <time.h>

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace berth::machinectl {

namespace {

constexpr uint64_t kUnset = std::numeric_limits<uint64_t>::max();

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

std::string format_u64(const std::string& name, uint64_t u) {
    if (ends_with(name, "Timestamp")) return format_timestamp(u);
    if (u == kUnset) {
        for (auto limit : {"MemoryLow", "MemoryMin", "MemoryHigh", "MemoryMax", "MemorySwapMax", "MemoryLimit", "TasksMax"})
            if (ends_with(name, limit)) return "infinity";
        if (starts_with(name, "Limit")) return "infinity";
    }
    return std::to_string(u);
}

}  // namespace

std::string shell_maybe_quote(const std::string& s) {
    static const std::string_view kSafe =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/@+=%";
    bool safe = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return kSafe.find(c) != std::string_view::npos; });
    if (safe) return s;
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\' || c == '$' || c == '`') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string format_timestamp(uint64_t usec) {
    if (usec == 0 || usec == kUnset) return "";
    time_t sec = static_cast<time_t>(usec / 1000000);
    struct tm tm {};
    if (!localtime_r(&sec, &tm)) return "";
    char buf[128];
    if (strftime(buf, sizeof buf, "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0) return "";
    return buf;
}

std::string format_timestamp_relative(uint64_t usec, uint64_t now) {
    if (usec == 0 || usec == kUnset) return "";
    constexpr uint64_t us = 1, ms = 1000 * us, s = 1000 * ms, min = 60 * s, h = 60 * min, day = 24 * h,
                       week = 7 * day, month = 2629800 * s, year = 31557600 * s;
    bool future = usec > now;
    uint64_t d = future ? usec - now : now - usec;
    const char* suffix = future ? "left" : "ago";
    std::string t;
    if (d >= year) t = fmt::format("{} {} {} {}", d / year, d / year == 1 ? "year" : "years", (d % year) / month,
                                   (d % year) / month == 1 ? "month" : "months");
    else if (d >= month) t = fmt::format("{} {} {} {}", d / month, d / month == 1 ? "month" : "months", (d % month) / day,
                                         (d % month) / day == 1 ? "day" : "days");
    else if (d >= week) t = fmt::format("{} {} {} {}", d / week, d / week == 1 ? "week" : "weeks", (d % week) / day,
                                        (d % week) / day == 1 ? "day" : "days");
    else if (d >= 2 * day) t = fmt::format("{} days", d / day);
    else if (d >= 25 * h) t = fmt::format("1 day {}h", (d - day) / h);
    else if (d >= 6 * h) t = fmt::format("{}h", d / h);
    else if (d >= h) t = fmt::format("{}h {}min", d / h, (d % h) / min);
    else if (d >= 5 * min) t = fmt::format("{}min", d / min);
    else if (d >= min) t = fmt::format("{}min {}s", d / min, (d % min) / s);
    else if (d >= s) t = fmt::format("{}s", d / s);
    else if (d >= ms) t = fmt::format("{}ms", d / ms);
    else if (d > 0) t = fmt::format("{}us", d);
    else return "now";
    return t + " " + suffix;
}

uint64_t now_realtime_usec() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

Property make_property(const std::string& name, const sdbus::Variant& v) {
    Property p;
    p.name = name;
    p.signature = v.peekValueType();
    const std::string& sig = p.signature;
    if (sig == "s" || sig == "o" || sig == "g") {
        std::string s = sig == "s" ? v.get<std::string>()
                      : sig == "o" ? std::string(v.get<sdbus::ObjectPath>())
                                   : std::string(v.get<sdbus::Signature>());
        p.json = s;
        // A value on one line: a newline in it would break KEY=VALUE parsing.
        p.text = s.find('\n') == std::string::npos ? s : "[unprintable]";
    } else if (sig == "b") {
        bool b = v.get<bool>();
        p.json = b;
        p.text = b ? "yes" : "no";
    } else if (sig == "t") {
        uint64_t u = v.get<uint64_t>();
        p.json = u;
        p.text = format_u64(name, u);
    } else if (sig == "u") {
        uint32_t u = v.get<uint32_t>();
        p.json = u;
        p.text = std::to_string(u);
    } else if (sig == "q") {
        p.json = v.get<uint16_t>();
        p.text = std::to_string(v.get<uint16_t>());
    } else if (sig == "y") {
        p.json = v.get<uint8_t>();
        p.text = std::to_string(v.get<uint8_t>());
    } else if (sig == "x") {
        p.json = v.get<int64_t>();
        p.text = std::to_string(v.get<int64_t>());
    } else if (sig == "i") {
        p.json = v.get<int32_t>();
        p.text = std::to_string(v.get<int32_t>());
    } else if (sig == "n") {
        p.json = v.get<int16_t>();
        p.text = std::to_string(v.get<int16_t>());
    } else if (sig == "d") {
        p.json = v.get<double>();
        p.text = fmt::format("{}", v.get<double>());
    } else if (sig == "as") {
        auto list = v.get<std::vector<std::string>>();
        p.json = list;
        for (auto& s : list) p.text += (p.text.empty() ? "" : " ") + shell_maybe_quote(s);
    } else if (sig == "ay") {
        auto bytes = v.get<std::vector<uint8_t>>();
        for (auto b : bytes) p.text += fmt::format("{:02x}", b);
        p.json = p.text;
    } else if (sig == "ai") {
        // systemd prints no text for integer arrays (NetworkInterfaces): "[unprintable]" with -a only.
        p.json = v.get<std::vector<int32_t>>();
        p.printable = false;
    } else if (sig == "au") {
        auto list = v.get<std::vector<uint32_t>>();
        p.json = list;
        for (auto u : list) p.text += fmt::format("{:08x}", u);
    } else {
        p.printable = false;
        p.json = nullptr;
    }
    return p;
}

namespace {
bool selected(const Property& p, const ShowFlags& flags) {
    return flags.filter.empty() || std::find(flags.filter.begin(), flags.filter.end(), p.name) != flags.filter.end();
}
// Empty values are left out unless -a, or -p asked for them by name (as systemd does).
bool shown(const Property& p, const ShowFlags& flags) {
    if (!selected(p, flags)) return false;
    if (flags.all || !flags.filter.empty()) return true;
    return p.printable && !p.text.empty();
}
}  // namespace

std::string format_properties(const std::vector<Property>& props, const ShowFlags& flags) {
    std::string out;
    for (auto& p : props) {
        if (!shown(p, flags)) continue;
        std::string value = p.printable ? p.text : "[unprintable]";
        out += flags.value_only ? value + "\n" : p.name + "=" + value + "\n";
    }
    return out;
}

nlohmann::ordered_json properties_json(const std::vector<Property>& props, const ShowFlags& flags) {
    // JSON has a value for every type, so only emptiness counts here.
    auto empty = [](const nlohmann::ordered_json& j) {
        return j.is_null() || (j.is_string() && j.get_ref<const std::string&>().empty()) || (j.is_array() && j.empty());
    };
    auto obj = nlohmann::ordered_json::object();
    for (auto& p : props)
        if (selected(p, flags) && (flags.all || !flags.filter.empty() || !empty(p.json))) obj[p.name] = p.json;
    return obj;
}

}  // namespace berth::machinectl
