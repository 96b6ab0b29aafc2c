// What the user asks to have mounted: --read-only, --bind/--bind-ro, --tmpfs, --overlay/--overlay-ro, -x.
#include <sys/mount.h>
#include <sys/stat.h>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class Mounts : public BusyboxTest {
protected:
    // A host directory with one file in it, for binds and overlays.
    std::string host_dir(const std::string& name, const std::string& file = "", const std::string& text = "") {
        std::string d = tmp_ + "/" + name;
        make_dirs(d);
        if (!file.empty()) write_file(d + "/" + file, text);
        return d;
    }
};

// A tmpfs mounted on the host for the length of one test (to have a submount below a bind source).
struct HostTmpfs {
    std::string where;
    explicit HostTmpfs(std::string w) : where(std::move(w)) {
        make_dirs(where);
        if (::mount("tmpfs", where.c_str(), "tmpfs", 0, "size=1m") != 0) where.clear();
    }
    ~HostTmpfs() {
        if (!where.empty()) ::umount2(where.c_str(), MNT_DETACH);
    }
};

TEST_F(Mounts, ReadOnlyRootRejectsWrites) {
    auto before = tree_snapshot(root_);
    auto r = sh("touch /newfile", {"--read-only"});
    EXPECT_TRUE(r.exited(1)) << "touch must run and fail: " << r.describe();
    EXPECT_EQ(tree_snapshot(root_), before);
}

