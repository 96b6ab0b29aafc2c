// Paths inside an image are resolved as if the image were "/": symlinks and ".." never leave it.
// Every escape attempt targets a unique name outside the temp tree and checks it did not come to exist.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include "common/chase.hpp"
#include "tests/unit/temp_tree.hpp"

using berth::exists_in_root;
using berth::mkdir_p_in_root;
using berth::normalize_absolute_path;
using berth::open_in_root;
using berth::touch_in_root;
using berth::UniqueFd;

static std::string read_fd(const UniqueFd& fd) { return slurp("/proc/self/fd/" + std::to_string(fd.get())); }

// --- normalize_absolute_path ---

TEST(NormalizeAbsolutePath, RemovesDotsAndDuplicateSlashes) {
    EXPECT_EQ(normalize_absolute_path("/a/./b//c/", "Path").value(), "/a/b/c");
}

TEST(NormalizeAbsolutePath, KeepsTheRoot) {
    EXPECT_EQ(normalize_absolute_path("/", "Path").value(), "/");
    EXPECT_EQ(normalize_absolute_path("//./", "Path").value(), "/");
}

TEST(NormalizeAbsolutePath, RefusesARelativePath) {
    auto r = normalize_absolute_path("a/b", "Bind source");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("Bind source \"a/b\""), std::string::npos) << r.error().message;
}

TEST(NormalizeAbsolutePath, RefusesTheEmptyPath) { EXPECT_FALSE(normalize_absolute_path("", "Path").ok()); }

TEST(NormalizeAbsolutePath, RefusesDotDot) {
    auto r = normalize_absolute_path("/a/../b", "Bind destination");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("\"..\""), std::string::npos) << r.error().message;
}

TEST(NormalizeAbsolutePath, RefusesATrailingDotDot) { EXPECT_FALSE(normalize_absolute_path("/a/..", "Path").ok()); }

TEST(NormalizeAbsolutePath, AcceptsNamesThatMerelyStartWithDots) {
    EXPECT_EQ(normalize_absolute_path("/a/..b/...", "Path").value(), "/a/..b/...");
}

// --- open_in_root ---

