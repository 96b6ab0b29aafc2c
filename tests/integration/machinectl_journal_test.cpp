// machinectl status prints the machine's journal in the -o mode: here our formatter against journalctl
// 252 itself, entry for entry, on a journal the real systemd-journald wrote (tests/fixtures/
// private-journal.sh, in a private mount namespace) and read as machinectl reads a machine's: through a
// directory fd of the root with sd-journal's SD_JOURNAL_OS_ROOT.
#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "machinectl/journal_format.hpp"
#include "machinectl/journal_read.hpp"
#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

using machinectl::JournalEntry;
using machinectl::OutputMode;

class MachinectlJournal : public ::testing::Test {
protected:
    void SetUp() override {
        leak_check_.emplace();
        root_ = make_temp_dir();
        journal_dir_ = root_ + "/run/log/journal";
        ASSERT_TRUE(run("/bin/mkdir", {"-p", journal_dir_}).exited(0));
        auto r = run("/usr/bin/unshare", {"--mount", "--propagation", "private", "sh",
                                          std::string(BERTH_FIXTURES) + "/private-journal.sh", journal_dir_},
                     {.timeout = 60s});
        ASSERT_TRUE(r.exited(0)) << r.describe();
    }
    void TearDown() override {
        remove_tree(root_);
        leak_check_->expect_nothing_left("");
    }

    std::vector<JournalEntry> ours(unsigned lines) const {
        int fd = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        EXPECT_GE(fd, 0);
        auto entries = machinectl::read_journal_tail(fd, lines, 0);
        close(fd);
        EXPECT_TRUE(entries) << entries.error().message;
        return entries ? *entries : std::vector<JournalEntry>{};
    }
    std::string format(const std::vector<JournalEntry>& entries, OutputMode mode, bool all = false) const {
        machinectl::JournalFormatState st;
        std::string out;
        for (auto& e : entries) out += machinectl::format_journal_entry(e, mode, st, {.show_all = all});
        return out;
    }
    // journalctl on the same files; -q: no "-- Boot" separators, which machinectl does not print either.
    std::string journalctl(const std::string& mode, unsigned lines, bool all = false) const {
        std::vector<std::string> args{"-q", "-D", journal_dir_, "-n", std::to_string(lines), "-o", mode};
        if (all) args.push_back("-a");
        auto r = run("/usr/bin/journalctl", args);
        EXPECT_TRUE(r.exited(0)) << r.describe();
        return r.out;
    }

    std::string root_, journal_dir_;
    std::optional<HostLeakCheck> leak_check_;
};

std::vector<nlohmann::json> json_docs(const std::string& text) {
    std::vector<nlohmann::json> docs;
    std::istringstream in(text);
    while ((in >> std::ws).peek() != EOF) {
        nlohmann::json j;
        in >> j;
        docs.push_back(std::move(j));
    }
    return docs;
}

// The JSON modes: journalctl 252 orders an entry's keys by a per-process hash, so the objects are
// compared as objects, and the framing of each mode byte for byte around them.
std::vector<nlohmann::json> unframe(const std::string& text, OutputMode mode) {
    std::string body;
    std::istringstream in(text);
    std::string line;
    if (mode == OutputMode::JsonSse) {
        while (std::getline(in, line)) {
            EXPECT_EQ(line.rfind("data: ", 0), 0u) << line;
            body += line.substr(6) + "\n";
            std::getline(in, line);
            EXPECT_EQ(line, "") << "an empty line after each event";
        }
    } else if (mode == OutputMode::JsonSeq) {
        while (std::getline(in, line)) {
            EXPECT_EQ(line.substr(0, 1), "\x1e") << line;
            body += line.substr(1) + "\n";
        }
    } else {
        body = text;
    }
    return json_docs(body);
}

constexpr unsigned kAll = 1000;

}  // namespace

TEST_F(MachinectlJournal, EveryTextModeIsByteForByteJournalctls) {
    auto entries = ours(kAll);
    ASSERT_GE(entries.size(), 10u) << "the fixture's entries and journald's own";
    for (auto mode : {OutputMode::Short, OutputMode::ShortFull, OutputMode::ShortIso, OutputMode::ShortIsoPrecise,
                      OutputMode::ShortPrecise, OutputMode::ShortMonotonic, OutputMode::ShortDelta,
                      OutputMode::ShortUnix, OutputMode::Verbose, OutputMode::Export, OutputMode::Cat,
                      OutputMode::WithUnit}) {
        std::string name(machinectl::output_mode_name(mode));
        EXPECT_EQ(format(entries, mode), journalctl(name, kAll)) << "-o " << name;
    }
}

TEST_F(MachinectlJournal, ShowAllPrintsWhatShortWouldElideAsJournalctlDoes) {
    auto entries = ours(kAll);
    EXPECT_EQ(format(entries, OutputMode::Short, true), journalctl("short", kAll, true));
    EXPECT_EQ(format(entries, OutputMode::Verbose, true), journalctl("verbose", kAll, true));
}

TEST_F(MachinectlJournal, JsonModesCarryTheSameObjectsInTheSameFraming) {
    auto entries = ours(kAll);
    for (auto mode : {OutputMode::Json, OutputMode::JsonPretty, OutputMode::JsonSse, OutputMode::JsonSeq}) {
        std::string name(machinectl::output_mode_name(mode));
        auto mine = unframe(format(entries, mode), mode);
        auto theirs = unframe(journalctl(name, kAll), mode);
        ASSERT_EQ(mine.size(), theirs.size()) << "-o " << name;
        for (size_t i = 0; i < mine.size(); i++) EXPECT_EQ(mine[i], theirs[i]) << "-o " << name << " entry " << i;
    }
}

TEST_F(MachinectlJournal, LinesAreTheLastOnesAsJournalctlN) {
    auto entries = ours(3);
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(format(entries, OutputMode::ShortIsoPrecise), journalctl("short-iso-precise", 3));
}

TEST_F(MachinectlJournal, EntriesBeforeTheMachineStartedAreLeftOut) {
    auto all = ours(kAll);
    ASSERT_FALSE(all.empty());
    // The last entry's own monotonic time as the start: only entries from then on, of this boot.
    uint64_t start = all.back().monotonic;
    int fd = open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    auto since = machinectl::read_journal_tail(fd, kAll, start);
    close(fd);
    ASSERT_TRUE(since) << since.error().message;
    ASSERT_FALSE(since->empty());
    for (auto& e : *since) EXPECT_GE(e.monotonic, start);
    EXPECT_EQ(since->back().cursor, all.back().cursor);
    EXPECT_LT(since->size(), all.size());
}

}  // namespace berth::test
