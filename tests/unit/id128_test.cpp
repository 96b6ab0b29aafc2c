// 128-bit ids: machine id and container uuid, as 32 hex digits or the dashed UUID form.
#include <gtest/gtest.h>

#include "common/id128.hpp"

using berth::Id128;
using berth::id128_is_null;
using berth::id128_to_hex;
using berth::id128_to_uuid;
using berth::parse_id128;
using berth::random_id128;

static const Id128 kSample = {0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78,
                              0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0};

TEST(ParseId128, Accepts32HexDigits) {
    auto r = parse_id128("0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, kSample);
}

TEST(ParseId128, AcceptsTheDashedUuidForm) {
    auto r = parse_id128("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, kSample);
}

TEST(ParseId128, AcceptsUppercaseHex) {
    auto r = parse_id128("0F1E2D3C4B5A69788796A5B4C3D2E1F0");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, kSample);
}

TEST(ParseId128, RefusesTheEmptyString) { EXPECT_FALSE(parse_id128("").ok()); }

TEST(ParseId128, RefusesTooFewDigits) { EXPECT_FALSE(parse_id128("0f1e2d3c4b5a69788796a5b4c3d2e1f").ok()); }

TEST(ParseId128, RefusesTooManyDigits) { EXPECT_FALSE(parse_id128("0f1e2d3c4b5a69788796a5b4c3d2e1f00").ok()); }

TEST(ParseId128, RefusesATrailingNewline) { EXPECT_FALSE(parse_id128("0f1e2d3c4b5a69788796a5b4c3d2e1f0\n").ok()); }

TEST(ParseId128, RefusesNonHexDigits) { EXPECT_FALSE(parse_id128("0f1e2d3c4b5a69788796a5b4c3d2e1fg").ok()); }

TEST(ParseId128, RefusesDashesInTheWrongPlaces) {
    EXPECT_FALSE(parse_id128("0f1e2d3c4-b5a-6978-8796-a5b4c3d2e1f0").ok());
}

TEST(ParseId128, RefusesAUuidWithADashMissing) {
    EXPECT_FALSE(parse_id128("0f1e2d3c-4b5a-6978-8796a5b4c3d2e1f0").ok());
}

TEST(ParseId128, RefusesDashesInThe32DigitForm) { EXPECT_FALSE(parse_id128("0f1e2d3c-4b5a69788796a5b4c3d2e1f").ok()); }

TEST(ParseId128, ErrorNamesTheText) {
    auto r = parse_id128("nope");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("\"nope\""), std::string::npos) << r.error().message;
}

TEST(Id128ToHex, Gives32LowercaseDigits) { EXPECT_EQ(id128_to_hex(kSample), "0f1e2d3c4b5a69788796a5b4c3d2e1f0"); }

TEST(Id128ToUuid, Gives8_4_4_4_12) { EXPECT_EQ(id128_to_uuid(kSample), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"); }

TEST(Id128ToHex, RoundTripsThroughParse) { EXPECT_EQ(parse_id128(id128_to_hex(kSample)).value(), kSample); }

TEST(Id128ToUuid, RoundTripsThroughParse) { EXPECT_EQ(parse_id128(id128_to_uuid(kSample)).value(), kSample); }

TEST(Id128IsNull, IsTrueOnlyForAllZeros) {
    EXPECT_TRUE(id128_is_null(Id128{}));
    EXPECT_FALSE(id128_is_null(kSample));
    Id128 last{};
    last[15] = 1;
    EXPECT_FALSE(id128_is_null(last));
}

TEST(RandomId128, IsNotNull) { EXPECT_FALSE(id128_is_null(random_id128())); }

TEST(RandomId128, IsAVersion4Uuid) {
    for (int i = 0; i < 100; i++) {
        auto id = random_id128();
        EXPECT_EQ(id[6] >> 4, 4) << id128_to_uuid(id);
    }
}

TEST(RandomId128, HasTheRfc4122Variant) {
    for (int i = 0; i < 100; i++) {
        auto id = random_id128();
        EXPECT_EQ(id[8] & 0xC0, 0x80) << id128_to_uuid(id);
    }
}

TEST(RandomId128, DiffersEachTime) { EXPECT_NE(random_id128(), random_id128()); }
