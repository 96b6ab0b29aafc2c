// The pieces of the plan that parse one option value: --bind, --tmpfs, --overlay, --console.
#include <linux/mount.h>

#include <gtest/gtest.h>

#include "nspawn/plan.hpp"
#include "tests/unit/temp_tree.hpp"

using berth::nspawn::ConsoleMode;
using berth::nspawn::parse_bind;
using berth::nspawn::parse_console;
using berth::nspawn::parse_overlay;
using berth::nspawn::parse_tmpfs;
using Strings = std::vector<std::string>;

static bool mentions(const berth::Error& e, const std::string& what) {
    return e.message.find(what) != std::string::npos;
}

// --- --bind / --bind-ro ---

TEST(ParseBind, SourceAloneIsAlsoTheDestination) {
    TempTree t;
    auto src = t.mkdir("src");
    auto b = parse_bind(src, false);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(b->source, src);
    EXPECT_EQ(b->destination, src);
}

TEST(ParseBind, DefaultsToRecursiveAndWritable) {
    TempTree t;
    auto b = parse_bind(t.mkdir("src"), false);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_TRUE(b->recursive);
    EXPECT_FALSE(b->read_only);
}

TEST(ParseBind, BindRoIsReadOnly) {
    TempTree t;
    auto b = parse_bind(t.mkdir("src"), true);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_TRUE(b->read_only);
}

TEST(ParseBind, SourceColonDestination) {
    TempTree t;
    auto src = t.mkdir("src");
    auto b = parse_bind(src + ":/mnt/data", false);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(b->source, src);
    EXPECT_EQ(b->destination, "/mnt/data");
}

TEST(ParseBind, NorbindMakesItNonRecursive) {
    TempTree t;
    auto b = parse_bind(t.mkdir("src") + ":/mnt:norbind", false);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_FALSE(b->recursive);
}

TEST(ParseBind, RbindIsRecursive) {
    TempTree t;
    auto b = parse_bind(t.mkdir("src") + ":/mnt:rbind", false);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_TRUE(b->recursive);
}

TEST(ParseBind, AnEmptyDestinationWithOptionsMeansTheSourcePath) {
    TempTree t;
    auto src = t.mkdir("src");
    auto b = parse_bind(src + "::norbind", false);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(b->destination, src);
    EXPECT_FALSE(b->recursive);
}

TEST(ParseBind, EscapedColonInTheSource) {
    TempTree t;
    auto src = t.mkdir("a:b");
    auto b = parse_bind(t.path() + "/a\\:b:/mnt", false);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(b->source, src);
    EXPECT_EQ(b->destination, "/mnt");
}

TEST(ParseBind, EscapedColonInTheDestination) {
    TempTree t;
    auto b = parse_bind(t.mkdir("src") + ":/mnt/a\\:b", false);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(b->destination, "/mnt/a:b");
}

TEST(ParseBind, NormalizesBothPaths) {
    TempTree t;
    auto src = t.mkdir("src");
    auto b = parse_bind(t.path() + "//./src/:/mnt//data/.", false);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(b->source, src);
    EXPECT_EQ(b->destination, "/mnt/data");
}

TEST(ParseBind, AcceptsAFileAsSource) {
    TempTree t;
    auto f = t.write("file", "x");
    auto b = parse_bind(f + ":/etc/file", true);
    ASSERT_TRUE(b.ok()) << b.error().message;
    EXPECT_EQ(b->source, f);
}

TEST(ParseBind, RefusesARelativeSource) {
    auto b = parse_bind("relative/src:/mnt", false);
    ASSERT_FALSE(b.ok());
    EXPECT_TRUE(mentions(b.error(), "relative/src")) << b.error().message;
}

TEST(ParseBind, RefusesARelativeDestination) {
    TempTree t;
    auto b = parse_bind(t.mkdir("src") + ":mnt", false);
    ASSERT_FALSE(b.ok());
    EXPECT_TRUE(mentions(b.error(), "\"mnt\"")) << b.error().message;
}

TEST(ParseBind, RefusesDotDotInTheSource) {
    TempTree t;
    t.mkdir("src");
    auto b = parse_bind(t.path() + "/src/..:/mnt", false);
    ASSERT_FALSE(b.ok());
    EXPECT_TRUE(mentions(b.error(), "..")) << b.error().message;
}

TEST(ParseBind, RefusesDotDotInTheDestination) {
    TempTree t;
    auto b = parse_bind(t.mkdir("src") + ":/mnt/../etc", false);
    ASSERT_FALSE(b.ok());
    EXPECT_TRUE(mentions(b.error(), "/mnt/../etc")) << b.error().message;
}

TEST(ParseBind, RefusesAMissingSourceNamingIt) {
    TempTree t;
    auto b = parse_bind(t / "missing", false);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error().code, ENOENT);
    EXPECT_TRUE(mentions(b.error(), t / "missing")) << b.error().message;
}

