// The image verbs: list-images, image-status, show-image, clone, rename, read-only, remove, set-limit,
// clean; org.freedesktop.machine1's image methods, printed as systemd 252's machinectl prints them
// (tests/data/systemd-252-images.sh, systemd-252-limits-clean.sh), errors in one line naming the image.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <tuple>

#include <fmt/format.h>

#include "common/escape.hpp"
#include "machinectl/bus.hpp"
#include "machinectl/journal_format.hpp"
#include "machinectl/output_json.hpp"
#include "machinectl/output_mode.hpp"
#include "machinectl/output_table.hpp"
#include "machinectl/properties.hpp"
#include "machinectl/verbs.hpp"

namespace berth::machinectl {

namespace {

constexpr uint64_t kUnknown = std::numeric_limits<uint64_t>::max();
constexpr const char* kImageIface = "org.freedesktop.machine1.Image";

using ImageRow = sdbus::Struct<std::string, std::string, bool, uint64_t, uint64_t, uint64_t, sdbus::ObjectPath>;

void print(const std::string& s) { fmt::print("{}", s); }

std::string timestamp_cell(uint64_t usec) { return usec == 0 || usec == kUnknown ? "" : format_timestamp(usec); }

// systemd's parse_size with base 1024: digits, an optional fraction, one optional suffix (B, K, M, G,
// T, P, E); "none"/"infinity" (no limit). Nothing else: no sign, no exponent, no hex.
Result<uint64_t> parse_limit(const std::string& text) {
    if (text == "none" || text == "infinity") return kUnknown;
    auto bad = [&] {
        return plain_error(fmt::format("Failed to parse size {}: a number of bytes, with K, M, G, T, P or E "
                                       "(powers of 1024), or \"none\"",
                                       quote_arg(text)));
    };
    size_t i = 0;
    unsigned __int128 whole = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        whole = whole * 10 + static_cast<unsigned>(text[i++] - '0');
        if (whole > UINT64_MAX) return plain_error(fmt::format("Size {} is too large", quote_arg(text)));
    }
    if (i == 0) return bad();
    // The fraction, to 9 digits (billionths).
    unsigned __int128 frac = 0, scale = 1;
    if (i < text.size() && text[i] == '.') {
        i++;
        size_t digits = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            if (digits++ < 9) frac = frac * 10 + static_cast<unsigned>(text[i] - '0'), scale *= 10;
            i++;
        }
        if (digits == 0) return bad();
    }
    std::string suffix = text.substr(i);
    static constexpr std::pair<const char*, int> kUnits[] = {{"", 0}, {"B", 0}, {"K", 1}, {"M", 2},
                                                             {"G", 3}, {"T", 4}, {"P", 5}, {"E", 6}};
    int power = -1;
    for (auto& [unit, p] : kUnits)
        if (suffix == unit) power = p;
    if (power < 0) return bad();
    unsigned __int128 factor = 1;
    for (int k = 0; k < power; k++) factor *= 1024;
    unsigned __int128 bytes = whole * factor + frac * factor / scale;
    if (bytes > UINT64_MAX) return plain_error(fmt::format("Size {} is too large", quote_arg(text)));
    return static_cast<uint64_t>(bytes);
}

Result<bool> parse_bool(const std::string& text) {
    for (auto* yes : {"1", "yes", "y", "true", "t", "on"})
        if (text == yes) return true;
    for (auto* no : {"0", "no", "n", "false", "f", "off"})
        if (text == no) return false;
    return plain_error(fmt::format("Failed to parse {}: yes or no", quote_arg(text)));
}

Result<std::string> image_path(Bus& bus, const std::string& name) {
    auto path = bus.call_returning<sdbus::ObjectPath>(kManagerIface, "GetImage", name);
    if (!path.ok()) return plain_error(fmt::format("Could not get image {}: {}", quote_arg(name), path.error().message));
    return std::string(*path);
}

uint64_t property_u64(const std::vector<Property>& props, const char* name) {
    for (auto& p : props)
        if (p.name == name && p.json.is_number_unsigned()) return p.json.get<uint64_t>();
    return kUnknown;
}
std::string property_string(const std::vector<Property>& props, const char* name) {
    for (auto& p : props)
        if (p.name == name && p.json.is_string()) return p.json.get<std::string>();
    return "";
}
bool property_bool(const std::vector<Property>& props, const char* name) {
    for (auto& p : props)
        if (p.name == name && p.json.is_boolean()) return p.json.get<bool>();
    return false;
}

