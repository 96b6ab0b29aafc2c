// Journal entries formatted as journalctl 252 prints them (integration test MachinectlJournal compares
// with journalctl itself on a real journal); here the rules one by one, on entries made up in the test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

#include "machinectl/journal_format.hpp"

using namespace berth::machinectl;

namespace {

class MachinectlJournalFormat : public ::testing::Test {
protected:
    void SetUp() override {
        const char* tz = std::getenv("TZ");
        saved_tz_ = tz ? std::optional<std::string>(tz) : std::nullopt;
        setenv("TZ", "UTC", 1);
        tzset();
    }
    void TearDown() override {
        if (saved_tz_) setenv("TZ", saved_tz_->c_str(), 1);
        else unsetenv("TZ");
        tzset();
    }
    std::optional<std::string> saved_tz_;
};

// 2026-12-07 04:33:02.254546 UTC, 10.5 s after boot.
JournalEntry entry(std::vector<std::pair<std::string, std::string>> fields) {
    JournalEntry e;
    e.fields = std::move(fields);
    e.cursor = "s=1;i=2";
    e.realtime = 1796617982254546;
    e.monotonic = 10500000;
    e.boot_id = "ad5dc9dd22254732a5fc7576de7a6e4a";
    return e;
}

std::string fmt1(const JournalEntry& e, OutputMode m, JournalFormatFlags f = {}) {
    JournalFormatState st;
    return format_journal_entry(e, m, st, f);
}

const std::vector<std::pair<std::string, std::string>> kHello = {
    {"_HOSTNAME", "web"}, {"SYSLOG_IDENTIFIER", "sshd"}, {"_PID", "42"}, {"_COMM", "sshd"}, {"MESSAGE", "hello"}};

}  // namespace

TEST_F(MachinectlJournalFormat, ShortIsSyslogStyle) {
    EXPECT_EQ(fmt1(entry(kHello), OutputMode::Short), "Dec 07 04:33:02 web sshd[42]: hello\n");
}

TEST_F(MachinectlJournalFormat, ShortTimestampVariants) {
    auto e = entry(kHello);
    EXPECT_EQ(fmt1(e, OutputMode::ShortPrecise), "Dec 07 04:33:02.254546 web sshd[42]: hello\n");
    EXPECT_EQ(fmt1(e, OutputMode::ShortIso), "2026-12-07T04:33:02+0000 web sshd[42]: hello\n");
    EXPECT_EQ(fmt1(e, OutputMode::ShortIsoPrecise), "2026-12-07T04:33:02.254546+0000 web sshd[42]: hello\n");
    EXPECT_EQ(fmt1(e, OutputMode::ShortFull), "Mon 2026-12-07 04:33:02 UTC web sshd[42]: hello\n");
    EXPECT_EQ(fmt1(e, OutputMode::ShortUnix), "1796617982.254546 web sshd[42]: hello\n");
    EXPECT_EQ(fmt1(e, OutputMode::ShortMonotonic), "[   10.500000] web sshd[42]: hello\n");
}

TEST_F(MachinectlJournalFormat, SourceTimestampOfTheSenderWins) {
    auto e = entry(kHello);
    e.fields.emplace_back("_SOURCE_REALTIME_TIMESTAMP", "1796617981000000");
    e.fields.emplace_back("_SOURCE_MONOTONIC_TIMESTAMP", "9000000");
    EXPECT_EQ(fmt1(e, OutputMode::ShortUnix), "1796617981.000000 web sshd[42]: hello\n");
    EXPECT_EQ(fmt1(e, OutputMode::ShortMonotonic), "[    9.000000] web sshd[42]: hello\n");
}

TEST_F(MachinectlJournalFormat, ShortDeltaComparesWithThePreviousEntryOfTheSameBoot) {
    JournalFormatState st;
    auto a = entry(kHello);
    auto b = entry(kHello);
    b.monotonic += 1250000;
    EXPECT_EQ(format_journal_entry(a, OutputMode::ShortDelta, st), "[   10.500000                ] web sshd[42]: hello\n");
    EXPECT_EQ(format_journal_entry(b, OutputMode::ShortDelta, st), "[   11.750000 <    1.250000 >] web sshd[42]: hello\n");
    auto c = entry(kHello);  // another boot: the realtime clock, marked unreliable
    c.boot_id = "00000000000000000000000000000001";
    c.realtime += 2000000;
    EXPECT_EQ(format_journal_entry(c, OutputMode::ShortDelta, st), "[   10.500000 <    2.000000*>] web sshd[42]: hello\n");
}