TEST(ParseBind, RefusesAnUnknownOptionNamingIt) {
    TempTree t;
    auto b = parse_bind(t.mkdir("src") + ":/mnt:bogus", false);
    ASSERT_FALSE(b.ok());
    EXPECT_TRUE(mentions(b.error(), "\"bogus\"")) << b.error().message;
}

TEST(ParseBind, RefusesTooManyColons) {
    TempTree t;
    EXPECT_FALSE(parse_bind(t.mkdir("src") + ":/mnt:norbind:extra", false).ok());
}

TEST(ParseBind, RefusesBindingOverTheRoot) {
    TempTree t;
    EXPECT_FALSE(parse_bind(t.mkdir("src") + ":/", false).ok());
}

TEST(ParseBind, RefusesAnEmptySpec) { EXPECT_FALSE(parse_bind("", false).ok()); }

// --- --tmpfs ---

TEST(ParseTmpfs, DefaultsToMode0755) {
    auto t = parse_tmpfs("/var/tmp");
    ASSERT_TRUE(t.ok()) << t.error().message;
    EXPECT_EQ(t->destination, "/var/tmp");
    EXPECT_EQ(t->options, "mode=0755");
}

TEST(ParseTmpfs, TakesOptionsAfterTheColon) {
    auto t = parse_tmpfs("/var/tmp:mode=0700,size=10M");
    ASSERT_TRUE(t.ok()) << t.error().message;
    EXPECT_EQ(t->destination, "/var/tmp");
    EXPECT_EQ(t->options, "mode=0700,size=10M");
}

TEST(ParseTmpfs, MountFlagsBecomeAttributesNotParameters) {
    auto t = parse_tmpfs("/mnt:size=50%,noexec,nosuid,ro,nr_inodes=10k,uid=1000,gid=1000");
    ASSERT_TRUE(t.ok()) << t.error().message;
    EXPECT_EQ(t->options, "size=50%,nr_inodes=10k,uid=1000,gid=1000");
    EXPECT_EQ(t->attrs, unsigned{MOUNT_ATTR_NOEXEC | MOUNT_ATTR_RDONLY});
    EXPECT_EQ(parse_tmpfs("/mnt:ro,rw,noexec,exec").value().attrs, 0u);
}

TEST(ParseTmpfs, EveryBadOptionIsRefusedNamingIt) {
    for (const char* bad : {"mode=0800", "mode=rwx", "mode=", "mode=017777", "size=10Q", "size=", "size=0%",
                            "size=101%", "nr_inodes=5%", "uid=-1", "uid=4294967295", "gid=x", "huge=always",
                            "suid", "dev", "frobnicate"}) {
        auto t = parse_tmpfs(std::string("/mnt:") + bad);
        ASSERT_FALSE(t.ok()) << bad;
        EXPECT_NE(t.error().message.find(std::string("Invalid --tmpfs \"/mnt:") + bad + "\""), std::string::npos)
            << t.error().message;
        std::string name = std::string(bad).substr(0, std::string(bad).find('='));
        EXPECT_NE(t.error().message.find(name), std::string::npos) << t.error().message;
    }
}

TEST(ParseTmpfs, NormalizesThePath) { EXPECT_EQ(parse_tmpfs("/var//tmp/").value().destination, "/var/tmp"); }

TEST(ParseTmpfs, DoesNotNeedTheHostPathToExist) { EXPECT_TRUE(parse_tmpfs("/no/such/host/dir").ok()); }

// systemd-nspawn(1): "Backslash escapes are interpreted in the path, so "\:" may be used to embed colons".
TEST(ParseTmpfs, EscapedColonInThePath) {
    auto t = parse_tmpfs("/mnt/a\\:b");
    ASSERT_TRUE(t.ok()) << t.error().message;
    EXPECT_EQ(t->destination, "/mnt/a:b");
    EXPECT_EQ(t->options, "mode=0755");
}

TEST(ParseTmpfs, RefusesARelativePath) { EXPECT_FALSE(parse_tmpfs("var/tmp").ok()); }

TEST(ParseTmpfs, RefusesDotDot) { EXPECT_FALSE(parse_tmpfs("/var/../etc").ok()); }

TEST(ParseTmpfs, RefusesTheRoot) { EXPECT_FALSE(parse_tmpfs("/").ok()); }

// --- --overlay / --overlay-ro ---

TEST(ParseOverlay, TheLastPathIsTheDestinationAndTheSecondToLastTheUpper) {
    TempTree t;
    auto lower = t.mkdir("lower"), upper = t.mkdir("upper");
    auto o = parse_overlay(lower + ":" + upper + ":/srv", false);
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->destination, "/srv");
    EXPECT_EQ(o->upper, upper);
    EXPECT_EQ(o->lowers, Strings{lower});
    EXPECT_FALSE(o->read_only);
}