// "Usage: 1.0M" or "Usage: 1.0M (exclusive: 4.0K)"; nothing when unknown.
std::string size_line(const char* label, uint64_t all, uint64_t exclusive) {
    if (all == kUnknown) return "";
    if (exclusive != all && exclusive != kUnknown)
        return fmt::format("\t   {}: {} (exclusive: {})\n", label, format_bytes(all), format_bytes(exclusive));
    return fmt::format("\t   {}: {}\n", label, format_bytes(all));
}

std::string image_status(Bus& bus, const std::string& name, const std::vector<Property>& props) {
    std::string out = property_string(props, "Name") + "\n";
    out += fmt::format("\t    Type: {}\n", property_string(props, "Type"));
    out += fmt::format("\t    Path: {}\n", property_string(props, "Path"));
    // What the image says of itself, where it can tell (raw images cannot yet): as systemd, silently
    // nothing otherwise.
    if (auto host = bus.call_returning<std::string>(kManagerIface, "GetImageHostname", name); host.ok() && !host->empty())
        out += fmt::format("\tHostname: {}\n", escape_untrusted(*host));
    if (auto id = bus.call_returning<std::vector<uint8_t>>(kManagerIface, "GetImageMachineID", name);
        id.ok() && id->size() == 16) {
        std::string hex;
        for (uint8_t b : *id) hex += fmt::format("{:02x}", b);
        out += fmt::format("      Machine ID: {}\n", hex);
    }
    using Pairs = std::map<std::string, std::string>;
    if (auto info = bus.call_returning<Pairs>(kManagerIface, "GetImageMachineInfo", name); info.ok()) {
        if (auto it = info->find("DEPLOYMENT"); it != info->end())
            out += fmt::format("      Deployment: {}\n", escape_untrusted(it->second));
    }
    if (auto os = bus.call_returning<Pairs>(kManagerIface, "GetImageOSRelease", name); os.ok()) {
        auto it = os->find("PRETTY_NAME");
        if (it != os->end() && !it->second.empty()) out += fmt::format("\t      OS: {}\n", escape_untrusted(it->second));
    }
    out += fmt::format("\t      RO: {}\n", property_bool(props, "ReadOnly") ? "read-only" : "writable");
    uint64_t now = now_realtime_usec();
    for (auto [label, key] : {std::pair{" Created", "CreationTimestamp"}, {"Modified", "ModificationTimestamp"}}) {
        uint64_t t = property_u64(props, key);
        if (t != 0 && t != kUnknown)
            out += fmt::format("\t{}: {}; {}\n", label, format_timestamp(t), format_timestamp_relative(t, now));
    }
    out += size_line("Usage", property_u64(props, "Usage"), property_u64(props, "UsageExclusive"));
    out += size_line("Limit", property_u64(props, "Limit"), property_u64(props, "LimitExclusive"));
    return out;
}

}  // namespace

Status verb_list_images(Bus& bus, const Options& o) {
    BERTH_ASSIGN_CTX(auto images, bus.call_returning<std::vector<ImageRow>>(kManagerIface, "ListImages"),
                     "Could not list images");
    std::vector<ImageRow> shown;
    for (auto& row : images)
        if (o.all || row.get<0>().empty() || row.get<0>()[0] != '.') shown.push_back(row);
    std::sort(shown.begin(), shown.end(), [](const ImageRow& a, const ImageRow& b) { return a.get<0>() < b.get<0>(); });
    if (output_mode_is_json(o.output)) {
        auto array = nlohmann::ordered_json::array();
        for (auto& r : shown) {
            nlohmann::ordered_json obj;
            obj["name"] = r.get<0>();
            obj["type"] = r.get<1>();
            obj["ro"] = r.get<2>();
            obj["usage"] = r.get<5>() == kUnknown ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.get<5>());
            obj["created"] = r.get<3>();
            obj["modified"] = r.get<4>();
            array.push_back(std::move(obj));
        }
        print(dump_json(array, o.output));
        return {};
    }
    Table table({"name", "type", "ro", "usage", "created", "modified"});
    table.align_right(3);
    table.blank_when_empty(3);
    for (auto& r : shown)
        table.add_row({r.get<0>(), r.get<1>(), std::string(r.get<2>() ? "yes" : "no"),
                       r.get<5>() == kUnknown ? Cell{} : Cell{format_bytes(r.get<5>())}, timestamp_cell(r.get<3>()),
                       timestamp_cell(r.get<4>())});
    if (table.rows() > 0) print(table.render(o.legend, 0));
    if (o.legend) print(table.rows() > 0 ? fmt::format("\n{} images listed.\n", table.rows()) : "No images.\n");
    return {};
}

