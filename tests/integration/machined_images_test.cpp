// Images on the bus (docs/dbus-api.md, "Images"): ListImages, GetImage, the image objects and their
// properties, what an image says of itself (GetImage*), the disk usage measured in the background, and
// systemd's own machinectl list-images / image-status / show-image / start against our machined. Every
// image lives in the test's own pool (the fixture's machined looks nowhere else). What machined does to
// images is in machined_image_operations_test.cpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "tests/integration/images_fixture.hpp"

namespace berth::test {
namespace {

TEST_F(Images, ListImagesHasHostAndEveryImageOfThePool) {
    make_image("web");
    make_dirs(pool_ + "/.hidden");
    write_file(pool_ + "/disk.raw", std::string(10000, 'x'));
    write_file(pool_ + "/notes.txt", "no image");
    start_machined();
    auto all = listed();
    std::vector<std::string> names;
    for (auto& [name, rest] : all) names.push_back(name);
    EXPECT_EQ(names, (std::vector<std::string>{".hidden", ".host", "disk", "web"}));
    EXPECT_EQ(all[".host"], "\"directory\" false " + std::string(kUnknown) + " \"" + object("_2ehost") + "\"");
    EXPECT_EQ(all["disk"].substr(0, 12), "\"raw\" false ");
    EXPECT_EQ(all[".hidden"].rfind("\"directory\" false ", 0), 0u) << all[".hidden"];
}

TEST_F(Images, GetImageAnswersTheObjectPath) {
    make_image("web-1");
    start_machined();
    EXPECT_EQ(manager("GetImage", {"s", "web-1"}).out, "o \"" + object("web_2d1") + "\"\n");
    EXPECT_EQ(manager("GetImage", {"s", ".host"}).out, "o \"" + object("_2ehost") + "\"\n");
}

TEST_F(Images, UnknownImageIsNoSuchImage) {
    make_dirs(pool_ + "/x");
    start_machined();
    // Names no image can have too, as systemd 252.
    for (std::string bad : {"", "../x", "a/b"}) {
        auto r = manager("GetImage", {"s", bad});
        EXPECT_NE(r.err.find("No image '" + bad + "' known"), std::string::npos) << r.describe();
    }
    EXPECT_EQ(bus_error_of([](sdbus::IProxy& p) {
                  p.callMethod("GetImage").onInterface("org.freedesktop.machine1.Manager").withArguments(std::string("nope"));
              }),
              "org.freedesktop.machine1.NoSuchImage");
    auto r = manager("GetImage", {"s", "nope"});
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("No image 'nope' known"), std::string::npos) << r.describe();
    EXPECT_EQ(manager("GetImage", {"s", "x.raw"}).err, r.err.substr(0, r.err.find("nope")) + "x.raw' known\n");
    EXPECT_EQ(bus_error_of([](sdbus::IProxy& p) {
                  p.callMethod("GetImageOSRelease").onInterface("org.freedesktop.machine1.Manager")
                      .withArguments(std::string("nope"));
              }),
              "org.freedesktop.machine1.NoSuchImage");
}

// systemd 252 (tests/data/systemd-252-images.sh): GetImage* (not GetImage) check the name first.
TEST_F(Images, GetImageFilesOfANameNoImageCanHaveIsInvalidArgs) {
    start_machined();
    for (std::string bad : {"", "../x", "a/b"}) {
        for (const char* method : {"GetImageHostname", "GetImageMachineID", "GetImageMachineInfo", "GetImageOSRelease"}) {
            EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                          p.callMethod(method).onInterface("org.freedesktop.machine1.Manager").withArguments(bad);
                      }),
                      "org.freedesktop.DBus.Error.InvalidArgs")
                << method << " " << bad;
            auto r = manager(method, {"s", bad});
            EXPECT_NE(r.err.find("Image name '" + bad + "' is invalid."), std::string::npos) << r.describe();
        }
    }
}