TEST_F(MachinectlJournalFormat, ShortDeltaCountsEntriesWithoutMessage) {
    JournalFormatState st;
    auto a = entry(kHello);
    auto silent = entry({{"FOO", "bar"}});
    silent.monotonic += 1000000;
    auto b = entry(kHello);
    b.monotonic += 1500000;
    format_journal_entry(a, OutputMode::ShortDelta, st);
    EXPECT_EQ(format_journal_entry(silent, OutputMode::ShortDelta, st), "");
    EXPECT_EQ(format_journal_entry(b, OutputMode::ShortDelta, st), "[   12.000000 <    0.500000 >] web sshd[42]: hello\n");
}

TEST_F(MachinectlJournalFormat, IdentifierFallsBackToCommThenUnknownAndPidToSyslogPid) {
    EXPECT_EQ(fmt1(entry({{"_COMM", "cron"}, {"SYSLOG_PID", "7"}, {"MESSAGE", "m"}}), OutputMode::Short),
              "Dec 07 04:33:02 cron[7]: m\n");
    EXPECT_EQ(fmt1(entry({{"MESSAGE", "m"}}), OutputMode::Short), "Dec 07 04:33:02 unknown: m\n");
}

TEST_F(MachinectlJournalFormat, WithUnitNamesTheUnitInsteadOfTheIdentifier) {
    auto e = entry(kHello);
    e.fields.emplace_back("_SYSTEMD_UNIT", "ssh.service");
    EXPECT_EQ(fmt1(e, OutputMode::WithUnit), "Mon 2026-12-07 04:33:02 UTC web ssh.service[42]: hello\n");
}

TEST_F(MachinectlJournalFormat, ContinuationLinesAlignWithTheMessage) {
    auto e = entry({{"SYSLOG_IDENTIFIER", "x"}, {"MESSAGE", "one\ntwo\n"}});
    EXPECT_EQ(fmt1(e, OutputMode::Short), "Dec 07 04:33:02 x: one\n                   two\n");
}

TEST_F(MachinectlJournalFormat, UnprintableMessagesAreBlobsUnlessShowAll) {
    auto e = entry({{"SYSLOG_IDENTIFIER", "x"}, {"MESSAGE", "bad\xff"}});
    EXPECT_EQ(fmt1(e, OutputMode::Short), "Dec 07 04:33:02 x: [4B blob data]\n");
    EXPECT_EQ(fmt1(e, OutputMode::Short, {.show_all = true}), "Dec 07 04:33:02 x: bad\xff\n");
}

TEST_F(MachinectlJournalFormat, TabsAndColoursAreFlattened) {
    auto e = entry({{"SYSLOG_IDENTIFIER", "x"}, {"MESSAGE", "a\tb \x1b[31mred\x1b[0m"}});
    EXPECT_EQ(fmt1(e, OutputMode::Short), "Dec 07 04:33:02 x: a        b red\n");
}

TEST_F(MachinectlJournalFormat, EntriesWithoutMessageAreSkippedInShortAndCat) {
    auto e = entry({{"SYSLOG_IDENTIFIER", "x"}});
    EXPECT_EQ(fmt1(e, OutputMode::Short), "");
    EXPECT_EQ(fmt1(e, OutputMode::Cat), "");
}

TEST_F(MachinectlJournalFormat, CatIsTheFirstMessageAsItIs) {
    EXPECT_EQ(fmt1(entry({{"MESSAGE", "a\tb"}, {"MESSAGE", "second"}}), OutputMode::Cat), "a\tb\n");
}

TEST_F(MachinectlJournalFormat, VerboseListsEveryFieldUnderTheTimestampAndCursor) {
    auto e = entry({{"MESSAGE", "two\nlines"}, {"BIN", std::string("\x01\x02", 2)}, {"EMPTY", ""}});
    EXPECT_EQ(fmt1(e, OutputMode::Verbose),
              "Mon 2026-12-07 04:33:02.254546 UTC [s=1;i=2]\n"
              "    MESSAGE=two\n"
              "            lines\n"
              "    BIN=[2B blob data]\n"
              "    EMPTY=\n");
}

