#include "machinectl/journal_read.hpp"

#include <systemd/sd-journal.h>

#include <cstdlib>
#include <memory>

namespace berth::machinectl {

namespace {

struct JournalCloser {
    void operator()(sd_journal* j) const { sd_journal_close(j); }
};

std::string id_hex(sd_id128_t id) {
    char buf[SD_ID128_STRING_MAX];
    return sd_id128_to_string(id, buf);
}

// The current entry; false when it cannot be read (systemd skips those too).
bool read_entry(sd_journal* j, JournalEntry& e) {
    const void* data = nullptr;
    size_t len = 0;
    int r;
    sd_journal_restart_data(j);
    while ((r = sd_journal_enumerate_data(j, &data, &len)) > 0) {
        std::string_view field(static_cast<const char*>(data), len);
        auto eq = field.find('=');
        if (eq == std::string_view::npos) continue;
        e.fields.emplace_back(std::string(field.substr(0, eq)), std::string(field.substr(eq + 1)));
    }
    if (r < 0) return false;
    char* cursor = nullptr;
    if (sd_journal_get_cursor(j, &cursor) < 0) return false;
    e.cursor = cursor;
    std::free(cursor);
    sd_id128_t boot{};
    if (sd_journal_get_realtime_usec(j, &e.realtime) < 0 || sd_journal_get_monotonic_usec(j, &e.monotonic, &boot) < 0)
        return false;
    e.boot_id = id_hex(boot);
    return true;
}

}  // namespace

Result<std::vector<JournalEntry>> read_journal_tail(int root_fd, unsigned lines, uint64_t not_before) {
    std::vector<JournalEntry> out;
    if (lines == 0) return out;
    sd_journal* raw = nullptr;
    int r = sd_journal_open_directory_fd(&raw, root_fd, SD_JOURNAL_OS_ROOT);
    if (r < 0) return sys_error(-r, "Failed to open the journal");
    std::unique_ptr<sd_journal, JournalCloser> j(raw);
    // Every field whole: the formats decide what to print of long ones.
    sd_journal_set_data_threshold(j.get(), 0);
    if ((r = sd_journal_seek_tail(j.get())) < 0) return sys_error(-r, "Failed to seek to the end of the journal");
    if ((r = sd_journal_previous_skip(j.get(), lines)) < 0) return sys_error(-r, "Failed to read the journal");
    for (bool first = true;; first = false) {
        if (!first && (r = sd_journal_next(j.get())) < 0) return sys_error(-r, "Failed to read the journal");
        if (r == 0) break;
        if (not_before > 0) {
            uint64_t usec = 0;
            // -ESTALE: an entry of another boot.
            if (sd_journal_get_monotonic_usec(j.get(), &usec, nullptr) < 0 || usec < not_before) continue;
        }
        JournalEntry e;
        if (read_entry(j.get(), e)) out.push_back(std::move(e));
    }
    return out;
}

}  // namespace berth::machinectl