TEST_F(Images, ImageObjectHasSystemdsProperties) {
    std::string dir = make_image("web");
    start_machined();
    EXPECT_EQ(property("web", "Name"), "s \"web\"");
    EXPECT_EQ(property("web", "Path"), "s \"" + dir + "\"");
    EXPECT_EQ(property("web", "Type"), "s \"directory\"");
    EXPECT_EQ(property("web", "ReadOnly"), "b false");
    EXPECT_EQ(property("web", "ModificationTimestamp"), "t 0");
    EXPECT_EQ(property("web", "Limit"), std::string("t ") + kUnknown);
    EXPECT_EQ(property("web", "LimitExclusive"), std::string("t ") + kUnknown);
    EXPECT_EQ(property("_2ehost", "Path"), "s \"/\"");
    EXPECT_EQ(property("_2ehost", "Usage"), std::string("t ") + kUnknown);
}

TEST_F(Images, RawImageReportsItsFile) {
    std::string path = pool_ + "/disk.raw";
    write_file(path, std::string(100000, 'x'));
    ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
    start_machined();
    EXPECT_EQ(property("disk", "Type"), "s \"raw\"");
    EXPECT_EQ(property("disk", "Path"), "s \"" + path + "\"");
    EXPECT_EQ(property("disk", "ReadOnly"), "b true");
    EXPECT_EQ(property("disk", "Limit"), "t 100000");
    EXPECT_NE(property("disk", "ModificationTimestamp"), "t 0");
}