TEST_F(Mounts, ReadOnlyRootStillHasWritableTmp) {
    auto r = sh("echo x > /tmp/ok && echo x > /run/ok", {"--read-only"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

TEST_F(Mounts, ReadOnlyRootTakesBindsOnItsExistingDirectories) {
    auto src = host_dir("ro-src");
    write_file(src + "/hello", "hi\n");
    auto before = tree_snapshot(root_);
    auto r = sh("cat /mnt/hello", {"--read-only", "--bind-ro=" + src + ":/mnt"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "hi\n");
    EXPECT_EQ(tree_snapshot(root_), before);
}

// A read-only image is never written to, not even for a mount point: the bind is refused instead.
TEST_F(Mounts, ReadOnlyRootRefusesABindWhoseMountPointIsMissing) {
    auto src = host_dir("ro-src");
    auto before = tree_snapshot(root_);
    auto r = sh("true", {"--read-only", "--bind-ro=" + src + ":/missing"});
    EXPECT_TRUE(refused_with(r, "/missing"));
    EXPECT_EQ(tree_snapshot(root_), before);
}

// idmap: the machine's root writes as the owner of the host directory (root), not as its shifted UID.
TEST_F(Mounts, BindMakesWritesVisibleOnHost) {
    auto src = host_dir("shared");
    auto r = sh("echo hello > " + src + "/written", {"--bind=" + src + ":" + src + ":idmap"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(src + "/written"), "hello\n");
}

TEST_F(Mounts, BindToOtherDestination) {
    auto src = host_dir("shared", "from-host", "host\n");
    auto r = sh("cat /data/from-host && echo guest > /data/from-guest", {"--bind=" + src + ":/data:idmap"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "host\n");
    EXPECT_EQ(read_file(src + "/from-guest"), "guest\n");
}

TEST_F(Mounts, BindRoRejectsWrites) {
    auto src = host_dir("shared", "from-host", "host\n");
    auto r = sh("cat /data/from-host; touch /data/from-guest", {"--bind-ro=" + src + ":/data"});
    EXPECT_TRUE(r.exited(1)) << "touch must run and fail: " << r.describe();
    EXPECT_EQ(r.out, "host\n");
    EXPECT_FALSE(exists(src + "/from-guest"));
}

TEST_F(Mounts, BindIsRecursiveByDefault) {
    auto src = host_dir("shared");
    HostTmpfs sub(src + "/sub");
    ASSERT_FALSE(sub.where.empty());
    write_file(src + "/sub/marker", "sub\n");
    auto r = sh("cat /data/sub/marker", {"--bind=" + src + ":/data"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "sub\n");
}

TEST_F(Mounts, BindNorbindLeavesOutSubmounts) {
    auto src = host_dir("shared");
    HostTmpfs sub(src + "/sub");
    ASSERT_FALSE(sub.where.empty());
    write_file(src + "/sub/marker", "sub\n");
    auto r = sh("test -d /data/sub && test ! -e /data/sub/marker", {"--bind=" + src + ":/data:norbind"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

// Bind sources are opened with host root's rights (as systemd-nspawn -U does): under a directory only
// root may enter (/root is 0700) the machine, whose root is not host root, still gets them, and then
// reads and writes them as their own permissions allow it.
TEST_F(Mounts, BindsOfFilesAndDirectoriesUnderARootOnlyDirectoryWork) {
    auto priv = host_dir("root-only");
    ASSERT_EQ(::chmod(priv.c_str(), 0700), 0);
    auto dir = host_dir("root-only/dir", "in-dir", "dir\n");
    auto shared = host_dir("root-only/shared");
    write_file(priv + "/file", "file\n");
    write_file(priv + "/file-rw", "");
    auto r = sh("cat /data/in-dir /etc/from-file && echo guest > /shared/written && echo rw > /etc/file-rw && "
                "touch /data/refused",
                {"--bind-ro=" + dir + ":/data", "--bind-ro=" + priv + "/file:/etc/from-file",
                 "--bind=" + shared + ":/shared:idmap", "--bind=" + priv + "/file-rw:/etc/file-rw:idmap"});
    EXPECT_TRUE(r.exited(1)) << "the read-only bind must refuse the last write: " << r.describe();
    EXPECT_EQ(r.out, "dir\nfile\n");
    EXPECT_EQ(read_file(shared + "/written"), "guest\n");
    EXPECT_EQ(read_file(priv + "/file-rw"), "rw\n");
    EXPECT_FALSE(exists(dir + "/refused"));
}

// The guest's own permissions still hold through such a bind: a host root's 0600 file is not its to read.
TEST_F(Mounts, BindUnderARootOnlyDirectoryKeepsTheSourcesOwnPermissions) {
    auto priv = host_dir("root-only");
    ASSERT_EQ(::chmod(priv.c_str(), 0700), 0);
    auto pub = host_dir("root-only/pub", "open", "open\n");
    write_file(pub + "/secret", "secret\n");
    ASSERT_EQ(::chmod((pub + "/secret").c_str(), 0600), 0);
    auto r = sh("ls /data; cat /data/open; cat /data/secret; echo status=$?", {"--bind-ro=" + pub + ":/data"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "open\nsecret\nopen\nstatus=1\n") << "the machine's root is not host root";
}

// An image's own path with ':' in it (a symlink to /x:etc) must stay one layer: joined into overlayfs's
// "lowerdir" unescaped, it became the layers "<image>/x" and "etc", which is the host's /etc.
TEST_F(Mounts, ImageLayerPathWithAColonStaysOneLayer) {
    make_dirs(root_ + "/x:etc");
    write_file(root_ + "/x:etc/marker", "image\n");
    ASSERT_EQ(::symlink("/x:etc", (root_ + "/srv").c_str()), 0);
    auto lower = host_dir("lower", "from-host", "host\n");
    auto r = sh("ls /data", {"--overlay-ro=+/srv:" + lower + ":/data"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "from-host\nmarker\n") << "not the image's layer and ours alone";
}

// Host layer paths with an escaped ':' (and ',' or '\\' in them) reach overlayfs whole.
TEST_F(Mounts, HostLayerPathsWithColonsCommasAndBackslashesWork) {
    auto odd = host_dir("a:b,c\\d", "odd", "odd\n");
    auto lower = host_dir("lower", "from-host", "host\n");
    std::string escaped;
    for (char c : odd) escaped += c == ':' ? std::string("\\:") : std::string(1, c);
    auto r = sh("ls /data", {"--overlay-ro=" + escaped + ":" + lower + ":/data"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "from-host\nodd\n");
}

TEST_F(Mounts, TmpfsIsATmpfs) {
    auto r = sh("awk '$2 == \"/mnt\" { print $3 }' /proc/mounts", {"--tmpfs=/mnt"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "tmpfs\n");
}

// tmpfs's parameters reach the kernel, the mount flags become the mount's flags (nosuid and nodev always).
TEST_F(Mounts, TmpfsOptionsAndFlagsTakeEffect) {
    auto r = sh("awk '$2 == \"/mnt\" { print $4 }' /proc/mounts; stat -c %a /mnt",
                {"--tmpfs=/mnt:mode=0711,size=2M,noexec,ro"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    for (const char* want : {"ro,", "nosuid", "nodev", "noexec", "size=2048k", "mode=711"})
        EXPECT_NE(r.out.find(want), std::string::npos) << want << " in " << r.out;
    EXPECT_NE(r.out.find("\n711\n"), std::string::npos) << r.out;
}

TEST_F(Mounts, TmpfsWithAnUnknownOptionIsRefusedBeforeAnythingStarts) {
    auto r = sh("true", {"--tmpfs=/mnt:mode=0700,frobnicate=1"});
    EXPECT_FALSE(r.exited(0)) << r.describe();
    EXPECT_NE(r.err.find("Invalid --tmpfs \"/mnt:mode=0700,frobnicate=1\": unknown option \"frobnicate\""),
              std::string::npos)
        << r.err;
}

TEST_F(Mounts, TmpfsContentIsGoneAfterExit) {
    auto r = sh("echo x > /mnt/written", {"--tmpfs=/mnt"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_FALSE(exists(root_ + "/mnt/written"));
}

TEST_F(Mounts, OverlayWritesLandInUpperLayer) {
    auto lower = host_dir("lower", "old", "lower\n");
    auto upper = host_dir("upper");
    auto lower_before = tree_snapshot(lower);
    auto r = sh("cat /data/old && echo changed > /data/old && echo new > /data/new",
                {"--private-users=no", "--overlay=" + lower + ":" + upper + ":/data"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "lower\n");
    EXPECT_EQ(read_file(upper + "/old"), "changed\n");
    EXPECT_EQ(read_file(upper + "/new"), "new\n");
    EXPECT_EQ(tree_snapshot(lower), lower_before);
}

// Under the default user namespace (the supervisor makes the overlay on idmapped layers, as the machine's
// root): before, --overlay=L:U:D came up read-only and L::D failed with EACCES.
TEST_F(Mounts, OverlayWritesLandInUpperLayerUnderTheUserNamespace) {
    auto lower = host_dir("lower", "old", "lower\n");
    make_dirs(lower + "/sub");
    auto upper = host_dir("upper");
    auto lower_before = tree_snapshot(lower);
    auto r = sh("cat /data/old && echo changed > /data/old && echo new > /data/new && mkdir /data/dir && "
                "touch /data/sub/in-sub && echo x > /data/alice && chown 1000:1000 /data/alice && stat -c %u /data/old",
                {"--overlay=" + lower + ":" + upper + ":/data"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "lower\n0\n") << "host root's files are the machine's root's";
    EXPECT_EQ(read_file(upper + "/old"), "changed\n");
    EXPECT_EQ(read_file(upper + "/new"), "new\n");
    EXPECT_TRUE(exists(upper + "/dir") && exists(upper + "/sub/in-sub"));
    // In the upper directory files are owned as in the image: the machine's IDs 0..65535 are host IDs 0..65535.
    struct stat st {};
    ASSERT_EQ(::stat((upper + "/new").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    ASSERT_EQ(::stat((upper + "/alice").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u);
    EXPECT_EQ(tree_snapshot(lower), lower_before);
    for (auto& n : list_dir(tmp_)) EXPECT_EQ(n.rfind(".#berth-work.", 0), std::string::npos) << "work directory left: " << n;
}

TEST_F(Mounts, OverlayWithATemporaryUpperIsWritableUnderTheUserNamespace) {
    auto lower = host_dir("lower", "old", "lower\n");
    auto lower_before = tree_snapshot(lower);
    auto r = sh("echo changed > /data/old && echo new > /data/new && cat /data/old /data/new",
                {"--overlay=" + lower + "::/data"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "changed\nnew\n");
    EXPECT_EQ(tree_snapshot(lower), lower_before);
    for (auto& n : list_dir("/var/tmp"))
        EXPECT_NE(n.rfind("berth-overlay." + machine_ + ".", 0), 0u) << "temporary upper left: " << n;
}

TEST_F(Mounts, OverlayRoStacksLayersReadOnly) {
    auto bottom = host_dir("bottom", "both", "bottom\n");
    write_file(bottom + "/only-bottom", "b\n");
    auto top = host_dir("top", "both", "top\n");
    auto r = sh("cat /data/both /data/only-bottom; touch /data/new", {"--overlay-ro=" + bottom + ":" + top + ":/data"});
    EXPECT_TRUE(r.exited(1)) << "touch must run and fail: " << r.describe();
    EXPECT_EQ(r.out, "top\nb\n");
    EXPECT_FALSE(exists(top + "/new"));
    EXPECT_FALSE(exists(bottom + "/new"));
}

TEST_F(Mounts, EphemeralDiscardsWritesAndLeavesImageUnchanged) {
    auto before = tree_snapshot(root_);
    auto r = sh("echo x > /newfile && rm /etc/os-release && mkdir /newdir && test -e /newfile", {"-x"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(tree_snapshot(root_), before);
    auto again = sh("test ! -e /newfile && test -e /etc/os-release", {"--ephemeral"});
    EXPECT_TRUE(again.exited(0)) << again.describe();
}

// No snapshot copy next to the image, nothing in /run/berth, no mount (the fixture checks the last two).
TEST_F(Mounts, EphemeralLeavesNoTraceOnHost) {
    auto beside = list_dir(tmp_);
    auto r = sh("echo x > /newfile", {"-x"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(list_dir(tmp_), beside);
}

}  // namespace
}  // namespace berth::test
