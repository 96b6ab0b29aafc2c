// Machine names follow hostname rules, as systemd's machine_name_is_valid() does.
#include <gtest/gtest.h>

#include <string>

#include "common/machine_name.hpp"

using berth::check_machine_name;
using berth::kMachineNameMax;
using berth::machine_name_from_path;
using berth::machine_name_is_valid;

TEST(MachineName, AcceptsASimpleName) { EXPECT_TRUE(machine_name_is_valid("web")); }

TEST(MachineName, AcceptsLettersDigitsAndDashes) { EXPECT_TRUE(machine_name_is_valid("Web-01-a")); }

// systemd's hostname rules (letters, digits, hyphens): systemd-nspawn -M a_b says "Invalid machine name".
TEST(MachineName, RefusesAnUnderscoreLikeSystemd) { EXPECT_FALSE(machine_name_is_valid("web_01")); }

TEST(MachineName, AcceptsADigitFirst) { EXPECT_TRUE(machine_name_is_valid("01web")); }

TEST(MachineName, AcceptsDotSeparatedLabels) { EXPECT_TRUE(machine_name_is_valid("web.example.com")); }

TEST(MachineName, AcceptsExactly64Bytes) {
    EXPECT_TRUE(machine_name_is_valid(std::string(kMachineNameMax, 'a')));
}

TEST(MachineName, RefusesMoreThan64Bytes) {
    EXPECT_FALSE(machine_name_is_valid(std::string(kMachineNameMax + 1, 'a')));
}

TEST(MachineName, RefusesTheEmptyName) { EXPECT_FALSE(machine_name_is_valid("")); }

TEST(MachineName, RefusesDot) { EXPECT_FALSE(machine_name_is_valid(".")); }

TEST(MachineName, RefusesDotDot) { EXPECT_FALSE(machine_name_is_valid("..")); }

TEST(MachineName, RefusesALeadingDash) { EXPECT_FALSE(machine_name_is_valid("-web")); }

TEST(MachineName, RefusesALabelStartingWithADash) { EXPECT_FALSE(machine_name_is_valid("web.-x")); }

// Hostname rules (RFC 1123, systemd's hostname_is_valid()): a label ends with a letter or digit.
TEST(MachineName, RefusesATrailingDash) { EXPECT_FALSE(machine_name_is_valid("web-")); }

TEST(MachineName, RefusesALabelEndingWithADash) { EXPECT_FALSE(machine_name_is_valid("web-.example")); }

TEST(MachineName, RefusesALeadingDot) { EXPECT_FALSE(machine_name_is_valid(".web")); }

TEST(MachineName, RefusesATrailingDot) { EXPECT_FALSE(machine_name_is_valid("web.")); }

TEST(MachineName, RefusesAnEmptyLabel) { EXPECT_FALSE(machine_name_is_valid("web..example")); }

TEST(MachineName, RefusesASlash) {
    EXPECT_FALSE(machine_name_is_valid("a/b"));
    EXPECT_FALSE(machine_name_is_valid("/"));
    EXPECT_FALSE(machine_name_is_valid("../etc"));
}

TEST(MachineName, RefusesUtf8Letters) { EXPECT_FALSE(machine_name_is_valid("caf\xc3\xa9")); }

TEST(MachineName, RefusesBytesAbove0x7f) { EXPECT_FALSE(machine_name_is_valid("web\xff")); }

TEST(MachineName, RefusesWhitespaceAndControlCharacters) {
    EXPECT_FALSE(machine_name_is_valid("my web"));
    EXPECT_FALSE(machine_name_is_valid("web\n"));
    EXPECT_FALSE(machine_name_is_valid("web\t1"));
}

TEST(MachineName, RefusesAnEmbeddedNulByte) {
    EXPECT_FALSE(machine_name_is_valid(std::string_view("web\0x", 5)));
}

TEST(MachineName, RefusesShellAndPathPunctuation) {
    for (const char* n : {"a:b", "a*b", "a$b", "a;b", "a\\b", "a@b", "a~b"})
        EXPECT_FALSE(machine_name_is_valid(n)) << n;
}

TEST(CheckMachineName, ExplainsAnEmptyName) {
    auto r = check_machine_name("");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("empty"), std::string::npos) << r.error().message;
}

TEST(CheckMachineName, NamesTheRefusedNameInItsMessage) {
    auto r = check_machine_name("a/b");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("\"a/b\""), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().code, EINVAL);
}

TEST(CheckMachineName, SaysWhenANameIsTooLong) {
    auto r = check_machine_name(std::string(100, 'a'));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("64"), std::string::npos) << r.error().message;
}

TEST(CheckMachineName, AgreesWithMachineNameIsValid) {
    for (const char* n : {"web", "", ".", "..", "-x", "a.b", "a..b", "a/b", "x_y"})
        EXPECT_EQ(check_machine_name(n).ok(), machine_name_is_valid(n)) << n;
}

TEST(MachineNameFromPath, TakesTheBasename) { EXPECT_EQ(machine_name_from_path("/var/lib/machines/web"), "web"); }

TEST(MachineNameFromPath, IgnoresTrailingSlashes) { EXPECT_EQ(machine_name_from_path("/srv/web//"), "web"); }

TEST(MachineNameFromPath, AcceptsARelativePath) { EXPECT_EQ(machine_name_from_path("web"), "web"); }

TEST(MachineNameFromPath, KeepsDots) { EXPECT_EQ(machine_name_from_path("/srv/debian.12"), "debian.12"); }

TEST(MachineNameFromPath, TurnsInvalidBytesIntoDashes) {
    EXPECT_EQ(machine_name_from_path("/srv/my image"), "my-image");
    EXPECT_EQ(machine_name_from_path("/srv/a:b"), "a-b");
}

TEST(MachineNameFromPath, DropsLeadingDotsAndDashes) {
    EXPECT_EQ(machine_name_from_path("/srv/.hidden"), "hidden");
    EXPECT_EQ(machine_name_from_path("/srv/--x"), "x");
}

TEST(MachineNameFromPath, DropsTrailingDashesLeftByUtf8) {
    EXPECT_EQ(machine_name_from_path("/srv/caf\xc3\xa9"), "caf");
}

TEST(MachineNameFromPath, CutsALongBasenameTo64BytesAndStaysValid) {
    auto n = machine_name_from_path("/srv/" + std::string(100, 'a'));
    EXPECT_EQ(n.size(), kMachineNameMax);
    EXPECT_TRUE(machine_name_is_valid(n));
}

TEST(MachineNameFromPath, ReturnsEmptyForTheRootDirectory) { EXPECT_EQ(machine_name_from_path("/"), ""); }

TEST(MachineNameFromPath, ReturnsEmptyWhenNothingUsableIsLeft) {
    EXPECT_EQ(machine_name_from_path("/srv/..."), "");
    EXPECT_EQ(machine_name_from_path("/srv/\xc3\xa9"), "");
    EXPECT_EQ(machine_name_from_path(""), "");
}

TEST(MachineNameFromPath, AlwaysReturnsAValidNameOrNothing) {
    for (const char* p : {"/srv/a.-b", "/srv/a..b", "/srv/x-.y", "/srv/ -a", "/srv/a b.c d", "/srv/.", "/srv/.."}) {
        auto n = machine_name_from_path(p);
        EXPECT_TRUE(n.empty() || machine_name_is_valid(n)) << p << " -> " << n;
    }
}
