// images/operations.hpp on plain directories and raw files in a scratch pool (btrfs subvolumes: the
// integration tests, on a loop device). The immutable attribute needs root (CAP_LINUX_IMMUTABLE) and a
// filesystem that has it: those tests skip themselves otherwise.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/fd.hpp"
#include "common/lock_file.hpp"
#include "images/discovery.hpp"
#include "images/operations.hpp"
#include "tests/unit/temp_tree.hpp"

namespace berth::images {
namespace {

bool immutable(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    int flags = 0;
    return fd && ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL);
}

// Never through a symbolic link: the images' links point at the host's own files.
void clear_immutable(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW));
    int flags = 0;
    if (fd && ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL)) {
        flags &= ~FS_IMMUTABLE_FL;
        ::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags);
    }
}

// Whether the immutable attribute can be set here (root, a filesystem that has it).
bool can_be_immutable(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    int flags = 0;
    if (!fd || ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) < 0) return false;
    int on = flags | FS_IMMUTABLE_FL;
    if (::ioctl(fd.get(), FS_IOC_SETFLAGS, &on) < 0) return false;
    ::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags);
    return true;
}

// A scratch pool with a directory image "deb" holding one of each kind of file, a raw image, and settings
// directories of its own.
class ImageOperations : public ::testing::Test {
protected:
    void SetUp() override {
        pool_ = t_.mkdir("pool");
        settings_.dirs = {t_.mkdir("etc-nspawn"), t_.mkdir("run-nspawn")};
        t_.write("pool/deb/etc/hostname", "debhost\n");
        t_.write("pool/deb/usr/bin/tool", "#!/bin/sh\n", 04755);
        ::link((pool_ + "/deb/usr/bin/tool").c_str(), (pool_ + "/deb/hardlink").c_str());
        t_.symlink("/etc/hostname", "pool/deb/link");
        outside_ = t_.write("outside", "not the image's");
        t_.symlink(outside_, "pool/deb/escape");
        ::mkfifo((pool_ + "/deb/fifo").c_str(), 0600);
        ::setxattr((pool_ + "/deb/etc/hostname").c_str(), "user.berth", "x", 1, 0);
        t_.write("pool/disk.raw", std::string(4096, 'd'));
        t_.write("etc-nspawn/deb.toml", "[exec]\n");
        t_.write("pool/deb.toml", "[files]\n");
    }
    void TearDown() override {
        for (auto& e : std::filesystem::recursive_directory_iterator(t_.path()))
            if (!e.is_symlink()) clear_immutable(e.path());
        clear_immutable(t_.path() + "/pool");
    }
    Image image(const std::string& name) {
        auto i = find_image({pool_}, name);
        EXPECT_TRUE(i.ok()) << name << ": " << (i.ok() ? "" : i.error().message);
        return i.ok() ? *i : Image{};
    }

    TempTree t_;
    std::string pool_, outside_;
    SettingsDirs settings_;
};

TEST_F(ImageOperations, RemoveTakesTheWholeTreeAndItsSettingsButNothingALinkPointsTo) {
    ASSERT_TRUE(remove_image(image("deb"), settings_).ok());
    EXPECT_FALSE(path_exists(pool_ + "/deb"));
    EXPECT_FALSE(path_exists(settings_.dirs[0] + "/deb.toml"));
    EXPECT_FALSE(path_exists(pool_ + "/deb.toml"));
    EXPECT_EQ(slurp(outside_), "not the image's");
    ASSERT_TRUE(remove_image(image("disk"), settings_).ok());
    EXPECT_FALSE(path_exists(pool_ + "/disk.raw"));
}

TEST_F(ImageOperations, RemoveTakesAReadOnlyImageToo) {
    if (!can_be_immutable(pool_)) GTEST_SKIP() << "no immutable attribute here (needs root)";
    ASSERT_TRUE(mark_read_only(image("deb"), true).ok());
    ASSERT_TRUE(image("deb").read_only);
    auto r = remove_image(image("deb"), settings_);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(path_exists(pool_ + "/deb"));
}