TEST_F(Images, ImageObjectsAreEnumerated) {
    make_image("web");
    make_image("db");
    start_machined();
    auto r = busctl({"tree", "--list", "org.freedesktop.machine1"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    for (auto label : {"web", "db", "_2ehost"})
        EXPECT_NE(r.out.find(object(label) + "\n"), std::string::npos) << label << "\n" << r.out;
}

TEST_F(Images, ImagesAppearAndGoWithoutARestart) {
    start_machined();
    EXPECT_FALSE(manager("GetImage", {"s", "late"}).exited(0));
    make_image("late");
    EXPECT_TRUE(manager("GetImage", {"s", "late"}).exited(0));
    EXPECT_EQ(property("late", "Name"), "s \"late\"");
    remove_tree(pool_ + "/late");
    EXPECT_FALSE(manager("GetImage", {"s", "late"}).exited(0));
}

TEST_F(Images, DirectoryUsageIsMeasuredInTheBackground) {
    std::string dir = make_image("web");
    write_file(dir + "/big", std::string(3 << 20, 'x'));
    start_machined("image_usage_refresh_sec = 0");
    // "t N" as a number; 0 when it is not one.
    auto usage = [&] {
        auto u = property("web", "Usage");
        return u.rfind("t ", 0) == 0 ? std::strtoull(u.c_str() + 2, nullptr, 10) : 0;
    };
    // Unknown until the worker has measured; then at least the big file.
    EXPECT_TRUE(eventually([&] { return usage() != UINT64_MAX && usage() >= (3u << 20); })) << property("web", "Usage");
    EXPECT_EQ(property("web", "UsageExclusive"), property("web", "Usage"));
    // Measured again when asked for after the refresh period (0 s here).
    write_file(dir + "/bigger", std::string(5 << 20, 'x'));
    EXPECT_TRUE(eventually([&] { return usage() != UINT64_MAX && usage() >= (8u << 20); })) << property("web", "Usage");
    EXPECT_NE(listed()["web"].find(" " + trim(property("web", "Usage")).substr(2) + " "), std::string::npos);
}

TEST_F(Images, WhatTheImageSaysOfItself) {
    make_image("web");
    start_machined();
    EXPECT_EQ(manager("GetImageHostname", {"s", "web"}).out, "s \"web-host\"\n");
    EXPECT_EQ(manager("GetImageMachineID", {"s", "web"}).out,
              "ay 16 1 35 69 103 137 171 205 239 1 35 69 103 137 171 205 239\n");
    EXPECT_EQ(manager("GetImageMachineInfo", {"s", "web"}).out,
              "a{ss} 2 \"CHASSIS\" \"container\" \"PRETTY_HOSTNAME\" \"Pretty web\"\n");
    auto os = manager("GetImageOSRelease", {"s", "web"});
    EXPECT_NE(os.out.find("\"ID\" \"debian\""), std::string::npos) << os.describe();
    // The image object's own methods say the same.
    auto call = [&](const char* method) {
        return busctl({"call", "org.freedesktop.machine1", object("web"), kImageInterface, method}).out;
    };
    EXPECT_EQ(call("GetHostname"), "s \"web-host\"\n");
    EXPECT_EQ(call("GetMachineID"), manager("GetImageMachineID", {"s", "web"}).out);
    EXPECT_EQ(call("GetMachineInfo"), manager("GetImageMachineInfo", {"s", "web"}).out);
    EXPECT_EQ(call("GetOSRelease"), os.out);
}

TEST_F(Images, AnImagesSymlinksNeverReachTheHost) {
    std::string dir = pool_ + "/esc";
    make_dirs(dir + "/etc");
    ASSERT_EQ(::symlink("/etc/passwd", (dir + "/etc/hostname").c_str()), 0);
    ASSERT_EQ(::symlink("../../../../../../../usr/lib/os-release", (dir + "/etc/os-release").c_str()), 0);
    ASSERT_EQ(::symlink("/etc/machine-id", (dir + "/etc/machine-id").c_str()), 0);
    start_machined();
    EXPECT_EQ(manager("GetImageHostname", {"s", "esc"}).out, "s \"\"\n");
    EXPECT_EQ(manager("GetImageOSRelease", {"s", "esc"}).out, "a{ss} 0\n");
    EXPECT_EQ(manager("GetImageMachineID", {"s", "esc"}).out, "ay 0\n");
}

TEST_F(Images, AFifoOrAHugeFileInAnImageHangsNothing) {
    std::string dir = make_image("trap");
    ::unlink((dir + "/etc/hostname").c_str());
    ASSERT_EQ(::mkfifo((dir + "/etc/hostname").c_str(), 0600), 0);
    write_file(dir + "/etc/os-release", std::string(1 << 20, 'x'));
    start_machined();
    // Refused, not waited for (systemd 252's machined hangs on it): no hostname, as for an unreadable file.
    EXPECT_EQ(manager("GetImageHostname", {"s", "trap"}).out, "s \"\"\n");
    EXPECT_EQ(manager("GetImageOSRelease", {"s", "trap"}).out, "a{ss} 0\n");
    EXPECT_TRUE(manager("ListImages").exited(0));
}

TEST_F(Images, RawImagesFilesAreNotSupportedYet) {
    write_file(pool_ + "/disk.raw", std::string(10000, 'x'));
    start_machined();
    EXPECT_EQ(bus_error_of([](sdbus::IProxy& p) {
                  p.callMethod("GetImageOSRelease").onInterface("org.freedesktop.machine1.Manager")
                      .withArguments(std::string("disk"));
              }),
              "org.freedesktop.DBus.Error.NotSupported");
}

TEST_F(Images, EveryoneMayLookButNotChange) {
    make_image("web");
    start_machined();
    auto list = busctl_as_nobody({"call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                                  "org.freedesktop.machine1.Manager", "ListImages"});
    EXPECT_TRUE(list.exited(0)) << list.describe();
    auto os = busctl_as_nobody({"call", "org.freedesktop.machine1", object("web"), kImageInterface, "GetOSRelease"});
    EXPECT_TRUE(os.exited(0)) << os.describe();
    for (auto* method : {"MarkReadOnly", "Remove"})
        EXPECT_EQ(bus_error_of(
                      [&](sdbus::IProxy& p) {
                          if (std::string(method) == "Remove") p.callMethod(method).onInterface(kImageInterface);
                          else p.callMethod(method).onInterface(kImageInterface).withArguments(true);
                      },
                      true, object("web")),
                  "org.freedesktop.DBus.Error.AccessDenied")
            << method;
    EXPECT_TRUE(exists(pool_ + "/web/etc/hostname"));
}


TEST_F(Images, BtrfsSubvolumesAreSubvolumes) {
    ASSERT_TRUE(exists("/usr/sbin/mkfs.btrfs")) << "btrfs-progs is not installed (tests/fixtures/common.sh installs it)";
    {
        LoopMount btrfs(tmp_ + "/btrfs.img", pool_);
        ASSERT_EQ(btrfs.error(), "");
        for (auto* sub : {"web", "frozen"})
            ASSERT_TRUE(run("/usr/bin/btrfs", {"-q", "subvolume", "create", pool_ + "/" + sub}).exited(0));
        ASSERT_TRUE(run("/usr/bin/btrfs", {"property", "set", pool_ + "/frozen", "ro", "true"}).exited(0));
        make_dirs(pool_ + "/plain");
        start_machined();
        EXPECT_EQ(property("web", "Type"), "s \"subvolume\"");
        EXPECT_EQ(property("web", "ReadOnly"), "b false");
        EXPECT_NE(property("web", "CreationTimestamp"), "t 0");
        EXPECT_EQ(property("frozen", "Type"), "s \"subvolume\"");
        EXPECT_EQ(property("frozen", "ReadOnly"), "b true");
        EXPECT_EQ(property("plain", "Type"), "s \"directory\"");
        auto r = systemd_tool("machinectl", {"list-images", "--no-legend"});
        EXPECT_NE(r.out.find("web    subvolume"), std::string::npos) << r.describe();
        stop_machined();
    }
    EXPECT_FALSE(exists(pool_ + "/web")) << "the btrfs filesystem is still mounted on " << pool_;
}

// ---- systemd's machinectl ------------------------------------------------------------------------------

TEST_F(Images, SystemdMachinectlListImages) {
    make_image("web");
    make_dirs(pool_ + "/.hidden");
    write_file(pool_ + "/disk.raw", std::string(10000, 'x'));
    start_machined();
    auto r = systemd_tool("machinectl", {"list-images", "--no-legend"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("web  directory"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("disk raw"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find(".hidden"), std::string::npos) << r.out;
    auto all = systemd_tool("machinectl", {"list-images", "--no-legend", "--all"});
    EXPECT_TRUE(all.exited(0)) << all.describe();
    EXPECT_NE(all.out.find(".hidden"), std::string::npos) << all.out;
    EXPECT_NE(all.out.find(".host"), std::string::npos) << all.out;
}

TEST_F(Images, SystemdMachinectlImageStatusAndShowImage) {
    std::string dir = make_image("web");
    start_machined();
    auto status = systemd_tool("machinectl", {"image-status", "web"});
    EXPECT_TRUE(status.exited(0)) << status.describe();
    for (std::string want : std::vector<std::string>{"web", "Path: " + dir, "Type: directory", "Hostname: web-host",
                             "Machine ID: 0123456789abcdef0123456789abcdef", "OS: Debian GNU/Linux 12 (bookworm)",
                             "RO: writable"})
        EXPECT_NE(status.out.find(want), std::string::npos) << want << "\n" << status.out;
    auto show = systemd_tool("machinectl", {"show-image", "web"});
    EXPECT_TRUE(show.exited(0)) << show.describe();
    for (std::string want : std::vector<std::string>{"Name=web\n", "Path=" + dir + "\n", "Type=directory\n", "ReadOnly=no\n"})
        EXPECT_NE(show.out.find(want), std::string::npos) << want << "\n" << show.out;
    auto missing = systemd_tool("machinectl", {"image-status", "nope"});
    EXPECT_FALSE(missing.exited(0));
    EXPECT_NE((missing.out + missing.err).find("No image 'nope' known"), std::string::npos) << missing.describe();
}

// systemd's `machinectl start` asks GetImage, then systemd (StartUnit of systemd-nspawn@NAME.service),
// which a host without systemd does not have: it gets past the image, and fails at systemd.
TEST_F(Images, SystemdMachinectlStartGetsPastTheImage) {
    make_image("web");
    start_machined();
    auto missing = systemd_tool("machinectl", {"start", "nope"});
    EXPECT_FALSE(missing.exited(0));
    EXPECT_NE(missing.err.find("Machine image 'nope' does not exist."), std::string::npos) << missing.describe();
    EXPECT_EQ(missing.err.find("Failed to start unit"), std::string::npos) << missing.describe();
    // 252 against its own machined here: "Failed to start unit: The name org.freedesktop.systemd1 was not
    // provided by any .service files".
    auto r = systemd_tool("machinectl", {"start", "web"});
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("Failed to start unit"), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find("org.freedesktop.systemd1"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace berth::test
