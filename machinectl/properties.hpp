// D-Bus properties as `machinectl show` prints them: systemd's bus_print_property() rules (timestamps,
// yes/no, "infinity" for unlimited resource values, byte arrays in hex, string arrays shell-quoted, no
// text for integer arrays), and as typed JSON values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sdbus-c++/Types.h>

namespace berth::machinectl {

struct Property {
    std::string name;
    std::string signature;
    std::string text;        // as `show` prints it; "" when empty
    nlohmann::ordered_json json;     // typed value
    bool printable = true;   // false for types we have no format for (shown as "[unprintable]" with -a)
};

Property make_property(const std::string& name, const sdbus::Variant& value);

struct ShowFlags {
    std::vector<std::string> filter;  // -p: only these names
    bool value_only = false;          // --value
    bool all = false;                 // -a: empty ones too
};

// KEY=VALUE lines (or VALUE lines with --value), in the order given, each ending in '\n'.
std::string format_properties(const std::vector<Property>& props, const ShowFlags& flags);
nlohmann::ordered_json properties_json(const std::vector<Property>& props, const ShowFlags& flags);

// systemd's FORMAT_TIMESTAMP: "Mon 2026-11-30 22:56:00 UTC" in local time; "" for 0 and UINT64_MAX.
std::string format_timestamp(uint64_t usec);
// systemd's FORMAT_TIMESTAMP_RELATIVE: "5min ago", "1h 3min ago", ...; "" for 0 and UINT64_MAX.
std::string format_timestamp_relative(uint64_t usec, uint64_t now_usec);
uint64_t now_realtime_usec();

// "a b 'c d'": each word quoted for a shell only when it needs it (as systemd's shell_maybe_quote()).
std::string shell_maybe_quote(const std::string& s);

}  // namespace berth::machinectl