TEST_F(ImageOperations, RenameMovesTheImageAndItsSettingsAndRefusesATakenOrBadName) {
    ASSERT_TRUE(rename_image(image("deb"), "web", settings_).ok());
    EXPECT_FALSE(path_exists(pool_ + "/deb"));
    EXPECT_EQ(slurp(pool_ + "/web/etc/hostname"), "debhost\n");
    EXPECT_EQ(slurp(settings_.dirs[0] + "/web.toml"), "[exec]\n");
    EXPECT_EQ(slurp(pool_ + "/web.toml"), "[files]\n");
    EXPECT_FALSE(path_exists(settings_.dirs[0] + "/deb.toml"));

    ASSERT_TRUE(rename_image(image("disk"), "disk2", settings_).ok());
    EXPECT_TRUE(path_exists(pool_ + "/disk2.raw"));

    t_.mkdir("pool/other");
    auto taken = rename_image(image("web"), "other", settings_);
    ASSERT_FALSE(taken.ok());
    EXPECT_EQ(taken.error().code, EEXIST);
    EXPECT_EQ(taken.error().message, "Image \"other\" already exists");
    EXPECT_TRUE(path_exists(pool_ + "/web/etc/hostname"));
    auto bad = rename_image(image("disk2"), "a/b", settings_);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, EINVAL);
    EXPECT_EQ(bad.error().message, "Image name 'a/b' is invalid.");
}

TEST_F(ImageOperations, RenameKeepsAReadOnlyDirectoryReadOnly) {
    if (!can_be_immutable(pool_)) GTEST_SKIP() << "no immutable attribute here (needs root)";
    ASSERT_TRUE(mark_read_only(image("deb"), true).ok());
    auto r = rename_image(image("deb"), "frozen", settings_);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(immutable(pool_ + "/frozen"));
    EXPECT_TRUE(image("frozen").read_only);
}

