// Journal entries as journalctl 252 prints them, mode by mode (`-o short`, `verbose`, `json`, ...), for the
// machine's own journal under `machinectl status`. Output is never ellipsized and never coloured (what
// journalctl does when its output is not a terminal); -a (show_all) prints unprintable fields too.
// Pure: the entry comes in as data (journal_read.hpp reads it), so that it is testable without a journal.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "machinectl/output_mode.hpp"

namespace berth::machinectl {

struct JournalEntry {
    std::vector<std::pair<std::string, std::string>> fields;  // NAME, value (any bytes), in the entry's order
    std::string cursor;
    uint64_t realtime = 0;   // __REALTIME_TIMESTAMP, µs
    uint64_t monotonic = 0;  // __MONOTONIC_TIMESTAMP, µs, of boot_id
    std::string boot_id;     // 32 hex digits
};

// What the short-delta mode compares with: the entry printed before.
struct JournalFormatState {
    bool have_previous = false;
    uint64_t realtime = 0, monotonic = 0;
    std::string boot_id;
};

struct JournalFormatFlags {
    bool show_all = false;  // -a: unprintable and long fields as they are
    bool utc = false;       // timestamps in UTC instead of local time
};

// One entry in `mode`; "" for an entry the mode skips (short and cat without MESSAGE).
std::string format_journal_entry(const JournalEntry& e, OutputMode mode, JournalFormatState& state,
                                 JournalFormatFlags flags = {});

// The entry as journalctl's JSON modes give it (one object; a field that occurs more than once is an
// array of its values, unprintable values arrays of bytes, values of 4096 bytes and more null unless -a).
nlohmann::ordered_json journal_entry_json(const JournalEntry& e, JournalFormatFlags flags = {});

// systemd's utf8_is_printable(): well-formed UTF-8 without control characters but newline and tab.
bool journal_printable(std::string_view s, bool allow_newline = true);
// systemd's strip_tab_ansi(): TAB as 8 spaces, colour (ESC [ ... m) and OSC (ESC ] ... BEL) sequences out.
std::string strip_tab_ansi(std::string_view s);
// systemd's FORMAT_BYTES: "21B", "4.0K", "1.5M".
std::string format_bytes(uint64_t n);

}  // namespace berth::machinectl