Status verb_image_status(Bus& bus, const Options& o) {
    if (o.args.empty()) {
        // The pool, as systemd's machinectl shows it.
        BERTH_ASSIGN_CTX(auto props, bus.properties(kManagerPath, kManagerIface), "Could not get the pool's properties");
        std::string out = fmt::format("\t    Path: {}\n", property_string(props, "PoolPath"));
        out += size_line("Usage", property_u64(props, "PoolUsage"), kUnknown);
        out += size_line("Limit", property_u64(props, "PoolLimit"), kUnknown);
        print(out);
        return {};
    }
    bool first = true;
    for (auto& name : o.args) {
        BERTH_ASSIGN(auto path, image_path(bus, name));
        BERTH_ASSIGN_CTX(auto props, bus.properties(path, kImageIface), "Could not get image {}", quote_arg(name));
        if (!first) print("\n");
        first = false;
        print(image_status(bus, name, props));
    }
    return {};
}

Status verb_show_image(Bus& bus, const Options& o) {
    ShowPrinter printer(o);
    auto emit = [&](const std::vector<Property>& props) { printer.emit(props); };
    if (o.args.empty()) {
        BERTH_ASSIGN_CTX(auto props, bus.properties(kManagerPath, kManagerIface), "Could not get the pool's properties");
        emit(props);
    }
    for (auto& name : o.args) {
        BERTH_ASSIGN(auto path, image_path(bus, name));
        BERTH_ASSIGN_CTX(auto props, bus.properties(path, kImageIface), "Could not get image {}", quote_arg(name));
        emit(props);
    }
    return {};
}

Status verb_clone(Bus& bus, const Options& o) {
    BERTH_TRY_CTX(bus.call_unbounded(kManagerIface, "CloneImage", o.args[0], o.args[1], o.read_only),
                  "Could not clone image {} to {}", quote_arg(o.args[0]), quote_arg(o.args[1]));
    return {};
}

Status verb_rename(Bus& bus, const Options& o) {
    BERTH_TRY_CTX(bus.call_unbounded(kManagerIface, "RenameImage", o.args[0], o.args[1]),
                  "Could not rename image {} to {}", quote_arg(o.args[0]), quote_arg(o.args[1]));
    return {};
}

Status verb_read_only(Bus& bus, const Options& o) {
    bool read_only = true;
    if (o.args.size() > 1) {
        BERTH_ASSIGN(read_only, parse_bool(o.args[1]));
    }
    BERTH_TRY_CTX(bus.call_unbounded(kManagerIface, "MarkImageReadOnly", o.args[0], read_only),
                  "Could not mark image {} {}", quote_arg(o.args[0]), read_only ? "read-only" : "writable");
    return {};
}

Status verb_remove(Bus& bus, const Options& o) {
    for (auto& name : o.args)
        BERTH_TRY_CTX(bus.call_unbounded(kManagerIface, "RemoveImage", name), "Could not remove image {}", quote_arg(name));
    return {};
}

Status verb_set_limit(Bus& bus, const Options& o) {
    BERTH_ASSIGN(uint64_t limit, parse_limit(o.args.back()));
    if (o.args.size() == 1) {
        BERTH_TRY_CTX(bus.call_unbounded(kManagerIface, "SetPoolLimit", limit), "Could not limit the pool");
        return {};
    }
    BERTH_TRY_CTX(bus.call_unbounded(kManagerIface, "SetImageLimit", o.args[0], limit), "Could not limit image {}",
                  quote_arg(o.args[0]));
    return {};
}

Status verb_clean(Bus& bus, const Options& o) {
    using Removed = std::vector<sdbus::Struct<std::string, uint64_t>>;
    BERTH_ASSIGN_CTX(auto removed, bus.call_returning_unbounded<Removed>(kManagerIface, "CleanPool",
                                                                          std::string(o.all ? "all" : "hidden")),
                     "Could not clean the pool");
    uint64_t total = 0;
    bool known = true;
    std::string out;
    for (auto& r : removed) {
        const std::string& name = r.get<0>();
        uint64_t freed = r.get<1>();
        if (freed == kUnknown) {
            known = false;
            out += fmt::format("Removed image {}.\n", quote_arg(name));
        } else {
            total += freed;
            out += fmt::format("Removed image {}. Freed exclusive disk space: {}\n", quote_arg(name), format_bytes(freed));
        }
    }
    if (known) out += fmt::format("Removed {} images in total. Total freed exclusive disk space: {}.\n", removed.size(),
                                  format_bytes(total));
    else out += fmt::format("Removed {} images in total.\n", removed.size());
    if (!o.quiet) print(out);
    return {};
}

}  // namespace berth::machinectl
