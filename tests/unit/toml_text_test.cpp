// guard_toml_text: the guard in front of toml++ (Debian's 3.3 reaches __builtin_unreachable() when it
// classifies U+00A1..U+0499 or U+FBE6..U+FEFE; found by tests/fuzz, fuzz_settings and fuzz_state_file).
#include <gtest/gtest.h>

#include <toml++/toml.h>

#include "common/toml_text.hpp"

using berth::guard_toml_text;

namespace {

std::string refusal(const std::string& text) {
    auto s = guard_toml_text(text, "settings file x.toml");
    return s.ok() ? "(accepted)" : s.error().message;
}

// The value of key "a" as toml++ reads the guarded text.
std::string value_of_a(const std::string& text) {
    auto g = guard_toml_text(text, "x");
    EXPECT_TRUE(g.ok()) << text;
    if (!g.ok()) return "";
    return toml::parse(*g)["a"].value_or(std::string("(none)"));
}

}  // namespace

TEST(TomlText, BasicStringsKeepTheirValueWithEveryCharacter) {
    EXPECT_EQ(value_of_a("a = \"caf\xc3\xa9 \xc2\xa1 \xd0\x96 \xef\xbb\xbd \xe2\x82\xac\"\n"),
              "caf\xc3\xa9 \xc2\xa1 \xd0\x96 \xef\xbb\xbd \xe2\x82\xac");
    EXPECT_EQ(value_of_a("a = \"\"\"multi\n\xc2\xa1 line\"\"\"\n"), "multi\n\xc2\xa1 line");
    EXPECT_EQ(value_of_a("a = \"quote \\\" then \xc2\xa1\"\n"), "quote \" then \xc2\xa1");
    EXPECT_EQ(value_of_a("a = \"\"\"x\"\"\"\"\nb = \"\xc3\xa9\"\n"), "x\"");
}

TEST(TomlText, OtherPlacesKeepTheirCharacters) {
    EXPECT_EQ(value_of_a("a = '\xe2\x82\xac'\n"), "\xe2\x82\xac");
    EXPECT_EQ(value_of_a("# caf\xc3\xa9\na = \"x\" # \xc2\xa1\n"), "x");
    EXPECT_EQ(value_of_a("a = '''multi\n\xe2\x82\xac'''\n"), "multi\n\xe2\x82\xac");
    auto g = guard_toml_text("t = { k = [\"\xc2\xa1\",\n  \"\xc3\xa9\"] }\n[\"t\xc3\xa9\".x]\n", "x");
    ASSERT_TRUE(g.ok());
    auto doc = toml::parse(*g);
    EXPECT_EQ(doc["t"]["k"][1].value_or(std::string()), "\xc3\xa9");
    EXPECT_TRUE(doc["t\xc3\xa9"]["x"].is_table());
}

TEST(TomlText, RefusesNonAsciiOutsideStringsNamingTheLine) {
    EXPECT_EQ(refusal("a = 1 \xc2\xa1\n"),
              "Invalid settings file x.toml at line 1: a non-ASCII character outside a string or comment");
    EXPECT_NE(refusal("a = 1\n\xe2\x82\xac = 2\n").find("at line 2"), std::string::npos);
}

TEST(TomlText, RefusesAnUnclassifiableCharacterInALiteralString) {
    EXPECT_EQ(refusal("a = 'caf\xc3\xa9'\n"), "Invalid settings file x.toml at line 1: U+00E9 in a 'literal' string: "
                                              "write it as \\u00E9 in a \"basic\" string");
}

TEST(TomlText, TheFuzzersInputsNeverReachToml) {
    // A quote inside a bare token starts no string; toml++ scans the token character by character.
    EXPECT_NE(refusal("I=2JI\\\\\\\\\\\"2JI\\\\\\\\\xc3\xa4").find("outside a string"), std::string::npos);
    EXPECT_NE(refusal(std::string("0=[0\x01O\0\0\0\"1\xef\xb3\xbf({z-", 18)).find("outside a string"), std::string::npos);
    EXPECT_NE(refusal("\"\"\"^\\\xef\xbb\xbd").find("backslash before a non-ASCII"), std::string::npos);
    // toml++ scans "4[..." as one bare value: the string inside it is none, and U+FEBF is escaped, not raw.
    auto g = guard_toml_text("1=[4[\"::::*::8\xef\xba\xbf:1=\"\"\"\"\"\"-\"\"i", "x");
    if (g.ok()) {
        EXPECT_EQ(g->find("\xef\xba\xbf"), std::string::npos);
    }
}

TEST(TomlText, AnUnterminatedStringEndsWithItsLine) {
    EXPECT_NE(refusal("a = \"open\n\xc2\xa1 = 1\n").find("at line 2"), std::string::npos);
}

TEST(TomlText, RefusesInvalidUtf8) {
    EXPECT_EQ(refusal("a = \"\xff\"\n"), "Invalid settings file x.toml: not valid UTF-8");
}
