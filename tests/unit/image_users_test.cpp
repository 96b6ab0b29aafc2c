// Users are looked up in the image's own /etc/passwd and /etc/group, never the host's.
#include <gtest/gtest.h>

#include "common/fd.hpp"
#include "nspawn/image_users.hpp"
#include "tests/unit/temp_tree.hpp"

using berth::UniqueFd;
using berth::nspawn::lookup_user;
using GidList = std::vector<gid_t>;

static const char* kPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh\n"
    "nohome:x:1001:1001::::\n"
    "broken line without fields\n"
    "badid:x:abc:1002::/home/badid:/bin/sh\n";

static const char* kGroup =
    "root:x:0:\n"
    "wheel:x:10:alice,bob\n"
    "audio:x:29:bob\n"
    "video:x:44:carol,alice\n"
    "alice:x:1000:alice\n";

struct Image {
    TempTree tree;
    UniqueFd root;
    explicit Image(bool with_files = true) {
        tree.mkdir("img/etc");
        if (with_files) {
            tree.write("img/etc/passwd", kPasswd);
            tree.write("img/etc/group", kGroup);
        }
        root.reset(tree.open_dir("img"));
    }
};

TEST(LookupUser, FindsANamedUsersIdsHomeAndShell) {
    Image img;
    auto u = lookup_user(img.root.get(), "alice", "web");
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->name, "alice");
    EXPECT_EQ(u->uid, 1000u);
    EXPECT_EQ(u->gid, 1000u);
    EXPECT_EQ(u->home, "/home/alice");
    EXPECT_EQ(u->shell, "/bin/zsh");
}

TEST(LookupUser, FindsAUserByNumericUid) {
    Image img;
    auto u = lookup_user(img.root.get(), "1000", "web");
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->name, "alice");
}

TEST(LookupUser, ReadsRootFromTheImage) {
    Image img;
    auto u = lookup_user(img.root.get(), "root", "web");
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->uid, 0u);
    EXPECT_EQ(u->shell, "/bin/bash");
}

TEST(LookupUser, RootExistsWithoutAPasswdFile) {
    Image img(false);
    auto u = lookup_user(img.root.get(), "root", "web");
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->uid, 0u);
    EXPECT_EQ(u->gid, 0u);
    EXPECT_EQ(u->home, "/root");
    EXPECT_EQ(u->shell, "/bin/sh");
}

TEST(LookupUser, Uid0ExistsWithoutAPasswdFile) {
    Image img(false);
    auto u = lookup_user(img.root.get(), "0", "web");
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->uid, 0u);
}

TEST(LookupUser, AnAbsentUserIsAnErrorNamingUserAndMachine) {
    Image img;
    auto u = lookup_user(img.root.get(), "mallory", "web");
    ASSERT_FALSE(u.ok());
    EXPECT_NE(u.error().message.find("\"mallory\""), std::string::npos) << u.error().message;
    EXPECT_NE(u.error().message.find("\"web\""), std::string::npos) << u.error().message;
}

TEST(LookupUser, AnAbsentUidIsAnError) {
    Image img;
    EXPECT_FALSE(lookup_user(img.root.get(), "4242", "web").ok());
}

TEST(LookupUser, AnEmptyHomeBecomesTheRoot) {
    Image img;
    auto u = lookup_user(img.root.get(), "nohome", "web");
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->home, "/");
}

TEST(LookupUser, AnEmptyShellBecomesBinSh) {
    Image img;
    auto u = lookup_user(img.root.get(), "nohome", "web");
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->shell, "/bin/sh");
}

TEST(LookupUser, SkipsLinesWithABadUid) {
    Image img;
    EXPECT_FALSE(lookup_user(img.root.get(), "badid", "web").ok());
}

TEST(LookupUser, CollectsSupplementaryGroupsFromTheImage) {
    Image img;
    auto u = lookup_user(img.root.get(), "alice", "web");
    ASSERT_TRUE(u.ok()) << u.error().message;
    EXPECT_EQ(u->groups, (GidList{10, 44}));
}

TEST(LookupUser, DoesNotListThePrimaryGroupAsSupplementary) {
    Image img;
    auto u = lookup_user(img.root.get(), "alice", "web");
    ASSERT_TRUE(u.ok()) << u.error().message;
    for (auto g : u->groups) EXPECT_NE(g, 1000u);
}

TEST(LookupUser, NeverReadsTheHostsPasswd) {
    // The host has a "daemon" user; an image whose /etc/passwd points at the host's must not see it.
    Image img(false);
    img.tree.symlink("/../../../../etc/passwd", "img/etc/passwd");
    EXPECT_FALSE(lookup_user(img.root.get(), "daemon", "web").ok());
}
