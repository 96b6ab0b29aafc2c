// Signal names as systemd spells them: "SIGRTMIN+3", "RTMIN+3", "TERM", "15".
#include <gtest/gtest.h>

#include <csignal>

#include "common/signals.hpp"

using berth::parse_signal;
using berth::signal_name;

static int parsed(const char* text) {
    auto r = parse_signal(text);
    return r.ok() ? *r : -1;
}

TEST(ParseSignal, AcceptsSigrtminPlusN) { EXPECT_EQ(parsed("SIGRTMIN+3"), SIGRTMIN + 3); }

TEST(ParseSignal, AcceptsRtminPlusNWithoutSig) { EXPECT_EQ(parsed("RTMIN+3"), SIGRTMIN + 3); }

TEST(ParseSignal, AcceptsBareSigrtmin) { EXPECT_EQ(parsed("SIGRTMIN"), SIGRTMIN); }

TEST(ParseSignal, AcceptsRtmaxMinusN) {
    EXPECT_EQ(parsed("SIGRTMAX"), SIGRTMAX);
    EXPECT_EQ(parsed("RTMAX-2"), SIGRTMAX - 2);
}

TEST(ParseSignal, AcceptsANameWithoutSig) { EXPECT_EQ(parsed("TERM"), SIGTERM); }

TEST(ParseSignal, AcceptsANameWithSig) { EXPECT_EQ(parsed("SIGKILL"), SIGKILL); }

TEST(ParseSignal, AcceptsANumber) { EXPECT_EQ(parsed("15"), 15); }

TEST(ParseSignal, AcceptsTheHighestRealtimeSignalByNumber) { EXPECT_EQ(parsed(std::to_string(SIGRTMAX).c_str()), SIGRTMAX); }

TEST(ParseSignal, AcceptsTheCommonStopSignals) {
    EXPECT_EQ(parsed("SIGINT"), SIGINT);
    EXPECT_EQ(parsed("HUP"), SIGHUP);
    EXPECT_EQ(parsed("SIGPWR"), SIGPWR);
}

TEST(ParseSignal, RefusesTheEmptyString) { EXPECT_FALSE(parse_signal("").ok()); }

TEST(ParseSignal, RefusesBareSig) { EXPECT_FALSE(parse_signal("SIG").ok()); }

TEST(ParseSignal, RefusesAnUnknownName) {
    EXPECT_FALSE(parse_signal("FOO").ok());
    EXPECT_FALSE(parse_signal("SIGFOO").ok());
}

TEST(ParseSignal, IsCaseSensitiveLikeSystemd) { EXPECT_FALSE(parse_signal("term").ok()); }

TEST(ParseSignal, RefusesZero) { EXPECT_FALSE(parse_signal("0").ok()); }

TEST(ParseSignal, RefusesANegativeNumber) { EXPECT_FALSE(parse_signal("-1").ok()); }

TEST(ParseSignal, RefusesANumberAboveSigrtmax) {
    EXPECT_FALSE(parse_signal(std::to_string(SIGRTMAX + 1)).ok());
    EXPECT_FALSE(parse_signal("99999999999999999999").ok());
}

TEST(ParseSignal, RefusesSigFollowedByANumber) { EXPECT_FALSE(parse_signal("SIG15").ok()); }

TEST(ParseSignal, RefusesSurroundingWhitespace) {
    EXPECT_FALSE(parse_signal(" 15").ok());
    EXPECT_FALSE(parse_signal("15 ").ok());
    EXPECT_FALSE(parse_signal("TERM\n").ok());
}

TEST(ParseSignal, RefusesTrailingGarbageAfterANumber) { EXPECT_FALSE(parse_signal("15x").ok()); }

TEST(ParseSignal, RefusesRtminWithAnEmptyOffset) { EXPECT_FALSE(parse_signal("RTMIN+").ok()); }

TEST(ParseSignal, RefusesRtminWithANonNumericOffset) { EXPECT_FALSE(parse_signal("RTMIN+x").ok()); }

TEST(ParseSignal, RefusesRtminMinusN) { EXPECT_FALSE(parse_signal("RTMIN-3").ok()); }

TEST(ParseSignal, RefusesRtmaxPlusN) { EXPECT_FALSE(parse_signal("RTMAX+1").ok()); }

TEST(ParseSignal, RefusesRtminPlusNBeyondRtmax) {
    EXPECT_FALSE(parse_signal("RTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN + 1)).ok());
}

// systemd's signal_from_string(): the offset must be 0..(SIGRTMAX-SIGRTMIN); a negative one is not a realtime signal.
TEST(ParseSignal, RefusesRtminWithANegativeOffset) { EXPECT_FALSE(parse_signal("RTMIN+-1").ok()); }

TEST(ParseSignal, RefusesRtmaxMinusNBelowRtmin) {
    EXPECT_FALSE(parse_signal("RTMAX-" + std::to_string(SIGRTMAX - SIGRTMIN + 1)).ok());
}

TEST(ParseSignal, ErrorNamesTheText) {
    auto r = parse_signal("BOGUS");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("\"BOGUS\""), std::string::npos) << r.error().message;
}

TEST(SignalName, SpellsClassicSignalsWithSig) {
    EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
    EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
}

TEST(SignalName, SpellsRealtimeSignalsRelativeToSigrtmin) { EXPECT_EQ(signal_name(SIGRTMIN + 3), "SIGRTMIN+3"); }

TEST(SignalName, RoundTripsThroughParseSignalForEverySignal) {
    for (int sig = 1; sig <= SIGRTMAX; sig++) {
        auto r = parse_signal(signal_name(sig));
        ASSERT_TRUE(r.ok()) << sig << " " << signal_name(sig) << ": " << r.error().message;
        EXPECT_EQ(*r, sig) << signal_name(sig);
    }
}