TEST(OpenInRoot, OpensAnAbsolutePathInsideTheRoot) {
    TempTree t;
    t.write("img/etc/marker", "image");
    UniqueFd root(t.open_dir("img"));
    auto fd = open_in_root(root.get(), "/etc/marker", O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_EQ(read_fd(*fd), "image");
}

TEST(OpenInRoot, OpensTheRootItselfForSlash) {
    TempTree t;
    t.mkdir("img");
    UniqueFd root(t.open_dir("img"));
    auto fd = open_in_root(root.get(), "/", O_PATH | O_DIRECTORY);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    struct stat a {}, b {};
    ASSERT_EQ(::fstat(fd->get(), &a), 0);
    ASSERT_EQ(::stat((t / "img").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST(OpenInRoot, ResolvesAnAbsoluteSymlinkToEtcInsideTheRoot) {
    TempTree t;
    t.write("img/etc/hostname", "image-hostname");
    t.symlink("/etc", "img/link");
    UniqueFd root(t.open_dir("img"));
    auto fd = open_in_root(root.get(), "/link/hostname", O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_EQ(read_fd(*fd), "image-hostname");
}

TEST(OpenInRoot, ClampsARelativeSymlinkClimbingAboveTheRoot) {
    TempTree t;
    t.write("img/etc/marker", "image");
    t.symlink("../../..", "img/sub/up");
    UniqueFd root(t.open_dir("img"));
    auto fd = open_in_root(root.get(), "/sub/up/etc/marker", O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_EQ(read_fd(*fd), "image");
}

TEST(OpenInRoot, ClampsDotDotInThePathAtTheRoot) {
    TempTree t;
    t.write("img/etc/marker", "image");
    UniqueFd root(t.open_dir("img"));
    auto fd = open_in_root(root.get(), "../../../../etc/marker", O_RDONLY);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_EQ(read_fd(*fd), "image");
}

TEST(OpenInRoot, DoesNotReachTheHostsFilesThroughASymlink) {
    TempTree t;
    t.symlink("/etc/passwd", "img/passwd");  // the image has no /etc/passwd; the host does
    UniqueFd root(t.open_dir("img"));
    auto fd = open_in_root(root.get(), "/passwd", O_RDONLY);
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.error().code, ENOENT);
}

TEST(OpenInRoot, RefusesProcMagicLinks) {
    TempTree t;
    t.symlink("/proc/self/root", "img/escape");
    UniqueFd root(t.open_dir("img"));
    // Inside the image /proc does not exist, so this can only fail; it must not land on the host's root.
    auto fd = open_in_root(root.get(), "/escape/etc/passwd", O_RDONLY);
    EXPECT_FALSE(fd.ok());
}

TEST(OpenInRoot, ErrorNamesThePath) {
    TempTree t;
    t.mkdir("img");
    UniqueFd root(t.open_dir("img"));
    auto fd = open_in_root(root.get(), "/no/such/file", O_RDONLY);
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.error().code, ENOENT);
    EXPECT_NE(fd.error().message.find("/no/such/file"), std::string::npos) << fd.error().message;
}

// --- mkdir_p_in_root ---

TEST(MkdirPInRoot, CreatesMissingParents) {
    TempTree t;
    t.mkdir("img");
    UniqueFd root(t.open_dir("img"));
    auto fd = mkdir_p_in_root(root.get(), "/a/b/c");
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    struct stat st {};
    ASSERT_EQ(::stat((t / "img/a/b/c").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(MkdirPInRoot, CreatesDirectoriesWithMode0755) {
    TempTree t;
    t.mkdir("img");
    UniqueFd root(t.open_dir("img"));
    mode_t old = ::umask(022);
    auto fd = mkdir_p_in_root(root.get(), "/a");
    ::umask(old);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    struct stat st {};
    ASSERT_EQ(::stat((t / "img/a").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
}

TEST(MkdirPInRoot, SucceedsWhenEverythingExists) {
    TempTree t;
    t.mkdir("img/a/b");
    UniqueFd root(t.open_dir("img"));
    EXPECT_TRUE(mkdir_p_in_root(root.get(), "/a/b").ok());
}

TEST(MkdirPInRoot, ReturnsTheLastDirectory) {
    TempTree t;
    t.mkdir("img");
    UniqueFd root(t.open_dir("img"));
    auto fd = mkdir_p_in_root(root.get(), "/x/y");
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    struct stat a {}, b {};
    ASSERT_EQ(::fstat(fd->get(), &a), 0);
    ASSERT_EQ(::stat((t / "img/x/y").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST(MkdirPInRoot, FollowsASymlinkToEtcInsideTheRootNotOnTheHost) {
    TempTree t;
    t.mkdir("img/etc");
    t.symlink("/etc", "img/link");
    UniqueFd root(t.open_dir("img"));
    auto name = unique_name("berth-unit-escape");
    auto fd = mkdir_p_in_root(root.get(), "/link/" + name);
    EXPECT_FALSE(path_exists("/etc/" + name)) << "created on the host: /etc/" << name;
    ::rmdir(("/etc/" + name).c_str());
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_TRUE(path_exists(t / ("img/etc/" + name)));
}

TEST(MkdirPInRoot, ClampsARelativeSymlinkClimbingAboveTheRoot) {
    TempTree t;
    t.mkdir("img/tmp");
    t.symlink("../../..", "img/sub/up");
    UniqueFd root(t.open_dir("img"));
    auto name = unique_name("berth-unit-escape");
    auto fd = mkdir_p_in_root(root.get(), "/sub/up/tmp/" + name);
    EXPECT_FALSE(path_exists("/tmp/" + name)) << "created on the host: /tmp/" << name;
    ::rmdir(("/tmp/" + name).c_str());
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_TRUE(path_exists(t / ("img/tmp/" + name)));
}

TEST(MkdirPInRoot, ClampsDotDotComponentsAtTheRoot) {
    TempTree t;
    t.mkdir("img");
    UniqueFd root(t.open_dir("img"));
    auto name = unique_name("berth-unit-escape");
    auto fd = mkdir_p_in_root(root.get(), "/../../../../tmp/" + name);
    EXPECT_FALSE(path_exists("/tmp/" + name)) << "created on the host: /tmp/" << name;
    ::rmdir(("/tmp/" + name).c_str());
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_TRUE(path_exists(t / ("img/tmp/" + name)));
}

TEST(MkdirPInRoot, NeverCreatesTheTargetOfADanglingSymlinkOnTheHost) {
    TempTree t;
    t.mkdir("img");
    auto name = unique_name("berth-unit-escape");
    t.symlink("/tmp/" + name, "img/dangling");
    UniqueFd root(t.open_dir("img"));
    (void)mkdir_p_in_root(root.get(), "/dangling/sub");
    EXPECT_FALSE(path_exists("/tmp/" + name)) << "created on the host: /tmp/" << name;
    ::rmdir(("/tmp/" + name + "/sub").c_str());
    ::rmdir(("/tmp/" + name).c_str());
}

// Debian images have /var/run -> /run and /var/lock -> /run/lock, and an image's /run is often empty:
// creating through such a symlink must create the target inside the image (as systemd's chase() does).
TEST(MkdirPInRoot, CreatesTheTargetOfADanglingSymlinkInsideTheRoot) {
    TempTree t;
    t.mkdir("img/run");
    t.symlink("/run/lock", "img/var/lock");
    UniqueFd root(t.open_dir("img"));
    auto fd = mkdir_p_in_root(root.get(), "/var/lock/sub");
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    EXPECT_TRUE(path_exists(t / "img/run/lock/sub"));
}

TEST(MkdirPInRoot, FailsWhenAComponentIsAFile) {
    TempTree t;
    t.write("img/file", "x");
    UniqueFd root(t.open_dir("img"));
    auto fd = mkdir_p_in_root(root.get(), "/file/sub");
    ASSERT_FALSE(fd.ok());
    EXPECT_NE(fd.error().message.find("/file"), std::string::npos) << fd.error().message;
}

// --- touch_in_root / exists_in_root ---

TEST(TouchInRoot, CreatesTheFileAndItsParents) {
    TempTree t;
    t.mkdir("img");
    UniqueFd root(t.open_dir("img"));
    auto fd = touch_in_root(root.get(), "/run/host/os-release");
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    struct stat st {};
    ASSERT_EQ(::stat((t / "img/run/host/os-release").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(TouchInRoot, LeavesAnExistingFileAlone) {
    TempTree t;
    t.write("img/etc/hostname", "keep");
    UniqueFd root(t.open_dir("img"));
    ASSERT_TRUE(touch_in_root(root.get(), "/etc/hostname").ok());
    EXPECT_EQ(slurp(t / "img/etc/hostname"), "keep");
}

TEST(TouchInRoot, CreatesThroughASymlinkInsideTheRootNotOnTheHost) {
    TempTree t;
    t.mkdir("img/etc");
    auto name = unique_name("berth-unit-escape");
    t.symlink("/tmp/" + name, "img/evil");
    UniqueFd root(t.open_dir("img"));
    (void)touch_in_root(root.get(), "/evil");
    EXPECT_FALSE(path_exists("/tmp/" + name)) << "created on the host: /tmp/" << name;
    ::unlink(("/tmp/" + name).c_str());
}

TEST(ExistsInRoot, SeesWhatIsInTheImage) {
    TempTree t;
    t.write("img/bin/sh", "", 0755);
    UniqueFd root(t.open_dir("img"));
    EXPECT_TRUE(exists_in_root(root.get(), "/bin/sh"));
    EXPECT_FALSE(exists_in_root(root.get(), "/bin/bash"));
}

TEST(ExistsInRoot, DoesNotSeeTheHostThroughSymlinks) {
    TempTree t;
    t.symlink("/etc", "img/hostetc");
    UniqueFd root(t.open_dir("img"));
    EXPECT_FALSE(exists_in_root(root.get(), "/hostetc/passwd"));
}

// --- read_untrusted_file ---

namespace {
UniqueFd open_root(const TempTree& t) { return UniqueFd(::open(t.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)); }
}  // namespace

TEST(ReadUntrustedFile, ReadsASmallRegularFileFollowingSymlinksInsideTheRoot) {
    TempTree t;
    t.write("usr/lib/os-release", "ID=debian\n");
    ASSERT_EQ(::symlink("../usr/lib/os-release", (t / "os-release").c_str()), 0);
    auto root = open_root(t);
    EXPECT_EQ(berth::read_untrusted_file(root.get(), "/usr/lib/os-release", 100).value(), "ID=debian\n");
    EXPECT_EQ(berth::read_untrusted_file(root.get(), "/os-release", 100).value(), "ID=debian\n");
}

TEST(ReadUntrustedFile, RefusesAFifoWithoutOpeningIt) {
    TempTree t;
    ASSERT_EQ(::mkfifo((t / "fifo").c_str(), 0644), 0);
    auto root = open_root(t);
    auto r = berth::read_untrusted_file(root.get(), "/fifo", 100);  // would block forever if opened
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("/fifo is not a regular file"), std::string::npos) << r.error().message;
}

TEST(ReadUntrustedFile, RefusesAFileLargerThanTheCapNamingIt) {
    TempTree t;
    t.write("big", std::string(101, 'x'));
    auto root = open_root(t);
    auto r = berth::read_untrusted_file(root.get(), "/big", 100);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EFBIG);
    EXPECT_NE(r.error().message.find("/big is larger than 100 bytes"), std::string::npos) << r.error().message;
    EXPECT_EQ(berth::read_untrusted_file(root.get(), "/big", 101).value().size(), 101u);
}

TEST(ReadUntrustedFile, MissingFileIsEnoentAndSymlinksCannotLeaveTheRoot) {
    TempTree outside;
    outside.write("secret", "host\n");
    TempTree t;
    ASSERT_EQ(::symlink((outside / "secret").c_str(), (t / "link").c_str()), 0);
    auto root = open_root(t);
    auto missing = berth::read_untrusted_file(root.get(), "/nothing", 100);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, ENOENT);
    auto escaped = berth::read_untrusted_file(root.get(), "/link", 100);
    EXPECT_FALSE(escaped.ok()) << "read the host's file: " << escaped.value();
}