TEST_F(ImageOperations, ReadOnlyIsTheImmutableAttributeForDirectoriesAndTheWriteBitsForRawFiles) {
    ASSERT_TRUE(mark_read_only(image("disk"), true).ok());
    struct stat st {};
    ASSERT_EQ(::stat((pool_ + "/disk.raw").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0444u);
    EXPECT_TRUE(image("disk").read_only);
    ASSERT_TRUE(mark_read_only(image("disk"), false).ok());
    ASSERT_EQ(::stat((pool_ + "/disk.raw").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    EXPECT_FALSE(image("disk").read_only);

    if (!can_be_immutable(pool_)) GTEST_SKIP() << "no immutable attribute here (needs root)";
    ASSERT_TRUE(mark_read_only(image("deb"), true).ok());
    EXPECT_TRUE(immutable(pool_ + "/deb"));
    EXPECT_TRUE(image("deb").read_only);
    ASSERT_TRUE(mark_read_only(image("deb"), false).ok());
    EXPECT_FALSE(immutable(pool_ + "/deb"));
}

TEST_F(ImageOperations, CloneCopiesEveryKindOfFileAndTheSettings) {
    auto r = clone_image(image("deb"), pool_, "copy", false, settings_);
    ASSERT_TRUE(r.ok()) << r.error().message;
    std::string c = pool_ + "/copy";
    EXPECT_EQ(slurp(c + "/etc/hostname"), "debhost\n");
    char x[4] = {};
    EXPECT_EQ(::getxattr((c + "/etc/hostname").c_str(), "user.berth", x, sizeof x), 1);
    struct stat tool {}, hard {}, fifo {};
    ASSERT_EQ(::stat((c + "/usr/bin/tool").c_str(), &tool), 0);
    ASSERT_EQ(::stat((c + "/hardlink").c_str(), &hard), 0);
    EXPECT_EQ(tool.st_mode & 07777, 04755u);
    EXPECT_EQ(tool.st_ino, hard.st_ino);
    EXPECT_EQ(tool.st_nlink, 2u);
    ASSERT_EQ(::lstat((c + "/fifo").c_str(), &fifo), 0);
    EXPECT_TRUE(S_ISFIFO(fifo.st_mode));
    EXPECT_EQ(std::filesystem::read_symlink(c + "/link"), "/etc/hostname");
    EXPECT_EQ(std::filesystem::read_symlink(c + "/escape"), outside_);
    EXPECT_EQ(slurp(settings_.dirs[0] + "/copy.toml"), "[exec]\n");
    EXPECT_EQ(slurp(pool_ + "/copy.toml"), "[files]\n");
    EXPECT_FALSE(image("copy").read_only);

    ASSERT_TRUE(clone_image(image("disk"), pool_, "disk2", true, settings_).ok());
    EXPECT_EQ(slurp(pool_ + "/disk2.raw"), std::string(4096, 'd'));
    EXPECT_TRUE(image("disk2").read_only);
    // A clone is writable unless asked, whatever its original is (as 252).
    ASSERT_TRUE(clone_image(image("disk2"), pool_, "disk3", false, settings_).ok());
    struct stat st {};
    ASSERT_EQ(::stat((pool_ + "/disk3.raw").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
}

// Settings files an image would inherit that are not its own stop a clone or rename before it starts.
TEST_F(ImageOperations, SettingsOfTheNewNameAlreadyThereStopTheOperation) {
    t_.write("run-nspawn/web.toml", "[exec]\nboot = false\n");
    for (auto r : {clone_image(image("deb"), pool_, "web", false, settings_), rename_image(image("deb"), "web", settings_)}) {
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, EEXIST);
        EXPECT_NE(r.error().message.find("run-nspawn/web.toml exists"), std::string::npos) << r.error().message;
    }
    EXPECT_FALSE(path_exists(pool_ + "/web"));
    EXPECT_TRUE(path_exists(pool_ + "/deb/etc/hostname"));
}

TEST_F(ImageOperations, ANameBeingGivenIsBusy) {
    if (::geteuid() != 0) GTEST_SKIP() << "the lock directory is root's";
    auto first = ImageLock::take_name("web");
    ASSERT_TRUE(first.ok());
    auto second = ImageLock::take_name("web");
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, EBUSY);
    EXPECT_TRUE(ImageLock::take_name(std::string(255, 'w')).ok());
}

TEST_F(ImageOperations, CloneOntoATakenNameFailsAndLeavesNoTemporary) {
    auto r = clone_image(image("deb"), pool_, "deb", false, settings_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EEXIST);
    auto bad = clone_image(image("deb"), pool_, ".#sneaky", false, settings_);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, EINVAL);
    for (auto& e : std::filesystem::directory_iterator(pool_))
        EXPECT_NE(e.path().filename().string().rfind(".#", 0), 0u) << e.path();
}

TEST_F(ImageOperations, TheHostIsNeverChanged) {
    Image host = host_image();
    for (auto r : {remove_image(host, settings_), rename_image(host, "x", settings_), mark_read_only(host, true)}) {
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, EROFS);
    }
    auto c = clone_image(host, pool_, "x", false, settings_);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, EOPNOTSUPP);
    EXPECT_FALSE(path_exists(pool_ + "/x"));
}

// The lock nspawn holds while a machine runs (shared for --read-only and --ephemeral ones).
TEST_F(ImageOperations, AnImageAMachineHoldsIsBusy) {
    if (::geteuid() != 0) GTEST_SKIP() << "the lock directory is root's";
    Image deb = image("deb");
    auto held = lock_in_lock_dir(image_lock_path(deb.dev, deb.ino), false);
    ASSERT_TRUE(held.ok());
    auto shared = ImageLock::take(deb, false);
    EXPECT_TRUE(shared.ok()) << "a clone may share the image with a read-only machine";
    auto busy = ImageLock::take(deb, true);
    ASSERT_FALSE(busy.ok());
    EXPECT_EQ(busy.error().code, EBUSY);
    EXPECT_EQ(busy.error().message, "Image \"deb\" is in use by a running machine");
    release_lock(image_lock_path(deb.dev, deb.ino), std::move(*held));
}

}  // namespace
}  // namespace berth::images
