// Guest-controlled text on the administrator's terminal: escape_untrusted, quote_untrusted, to_valid_utf8;
// and overlayfs layer paths, escaped for the kernels that take all layers in one option.
#include "common/escape.hpp"
#include "common/mount_api.hpp"

#include <gtest/gtest.h>

#include <string>

namespace berth {
namespace {

TEST(EscapeUntrusted, KeepsPrintableAsciiAndUtf8) {
    EXPECT_EQ(escape_untrusted("Debian GNU/Linux 12 (bookworm)"), "Debian GNU/Linux 12 (bookworm)");
    EXPECT_EQ(escape_untrusted("caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x90\xa7"), "caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x90\xa7");
}

TEST(EscapeUntrusted, EscapesControlCharactersAndEscapeSequences) {
    EXPECT_EQ(escape_untrusted("a\x1b]0;pwned\x07z"), "a\\x1b]0;pwned\\x07z");
    EXPECT_EQ(escape_untrusted("\x1b[2J\r\n\t\x7f"), "\\x1b[2J\\x0d\\x0a\\x09\\x7f");
    EXPECT_EQ(escape_untrusted("back\\slash"), "back\\\\slash");
}

TEST(EscapeUntrusted, EscapesC1ControlsRawOrInUtf8) {
    EXPECT_EQ(escape_untrusted("\x9b" "31m"), "\\x9b31m");
    EXPECT_EQ(escape_untrusted("\xc2\x9b" "31m"), "\\xc2\\x9b31m");
    EXPECT_EQ(escape_untrusted("\xc2\xa0"), "\xc2\xa0") << "U+00A0 is the first printable one";
}

TEST(EscapeUntrusted, EscapesMalformedUtf8) {
    EXPECT_EQ(escape_untrusted("\xc3"), "\\xc3") << "truncated";
    EXPECT_EQ(escape_untrusted("\xc0\xaf"), "\\xc0\\xaf") << "overlong";
    EXPECT_EQ(escape_untrusted("\xe0\x80\xaf"), "\\xe0\\x80\\xaf") << "overlong";
    EXPECT_EQ(escape_untrusted("\xed\xa0\x80"), "\\xed\\xa0\\x80") << "surrogate";
    EXPECT_EQ(escape_untrusted("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80") << "past U+10FFFF";
    EXPECT_EQ(escape_untrusted("\xff"), "\\xff");
}

TEST(QuoteUntrusted, QuotesAndEscapes) {
    EXPECT_EQ(quote_untrusted("a\nb"), "\"a\\x0ab\"");
    EXPECT_EQ(quote_untrusted("say \"hi\""), "\"say \\\"hi\\\"\"");
    EXPECT_EQ(quote_untrusted(""), "\"\"");
}

TEST(QuoteUntrusted, CutsLongTextAndSaysHowMuchWasLeftOut) {
    EXPECT_EQ(quote_untrusted(std::string(100000, 'x'), 8), "\"xxxxxxxx\"... (99992 more bytes)");
    EXPECT_EQ(quote_untrusted(std::string(8, 'x'), 8), "\"xxxxxxxx\"");
}

TEST(QuoteUntrusted, NeverCutsInsideAUtf8Sequence) {
    EXPECT_EQ(quote_untrusted("ab\xc3\xa9z", 3), "\"ab\"... (3 more bytes)");
}

TEST(ToValidUtf8, ReplacesOnlyMalformedBytes) {
    EXPECT_EQ(to_valid_utf8("ok \xc3\xa9 \x1b"), "ok \xc3\xa9 \x1b");
    EXPECT_EQ(to_valid_utf8("a\x9b" "b"), "a\xef\xbf\xbd" "b");
    EXPECT_EQ(to_valid_utf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(to_valid_utf8("\xc2\x9b"), "\xc2\x9b") << "valid UTF-8 (a C1 control), escaped only on output";
}

TEST(OverlayEscape, EscapesWhatOverlayfsSplitsOnOrUnescapes) {
    EXPECT_EQ(overlay_escape("/var/lib/machines/x:etc"), "/var/lib/machines/x\\:etc");
    EXPECT_EQ(overlay_escape("/a,b\\c"), "/a\\,b\\\\c");
    EXPECT_EQ(overlay_escape("/plain/path"), "/plain/path");
}

}  // namespace
}  // namespace berth
