// os-release(5): KEY=VALUE lines with shell-style quoting.
#include <gtest/gtest.h>

#include <fcntl.h>

#include "common/fd.hpp"
#include "common/os_release.hpp"
#include "tests/unit/temp_tree.hpp"

using berth::parse_os_release;
using berth::read_os_release_at;

TEST(ParseOsRelease, ReadsAnUnquotedValue) { EXPECT_EQ(parse_os_release("ID=debian\n")["ID"], "debian"); }

TEST(ParseOsRelease, ReadsADoubleQuotedValue) {
    EXPECT_EQ(parse_os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")["PRETTY_NAME"],
              "Debian GNU/Linux 12 (bookworm)");
}

TEST(ParseOsRelease, ReadsASingleQuotedValue) { EXPECT_EQ(parse_os_release("NAME='My OS'\n")["NAME"], "My OS"); }

TEST(ParseOsRelease, ReadsTheLastLineWithoutANewline) { EXPECT_EQ(parse_os_release("ID=debian")["ID"], "debian"); }

TEST(ParseOsRelease, SkipsComments) {
    auto r = parse_os_release("# ID=wrong\nID=debian\n");
    EXPECT_EQ(r["ID"], "debian");
    EXPECT_EQ(r.size(), 1u);
}

TEST(ParseOsRelease, SkipsIndentedComments) {
    auto r = parse_os_release("   # ID=wrong\nID=debian\n");
    EXPECT_EQ(r.size(), 1u);
}

TEST(ParseOsRelease, SkipsBlankLines) {
    auto r = parse_os_release("\n\n   \nID=debian\n\n");
    EXPECT_EQ(r.size(), 1u);
    EXPECT_EQ(r["ID"], "debian");
}

TEST(ParseOsRelease, SkipsLinesWithoutAnEqualsSign) {
    auto r = parse_os_release("garbage\nID=debian\n");
    EXPECT_EQ(r.size(), 1u);
}

TEST(ParseOsRelease, KeepsEqualsSignsInTheValue) { EXPECT_EQ(parse_os_release("A=b=c\n")["A"], "b=c"); }

TEST(ParseOsRelease, ReadsAnEmptyValue) {
    auto r = parse_os_release("VARIANT=\n");
    ASSERT_EQ(r.count("VARIANT"), 1u);
    EXPECT_EQ(r["VARIANT"], "");
}

TEST(ParseOsRelease, ReadsAnEmptyQuotedValue) { EXPECT_EQ(parse_os_release("VARIANT=\"\"\n")["VARIANT"], ""); }

TEST(ParseOsRelease, StripsCarriageReturns) { EXPECT_EQ(parse_os_release("ID=\"debian\"\r\n")["ID"], "debian"); }

TEST(ParseOsRelease, StripsTrailingWhitespaceAfterTheClosingQuote) {
    EXPECT_EQ(parse_os_release("ID=\"debian\"  \t\n")["ID"], "debian");
}

TEST(ParseOsRelease, TheLastAssignmentWins) { EXPECT_EQ(parse_os_release("ID=a\nID=b\n")["ID"], "b"); }

TEST(ParseOsRelease, UnescapesAQuoteInDoubleQuotes) {
    EXPECT_EQ(parse_os_release(R"(NAME="say \"hi\"")")["NAME"], "say \"hi\"");
}

TEST(ParseOsRelease, UnescapesShellSpecialsInDoubleQuotes) {
    EXPECT_EQ(parse_os_release(R"(X="a\\b \$c \`d")")["X"], "a\\b $c `d");
}

// Shell (and systemd's env-file parser): inside double quotes a backslash only escapes " \ $ `;
// before any other character both are kept.
TEST(ParseOsRelease, KeepsABackslashBeforeAnOrdinaryCharacterInDoubleQuotes) {
    EXPECT_EQ(parse_os_release(R"(X="a\nb")")["X"], "a\\nb");
}

TEST(ParseOsRelease, KeepsBackslashesInSingleQuotes) { EXPECT_EQ(parse_os_release(R"(X='a\"b')")["X"], "a\\\"b"); }

TEST(ReadOsReleaseAt, PrefersEtcOverUsrLib) {
    TempTree t;
    t.write("etc/os-release", "ID=etc\n");
    t.write("usr/lib/os-release", "ID=usr\n");
    berth::UniqueFd root(t.open_dir());
    auto r = read_os_release_at(root.get());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ((*r)["ID"], "etc");
}

TEST(ReadOsReleaseAt, FallsBackToUsrLib) {
    TempTree t;
    t.write("usr/lib/os-release", "ID=usr\n");
    berth::UniqueFd root(t.open_dir());
    auto r = read_os_release_at(root.get());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ((*r)["ID"], "usr");
}

TEST(ReadOsReleaseAt, FollowsTheUsualRelativeSymlinkInsideTheImage) {
    TempTree t;
    t.write("usr/lib/os-release", "ID=usr\n");
    t.symlink("../usr/lib/os-release", "etc/os-release");
    berth::UniqueFd root(t.open_dir());
    auto r = read_os_release_at(root.get());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ((*r)["ID"], "usr");
}

TEST(ReadOsReleaseAt, ResolvesAnAbsoluteSymlinkInsideTheImageNotOnTheHost) {
    TempTree t;
    t.write("usr/lib/os-release", "ID=image\n");
    t.symlink("/usr/lib/os-release", "etc/os-release");
    berth::UniqueFd root(t.open_dir());
    auto r = read_os_release_at(root.get());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ((*r)["ID"], "image");
}

TEST(ReadOsReleaseAt, FailsWithENOENTWhenThereIsNone) {
    TempTree t;
    berth::UniqueFd root(t.open_dir());
    auto r = read_os_release_at(root.get());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOENT);
}

// Found by tests/fuzz (fuzz_os_release): "=x" gave an empty key.
TEST(ParseOsRelease, SkipsLinesWhoseKeyIsNoVariableName) {
    auto r = parse_os_release("=novalue\nBAD-KEY=x\n1ID=x\nK\x1b[2J=x\nID=debian\n");
    EXPECT_EQ(r.size(), 1u);
    EXPECT_EQ(r["ID"], "debian");
}

TEST(ParseOsRelease, TrimsBlanksBeforeTheEqualsSign) { EXPECT_EQ(parse_os_release("ID \t=debian\n")["ID"], "debian"); }
