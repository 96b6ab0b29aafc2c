// Object path labels as sd-bus spells them (machine1-api.md).
#include <gtest/gtest.h>

#include "machined/bus_path.hpp"

namespace berth::machined {
namespace {

TEST(MachinedBusPath, EscapesLikeSdBus) {
    EXPECT_EQ(bus_label_escape(".host"), "_2ehost");
    EXPECT_EQ(bus_label_escape("deb-1"), "deb_2d1");
    EXPECT_EQ(bus_label_escape("9x"), "_39x");
    EXPECT_EQ(bus_label_escape(""), "_");
    EXPECT_EQ(bus_label_escape("web"), "web");
    EXPECT_EQ(bus_label_escape("a_b"), "a_5fb");
    EXPECT_EQ(bus_label_escape("\xff"), "_ff");
    EXPECT_EQ(machine_object_path("deb-1"), "/org/freedesktop/machine1/machine/deb_2d1");
}

TEST(MachinedBusPath, UnescapeIsTheInverse) {
    for (const char* name : {".host", "deb-1", "9x", "", "web", "a_b", "x.y-z9"})
        EXPECT_EQ(bus_label_unescape(bus_label_escape(name)), std::optional<std::string>(name)) << name;
}

TEST(MachinedBusPath, UnescapeRefusesOtherSpellings) {
    EXPECT_EQ(bus_label_unescape("_2"), std::nullopt);
    EXPECT_EQ(bus_label_unescape("_zz"), std::nullopt);
    EXPECT_EQ(bus_label_unescape("_61"), std::nullopt);  // "a" is spelled "a"
    EXPECT_EQ(bus_label_unescape("_2Ehost"), std::nullopt);
}

}  // namespace
}  // namespace berth::machined