TEST(ParseOverlay, LowersAreListedLowestFirst) {
    TempTree t;
    auto l1 = t.mkdir("l1"), l2 = t.mkdir("l2"), up = t.mkdir("up");
    auto o = parse_overlay(l1 + ":" + l2 + ":" + up + ":/srv", false);
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->lowers, (Strings{l1, l2}));
    EXPECT_EQ(o->upper, up);
}

TEST(ParseOverlay, ReadOnlyHasNoUpperAndEveryLayerIsALower) {
    TempTree t;
    auto l1 = t.mkdir("l1"), l2 = t.mkdir("l2");
    auto o = parse_overlay(l1 + ":" + l2 + ":/srv", true);
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->lowers, (Strings{l1, l2}));
    EXPECT_EQ(o->upper, "");
    EXPECT_TRUE(o->read_only);
    EXPECT_EQ(o->destination, "/srv");
}

// systemd-nspawn(1): "If only two paths are specified, then the second specified path is used both as the
// top-level directory tree in the stacking order as seen from the host, as well as the mount point".
TEST(ParseOverlay, WithTwoPathsTheSecondIsBothTheHostUpperAndTheDestination) {
    TempTree t;
    auto lower = t.mkdir("lower"), top = t.mkdir("top");
    auto o = parse_overlay(lower + ":" + top, false);
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->lowers, Strings{lower});
    EXPECT_EQ(o->upper, top);
    EXPECT_EQ(o->destination, top);
}

TEST(ParseOverlay, ReadOnlyWithTwoPathsStacksTheSecondOnTopOfTheFirst) {
    TempTree t;
    auto lower = t.mkdir("lower"), top = t.mkdir("top");
    auto o = parse_overlay(lower + ":" + top, true);
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->lowers, (Strings{lower, top}));
    EXPECT_EQ(o->destination, top);
}

// Whatever the two-path reading, a writable overlay always has at least one lower layer under its upper.
TEST(ParseOverlay, AWritableOverlayAlwaysHasALowerLayer) {
    TempTree t;
    auto o = parse_overlay(t.mkdir("a") + ":" + t.mkdir("b"), false);
    if (o.ok()) {
        EXPECT_FALSE(o->lowers.empty()) << "upper=" << o->upper << " destination=" << o->destination;
        EXPECT_FALSE(o->upper.empty());
    }
}

TEST(ParseOverlay, EscapedColonInALayer) {
    TempTree t;
    auto lower = t.mkdir("a:b"), upper = t.mkdir("up");
    auto o = parse_overlay(t.path() + "/a\\:b:" + upper + ":/srv", false);
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->lowers, Strings{lower});
}

TEST(ParseOverlay, RefusesASinglePath) {
    TempTree t;
    EXPECT_FALSE(parse_overlay(t.mkdir("a"), false).ok());
    EXPECT_FALSE(parse_overlay(t.mkdir("b"), true).ok());
}

TEST(ParseOverlay, RefusesARelativeLayer) {
    TempTree t;
    EXPECT_FALSE(parse_overlay("lower:" + t.mkdir("up") + ":/srv", false).ok());
}

TEST(ParseOverlay, RefusesAMissingLayerNamingIt) {
    TempTree t;
    auto o = parse_overlay(t / "missing" + ":" + t.mkdir("up") + ":/srv", false);
    ASSERT_FALSE(o.ok());
    EXPECT_TRUE(mentions(o.error(), t / "missing")) << o.error().message;
}

TEST(ParseOverlay, RefusesARelativeDestination) {
    TempTree t;
    EXPECT_FALSE(parse_overlay(t.mkdir("l") + ":" + t.mkdir("u") + ":srv", false).ok());
}

TEST(ParseOverlay, RefusesDotDotInTheDestination) {
    TempTree t;
    EXPECT_FALSE(parse_overlay(t.mkdir("l") + ":" + t.mkdir("u") + ":/srv/../etc", false).ok());
}

TEST(ParseOverlay, RefusesOverlayingTheRoot) {
    TempTree t;
    EXPECT_FALSE(parse_overlay(t.mkdir("l") + ":" + t.mkdir("u") + ":/", false).ok());
}

// --- --console ---

TEST(ParseConsole, KnowsTheFourModes) {
    EXPECT_EQ(parse_console("interactive").value(), ConsoleMode::Interactive);
    EXPECT_EQ(parse_console("read-only").value(), ConsoleMode::ReadOnly);
    EXPECT_EQ(parse_console("passive").value(), ConsoleMode::Passive);
    EXPECT_EQ(parse_console("pipe").value(), ConsoleMode::Pipe);
}

TEST(ParseConsole, RefusesAnythingElseNamingIt) {
    auto r = parse_console("tty");
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(mentions(r.error(), "\"tty\"")) << r.error().message;
    EXPECT_FALSE(parse_console("").ok());
    EXPECT_FALSE(parse_console("Pipe").ok());
}
