#include "machinectl/journal_format.hpp"

#include <algorithm>
#include <ctime>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include "machinectl/output_json.hpp"

namespace berth::machinectl {

namespace {

// journal-file.h: what counts as a timestamp at all.
bool valid_realtime(uint64_t u) { return u > 0 && u < (uint64_t{1} << 55); }
bool valid_monotonic(uint64_t u) { return u < (uint64_t{1} << 55); }

constexpr size_t kJsonThreshold = 4096;  // larger fields are null in JSON unless -a
constexpr uint64_t kUsec = 1000000;

std::optional<uint64_t> parse_u64(const std::string* s) {
    if (!s || s->empty() || s->size() > 20) return std::nullopt;
    uint64_t v = 0;
    for (char c : *s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

// The value of the last field of that name (as systemd's parse_field: later ones replace earlier ones).
const std::string* last_field(const JournalEntry& e, std::string_view name) {
    const std::string* v = nullptr;
    for (auto& [n, value] : e.fields)
        if (n == name) v = &value;
    return v;
}
const std::string* first_field(const JournalEntry& e, std::string_view name) {
    for (auto& [n, value] : e.fields)
        if (n == name) return &value;
    return nullptr;
}

// Decodes one UTF-8 sequence at s[i]; its length, 0 when malformed (overlong, surrogate, > U+10FFFF).
size_t utf8_char(std::string_view s, size_t i, char32_t& out) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return 0;
    char32_t v = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; k++) {
        if ((b(i + k) & 0xc0) != 0x80) return 0;
        v = (v << 6) | (b(i + k) & 0x3f);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < kMin[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    out = v;
    return len;
}

// time-util.c's format_timestamp(): "Mon 2026-12-07 04:33:02 UTC", with ".123456" before the zone for us.
std::string format_timestamp(uint64_t usec, bool with_usec, bool utc) {
    static constexpr const char* kWeekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    time_t t = static_cast<time_t>(usec / kUsec);
    struct tm tm {};
    if (utc) gmtime_r(&t, &tm);
    else localtime_r(&t, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    std::string out = fmt::format("{} {}", kWeekdays[tm.tm_wday % 7], buf);
    if (with_usec) out += fmt::format(".{:06}", usec % kUsec);
    if (utc) out += " UTC";
    else if (tm.tm_zone && *tm.tm_zone) out += fmt::format(" {}", tm.tm_zone);
    return out;
}

std::string strftime_at(uint64_t usec, const char* format, bool utc) {
    time_t t = static_cast<time_t>(usec / kUsec);
    struct tm tm {};
    if (utc) gmtime_r(&t, &tm);
    else localtime_r(&t, &tm);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, format, &tm);
    return std::string(buf, n);
}

// logs-show.c's print_multiline() without ellipsis: continuation lines indented by `prefix`, a trailing
// newline of the message swallowed, an empty message an empty line.
std::string multiline(std::string_view message, size_t prefix) {
    if (message.empty()) return "\n";
    std::string out;
    size_t pos = 0;
    bool first = true;
    while (pos < message.size()) {
        size_t end = message.find('\n', pos);
        if (end == std::string_view::npos) end = message.size();
        if (!first) out.append(prefix, ' ');
        out.append(message.substr(pos, end - pos));
        out += '\n';
        first = false;
        pos = end + 1;
    }
    return out;
}

bool shall_print(const std::string* v, const JournalFormatFlags& flags) {
    if (!v) return false;
    if (flags.show_all) return true;
    return v->size() < 300 && journal_printable(*v);
}

// The display timestamps: the sender's own (_SOURCE_*) where valid, else the journal's.
struct DisplayTs {
    uint64_t realtime, monotonic;
};
DisplayTs display_timestamps(const JournalEntry& e) {
    auto rt = parse_u64(last_field(e, "_SOURCE_REALTIME_TIMESTAMP"));
    auto mt = parse_u64(last_field(e, "_SOURCE_MONOTONIC_TIMESTAMP"));
    return {rt && valid_realtime(*rt) ? *rt : e.realtime, mt && valid_monotonic(*mt) ? *mt : e.monotonic};
}

std::string timestamp_monotonic(OutputMode mode, const DisplayTs& ts, const JournalEntry& e, JournalFormatState& st) {
    std::string out = fmt::format("[{:5}.{:06}", ts.monotonic / kUsec, ts.monotonic % kUsec);
    if (mode == OutputMode::ShortDelta) {
        uint64_t delta = 0;
        bool reliable = true;
        auto sub = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
        if (st.have_previous && valid_monotonic(st.monotonic) && st.boot_id == e.boot_id) {
            delta = sub(ts.monotonic, st.monotonic);
        } else if (st.have_previous && valid_realtime(ts.realtime) && valid_realtime(st.realtime)) {
            delta = sub(ts.realtime, st.realtime);
            reliable = false;
        } else {
            return out + fmt::format("{:16}]", "");
        }
        out += fmt::format(" <{:5}.{:06}{}>", delta / kUsec, delta % kUsec, reliable ? " " : "*");
    }
    return out + "]";
}

std::string timestamp_realtime(OutputMode mode, uint64_t x, const JournalFormatFlags& flags) {
    switch (mode) {
        case OutputMode::ShortFull:
        case OutputMode::WithUnit:
            return format_timestamp(x, false, flags.utc);
        case OutputMode::ShortUnix:
            return fmt::format("{:10}.{:06}", x / kUsec, x % kUsec);
        case OutputMode::ShortIso:
            return strftime_at(x, "%Y-%m-%dT%H:%M:%S%z", flags.utc);
        case OutputMode::ShortIsoPrecise: {
            std::string s = strftime_at(x, "%Y-%m-%dT%H:%M:%S.xxxxxx%z", flags.utc);
            if (s.size() >= 26) s.replace(20, 6, fmt::format("{:06}", x % kUsec));
            return s;
        }
        case OutputMode::ShortPrecise:
            return strftime_at(x, "%b %d %H:%M:%S", flags.utc) + fmt::format(".{:06}", x % kUsec);
        default:
            return strftime_at(x, "%b %d %H:%M:%S", flags.utc);
    }
}

std::string output_short(const JournalEntry& e, OutputMode mode, JournalFormatState& st, const JournalFormatFlags& flags) {
    // The delta is to the entry before, printed or not (as journalctl: an entry without MESSAGE counts).
    DisplayTs ts = display_timestamps(e);
    JournalFormatState previous = std::exchange(st, JournalFormatState{true, ts.realtime, ts.monotonic, e.boot_id});
    const std::string* message = last_field(e, "MESSAGE");
    if (!message) return "";
    std::string msg = flags.show_all ? *message : strip_tab_ansi(*message);

    std::string out = mode == OutputMode::ShortMonotonic || mode == OutputMode::ShortDelta
                          ? timestamp_monotonic(mode, ts, e, previous)
                          : timestamp_realtime(mode, ts.realtime, flags);
    size_t n = out.size();

    const std::string* hostname = last_field(e, "_HOSTNAME");
    if (shall_print(hostname, flags)) {
        out += " " + *hostname;
        n += hostname->size() + 1;
    }
    const std::string* unit = last_field(e, "_SYSTEMD_UNIT");
    const std::string* user_unit = last_field(e, "_SYSTEMD_USER_UNIT");
    const std::string* identifier = last_field(e, "SYSLOG_IDENTIFIER");
    const std::string* comm = last_field(e, "_COMM");
    if (mode == OutputMode::WithUnit && (shall_print(unit, flags) || shall_print(user_unit, flags))) {
        if (unit) {
            out += " " + *unit;
            n += unit->size() + 1;
        }
        if (user_unit) {
            out += (unit ? "/" : " ") + *user_unit;
            // As systemd counts it (the unit's length once more), for the indent of continuation lines.
            n += (unit ? unit->size() : 0) + 1;
        }
    } else if (shall_print(identifier, flags)) {
        out += " " + *identifier;
        n += identifier->size() + 1;
    } else if (shall_print(comm, flags)) {
        out += " " + *comm;
        n += comm->size() + 1;
    } else {
        out += " unknown";
    }
    const std::string* pid = last_field(e, "_PID");
    const std::string* fake_pid = last_field(e, "SYSLOG_PID");
    if (shall_print(pid, flags)) {
        out += "[" + *pid + "]";
        n += pid->size() + 2;
    } else if (shall_print(fake_pid, flags)) {
        out += "[" + *fake_pid + "]";
        n += fake_pid->size() + 2;
    }
    out += ": ";
    if (!flags.show_all && !journal_printable(msg)) return out + "[" + format_bytes(msg.size()) + " blob data]\n";
    return out + multiline(msg, n + 2);
}

std::string output_verbose(const JournalEntry& e, const JournalFormatFlags& flags) {
    auto rt = parse_u64(first_field(e, "_SOURCE_REALTIME_TIMESTAMP"));
    uint64_t realtime = rt && valid_realtime(*rt) ? *rt : e.realtime;
    std::string out = fmt::format("{} [{}]\n", format_timestamp(realtime, true, flags.utc), e.cursor);
    for (auto& [name, value] : e.fields) {
        std::string data = name + "=" + value;
        if (flags.show_all || journal_printable(data)) {
            out += "    " + name + "=" + multiline(value, 4 + name.size() + 1);
        } else {
            out += fmt::format("    {}=[{} blob data]\n", name, format_bytes(value.size()));
        }
    }
    return out;
}

std::string output_export(const JournalEntry& e) {
    std::string out = fmt::format("__CURSOR={}\n__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID={}\n",
                                  e.cursor, e.realtime, e.monotonic, e.boot_id);
    for (auto& [name, value] : e.fields) {
        if (name == "_BOOT_ID") continue;  // in the header already
        if (journal_printable(name + "=" + value, false)) {
            out += name + "=" + value;
        } else {
            // Binary-safe: the name, a newline, the length as little-endian 64 bit, the bytes.
            out += name + "\n";
            uint64_t len = value.size();
            for (int i = 0; i < 8; i++) out += static_cast<char>((len >> (8 * i)) & 0xff);
            out += value;
        }
        out += '\n';
    }
    return out + "\n";
}

nlohmann::ordered_json json_value(std::string_view name, std::string_view value, const JournalFormatFlags& flags) {
    if (!flags.show_all && name.size() + 1 + value.size() >= kJsonThreshold) return nullptr;
    if (journal_printable(value)) return std::string(value);
    auto bytes = nlohmann::ordered_json::array();
    for (unsigned char c : value) bytes.push_back(c);
    return bytes;
}

// A field that occurs more than once is an array of its values. journalctl 252 orders the keys by a
// per-process hash; ours are the header fields, then the entry's in order of first appearance.
nlohmann::ordered_json entry_json(const JournalEntry& e, const JournalFormatFlags& flags) {
    nlohmann::ordered_json doc = nlohmann::ordered_json::object();
    std::vector<std::string> multi;
    auto add = [&](const std::string& name, std::string_view value) {
        auto v = json_value(name, value, flags);
        if (!doc.contains(name)) {
            doc[name] = std::move(v);
            return;
        }
        auto& slot = doc[name];
        if (std::find(multi.begin(), multi.end(), name) == multi.end()) {
            slot = nlohmann::ordered_json::array({slot});
            multi.push_back(name);
        }
        slot.push_back(std::move(v));
    };
    add("__CURSOR", e.cursor);
    add("__REALTIME_TIMESTAMP", std::to_string(e.realtime));
    add("__MONOTONIC_TIMESTAMP", std::to_string(e.monotonic));
    add("_BOOT_ID", e.boot_id);
    for (auto& [name, value] : e.fields)
        if (name != "_BOOT_ID") add(name, value);
    return doc;
}

}  // namespace

bool journal_printable(std::string_view s, bool allow_newline) {
    for (size_t i = 0; i < s.size();) {
        char32_t c = 0;
        size_t len = utf8_char(s, i, c);
        if (len == 0) return false;
        bool control = (c < ' ' && c != '\t' && c != '\n') || (c >= 0x7f && c <= 0x9f);
        if (control || (!allow_newline && c == '\n')) return false;
        i += len;
    }
    return true;
}

std::string strip_tab_ansi(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        if (c == '\t') {
            out += "        ";
            continue;
        }
        if (c != '\x1b') {
            out += c;
            continue;
        }
        if (i + 1 >= s.size()) {
            out += c;
            break;
        }
        char kind = s[i + 1];
        size_t j = i + 2;
        if (kind == '[') {
            while (j < s.size() && std::string_view("01234567890;").find(s[j]) != std::string_view::npos) j++;
            if (j < s.size() && s[j] == 'm') {
                i = j;  // a colour sequence: dropped
                continue;
            }
            out += "\x1b[";  // anything else stays, and what follows is read again
            i += 1;
        } else if (kind == ']') {
            while (j < s.size() && s[j] != '\a' && static_cast<unsigned char>(s[j]) >= 32 &&
                   static_cast<unsigned char>(s[j]) <= 126)
                j++;
            if (j < s.size() && s[j] == '\a') {
                i = j;
                continue;
            }
            out += "\x1b]";
            i += 1;
        } else {
            out += c;
            out += kind;
            i += 1;
        }
    }
    return out;
}

std::string format_bytes(uint64_t t) {
    static constexpr std::pair<const char*, uint64_t> kTable[] = {
        {"E", uint64_t{1} << 60}, {"P", uint64_t{1} << 50}, {"T", uint64_t{1} << 40},
        {"G", uint64_t{1} << 30}, {"M", uint64_t{1} << 20}, {"K", uint64_t{1} << 10},
    };
    constexpr size_t n = std::size(kTable);
    for (size_t i = 0; i < n; i++) {
        auto [suffix, factor] = kTable[i];
        if (t < factor) continue;
        uint64_t tenth = i != n - 1 ? (t / kTable[i + 1].second * 10 / kTable[n - 1].second) % 10 : (t * 10 / factor) % 10;
        return fmt::format("{}.{}{}", t / factor, tenth, suffix);
    }
    return fmt::format("{}B", t);
}

nlohmann::ordered_json journal_entry_json(const JournalEntry& e, JournalFormatFlags flags) { return entry_json(e, flags); }

std::string format_journal_entry(const JournalEntry& e, OutputMode mode, JournalFormatState& state,
                                 JournalFormatFlags flags) {
    switch (mode) {
        case OutputMode::Verbose:
            return output_verbose(e, flags);
        case OutputMode::Export:
            return output_export(e);
        case OutputMode::Json:
        case OutputMode::JsonPretty:
        case OutputMode::JsonSse:
        case OutputMode::JsonSeq:
            return dump_json(entry_json(e, flags), mode);
        case OutputMode::Cat: {
            // The first MESSAGE, byte for byte.
            const std::string* m = first_field(e, "MESSAGE");
            return m ? *m + "\n" : "";
        }
        default:
            return output_short(e, mode, state, flags);
    }
}

}  // namespace berth::machinectl