TEST_F(MachinectlJournalFormat, ExportWritesBinaryFieldsWithTheirLength) {
    auto e = entry({{"_BOOT_ID", "ad5dc9dd22254732a5fc7576de7a6e4a"}, {"MESSAGE", "hi"}, {"DATA", "a\nb"}});
    EXPECT_EQ(fmt1(e, OutputMode::Export),
              "__CURSOR=s=1;i=2\n__REALTIME_TIMESTAMP=1796617982254546\n__MONOTONIC_TIMESTAMP=10500000\n"
              "_BOOT_ID=ad5dc9dd22254732a5fc7576de7a6e4a\nMESSAGE=hi\nDATA\n" +
                  std::string("\x03\0\0\0\0\0\0\0", 8) + "a\nb\n\n");
}

TEST_F(MachinectlJournalFormat, JsonRepeatsAsArraysBytesAsNumbersAndHugeAsNull) {
    auto e = entry({{"MESSAGE", "hi"}, {"TAG", "a"}, {"TAG", "b"}, {"BIN", "\x01"}, {"BIG", std::string(5000, 'x')}});
    EXPECT_EQ(fmt1(e, OutputMode::Json),
              "{\"__CURSOR\":\"s=1;i=2\",\"__REALTIME_TIMESTAMP\":\"1796617982254546\",\"__MONOTONIC_TIMESTAMP\":"
              "\"10500000\",\"_BOOT_ID\":\"ad5dc9dd22254732a5fc7576de7a6e4a\",\"MESSAGE\":\"hi\",\"TAG\":[\"a\",\"b\"],"
              "\"BIN\":[1],\"BIG\":null}\n");
    auto all = journal_entry_json(e, {.show_all = true});
    EXPECT_EQ(all["BIG"], std::string(5000, 'x'));
}

TEST_F(MachinectlJournalFormat, JsonStreamModesFrameEachEntry) {
    auto e = entry({{"MESSAGE", "hi"}});
    std::string line = fmt1(e, OutputMode::Json);
    line.pop_back();
    EXPECT_EQ(fmt1(e, OutputMode::JsonSse), "data: " + line + "\n\n");
    EXPECT_EQ(fmt1(e, OutputMode::JsonSeq), "\x1e" + line + "\n");
    EXPECT_EQ(fmt1(e, OutputMode::JsonPretty).substr(0, 16), "{\n\t\"__CURSOR\" : ");
}

TEST(MachinectlJournalHelpers, FormatBytesAsSystemd) {
    EXPECT_EQ(format_bytes(0), "0B");
    EXPECT_EQ(format_bytes(1023), "1023B");
    EXPECT_EQ(format_bytes(1024), "1.0K");
    EXPECT_EQ(format_bytes(1536), "1.5K");
    EXPECT_EQ(format_bytes(5 * 1024 * 1024 + 300 * 1024), "5.2M");
}

TEST(MachinectlJournalHelpers, PrintableMeansUtf8WithoutControlsButNewlineAndTab) {
    EXPECT_TRUE(journal_printable("ünïcode\tand\nlines"));
    EXPECT_FALSE(journal_printable("a\nb", false));
    EXPECT_FALSE(journal_printable("\x1b[0m"));
    EXPECT_FALSE(journal_printable("\xc2\x9b"));  // C1 CSI
    EXPECT_FALSE(journal_printable("\xc0\xaf"));  // overlong
    EXPECT_FALSE(journal_printable(std::string("a\0b", 3)));
}

TEST(MachinectlJournalHelpers, StripTabAnsiKeepsWhatIsNotAColourOrTitleSequence) {
    EXPECT_EQ(strip_tab_ansi("\x1b]0;title\a ok"), " ok");
    EXPECT_EQ(strip_tab_ansi("\x1b[2J"), "\x1b[2J");
    EXPECT_EQ(strip_tab_ansi("end\x1b"), "end\x1b");
    EXPECT_EQ(strip_tab_ansi("\x1bx"), "\x1bx");
}
