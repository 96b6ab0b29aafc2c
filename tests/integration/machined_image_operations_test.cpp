// What machined does to images when asked (docs/machined.md, "Images"; tests/data/systemd-252-image-
// operations.sh, systemd-252-limits-clean.sh): clone, rename, read-only, remove, limits and cleaning the
// pool, over the bus and through systemd's machinectl, on plain directories, on btrfs and on xfs.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <sstream>

#include "tests/integration/images_fixture.hpp"

namespace berth::test {
namespace {

// ---- clone, rename, read-only, remove (tests/data/systemd-252-image-operations.sh) ---------------------

TEST_F(Images, CloneRenameMarkReadOnlyAndRemoveOverTheBus) {
    std::string dir = make_image("deb");
    make_dirs(dir + "/usr/bin");
    write_file(dir + "/usr/bin/tool", "#!/bin/sh\n");
    ASSERT_EQ(::chmod((dir + "/usr/bin/tool").c_str(), 04755), 0);
    ASSERT_EQ(::link((dir + "/usr/bin/tool").c_str(), (dir + "/hardlink").c_str()), 0);
    ASSERT_EQ(::symlink("/etc/hostname", (dir + "/link").c_str()), 0);
    write_file(pool_ + "/disk.raw", std::string(8192, 'd'));
    start_machined();
    auto clone = manager("CloneImage", {"ssb", "deb", "deb2", "false"});
    ASSERT_TRUE(clone.exited(0)) << clone.describe();
    EXPECT_EQ(read_file(pool_ + "/deb2/etc/hostname"), "deb-host\n");
    struct stat tool {}, hard {};
    ASSERT_EQ(::stat((pool_ + "/deb2/usr/bin/tool").c_str(), &tool), 0);
    ASSERT_EQ(::stat((pool_ + "/deb2/hardlink").c_str(), &hard), 0);
    EXPECT_EQ(tool.st_mode & 07777, 04755u);
    EXPECT_EQ(tool.st_ino, hard.st_ino);
    EXPECT_EQ(property("deb2", "Type"), "s \"directory\"");

    EXPECT_TRUE(manager("RenameImage", {"ss", "deb2", "deb3"}).exited(0));
    EXPECT_FALSE(exists(pool_ + "/deb2"));
    EXPECT_EQ(read_file(pool_ + "/deb3/etc/hostname"), "deb-host\n");

    EXPECT_TRUE(manager("MarkImageReadOnly", {"sb", "deb3", "true"}).exited(0));
    EXPECT_EQ(property("deb3", "ReadOnly"), "b true");
    EXPECT_TRUE(manager("MarkImageReadOnly", {"sb", "deb3", "false"}).exited(0));
    EXPECT_EQ(property("deb3", "ReadOnly"), "b false");

    // The Image interface's own: Rename, Clone (read-only), Remove.
    EXPECT_TRUE(busctl({"call", "org.freedesktop.machine1", object("deb3"), kImageInterface, "Rename", "s", "deb4"}).exited(0));
    EXPECT_TRUE(busctl({"call", "org.freedesktop.machine1", object("disk"), kImageInterface, "Clone", "sb", "disk2", "true"}).exited(0));
    EXPECT_EQ(read_file(pool_ + "/disk2.raw"), std::string(8192, 'd'));
    EXPECT_EQ(property("disk2", "ReadOnly"), "b true");
    for (auto* name : {"deb4", "disk2"}) {
        auto r = busctl({"call", "org.freedesktop.machine1", object(name), kImageInterface, "Remove"});
        EXPECT_TRUE(r.exited(0)) << name << ": " << r.describe();
    }
    EXPECT_FALSE(exists(pool_ + "/deb4"));
    EXPECT_FALSE(exists(pool_ + "/disk2.raw"));
    EXPECT_TRUE(exists(pool_ + "/deb/etc/hostname"));
    // Nothing half-made is left in the pool.
    for (auto& entry : list_dir(pool_)) EXPECT_NE(entry.rfind(".#", 0), 0u) << entry;
}

TEST_F(Images, ImageOperationsRefuseWhatSystemdRefuses) {
    make_image("deb");
    make_image("other");
    start_machined();
    auto err = [&](const std::string& method, const std::vector<std::string>& args) {
        auto r = manager(method, args);
        EXPECT_FALSE(r.exited(0)) << method;
        return trim(r.err);
    };
    EXPECT_EQ(err("CloneImage", {"ssb", "deb", "bad/name", "false"}), "Call failed: Image name 'bad/name' is invalid.");
    EXPECT_EQ(err("RenameImage", {"ss", "deb", "a/b"}), "Call failed: Image name 'a/b' is invalid.");
    EXPECT_EQ(err("CloneImage", {"ssb", "nope", "x", "false"}), "Call failed: No image 'nope' known");
    EXPECT_EQ(err("RemoveImage", {"s", "nope"}), "Call failed: No image 'nope' known");
    EXPECT_EQ(err("CloneImage", {"ssb", "deb", "other", "false"}), "Call failed: Image \"other\" already exists");
    EXPECT_EQ(err("RenameImage", {"ss", "deb", "other"}), "Call failed: Image \"other\" already exists");
    for (auto [method, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"RemoveImage", {"s", ".host"}}, {"RenameImage", {"ss", ".host", "x"}}, {"MarkImageReadOnly", {"sb", ".host", "false"}}})
        EXPECT_NE(err(method, args).find("it is the host's root directory"), std::string::npos) << method;
    EXPECT_NE(err("CloneImage", {"ssb", ".host", "hostclone", "false"}).find("not supported"), std::string::npos);
    EXPECT_FALSE(exists(pool_ + "/hostclone"));
    EXPECT_TRUE(exists(pool_ + "/deb/etc/hostname"));
    EXPECT_TRUE(exists(pool_ + "/other/etc/hostname"));
}

// A running machine's image is neither removed, renamed nor made read-only under it: a machine registered
// with its root directory (as our nspawn and systemd-nspawn register), and one of our nspawn unregistered,
// by the image's lock. The pool holds a link to the image the machine runs.
TEST_F(Images, ARunningMachinesImageIsBusy) {
    ASSERT_EQ(::symlink(root_.c_str(), (pool_ + "/bb").c_str()), 0);
    start_machined();
    using Calls = std::vector<std::pair<std::string, std::vector<std::string>>>;
    const Calls changes = {{"RemoveImage", {"s", "bb"}}, {"RenameImage", {"ss", "bb", "bb2"}},
                           {"MarkImageReadOnly", {"sb", "bb", "true"}}};
    auto refused = [&](const std::string& why) {
        for (auto& [method, args] : changes) {
            auto r = manager(method, args);
            EXPECT_FALSE(r.exited(0)) << method;
            EXPECT_EQ(trim(r.err), "Call failed: Image \"bb\" is in use by " + why) << method;
        }
        EXPECT_TRUE(exists(pool_ + "/bb"));
        EXPECT_EQ(property("bb", "ReadOnly"), "b false");
    };
    {
        Process machine = start_registered("sleep 600");
        ASSERT_TRUE(wait_up(machine));
        refused("machine \"" + machine_ + "\"");
        machine.signal(SIGTERM);
        machine.wait(60s);
    }
    // Unregistered (machined learns it asynchronously) before the next machine, which is not registered.
    ASSERT_TRUE(eventually([&] { return machine_names() == std::vector<std::string>{".host"}; }));
    ::unlink((sync_ + "/up").c_str());
    {
        Process machine = start_nspawn(busybox_sh_args(root_, sync_, "sleep 600", {"--register=no"}), {.timeout = 600s});
        ASSERT_TRUE(wait_up(machine));
        refused("a running machine");
        machine.signal(SIGTERM);
        machine.wait(60s);
    }
    // Once no machine runs on it, the link (not the image it points to) is removed.
    auto removed = manager("RemoveImage", {"s", "bb"});
    EXPECT_TRUE(removed.exited(0)) << removed.describe();
    EXPECT_FALSE(exists(pool_ + "/bb"));
    EXPECT_TRUE(exists(root_ + "/bin"));
}

// What is mounted in an image is not the image: a clone has an empty directory there, and the image is not
// removed (nothing of it) while something is mounted in it.
TEST_F(Images, WhatIsMountedInAnImageIsNeitherClonedNorRemoved) {
    std::string dir = make_image("deb");
    make_dirs(dir + "/mnt/host");
    std::string outside = tmp_ + "/outside";
    make_dirs(outside);
    write_file(outside + "/secret", "the host's");
    ASSERT_TRUE(run("/usr/bin/mount", {"--bind", outside, dir + "/mnt/host"}).exited(0));
    start_machined();
    auto clone = manager("CloneImage", {"ssb", "deb", "copy", "false"});
    EXPECT_TRUE(clone.exited(0)) << clone.describe();
    EXPECT_TRUE(exists(pool_ + "/copy/mnt/host"));
    EXPECT_EQ(list_dir(pool_ + "/copy/mnt/host"), std::vector<std::string>{});
    // Refused before anything changes: a read-only image stays read-only.
    ASSERT_TRUE(manager("MarkImageReadOnly", {"sb", "deb", "true"}).exited(0));
    auto remove = manager("RemoveImage", {"s", "deb"});
    EXPECT_FALSE(remove.exited(0));
    EXPECT_EQ(trim(remove.err), "Call failed: Cannot remove image \"deb\" (" + dir + "): " + dir + "/mnt/host is mounted in it");
    EXPECT_TRUE(exists(dir + "/etc/hostname"));
    EXPECT_EQ(property("deb", "ReadOnly"), "b true");
    EXPECT_EQ(read_file(outside + "/secret"), "the host's");
    ASSERT_TRUE(run("/usr/bin/umount", {dir + "/mnt/host"}).exited(0));
    EXPECT_TRUE(manager("RemoveImage", {"s", "deb"}).exited(0));
    EXPECT_FALSE(exists(dir));
    EXPECT_EQ(read_file(outside + "/secret"), "the host's");
}

TEST_F(Images, SystemdMachinectlCloneRenameReadOnlyRemove) {
    make_image("deb");
    start_machined();
    for (std::vector<std::string> args : {std::vector<std::string>{"clone", "deb", "d4"}, {"rename", "d4", "d5"},
                                          {"read-only", "d5"}}) {
        auto r = systemd_tool("machinectl", args);
        EXPECT_TRUE(r.exited(0)) << r.describe();
        EXPECT_EQ(r.out + r.err, "") << r.describe();
    }
    EXPECT_EQ(read_file(pool_ + "/d5/etc/hostname"), "deb-host\n");
    EXPECT_EQ(property("d5", "ReadOnly"), "b true");
    EXPECT_TRUE(systemd_tool("machinectl", {"read-only", "d5", "no"}).exited(0));
    EXPECT_EQ(property("d5", "ReadOnly"), "b false");
    EXPECT_TRUE(systemd_tool("machinectl", {"remove", "d5"}).exited(0));
    EXPECT_FALSE(exists(pool_ + "/d5"));
    auto missing = systemd_tool("machinectl", {"remove", "nope"});
    EXPECT_FALSE(missing.exited(0));
    EXPECT_EQ(missing.err, "Could not remove image: No image 'nope' known\n");
    auto taken = systemd_tool("machinectl", {"clone", "deb", "deb"});
    EXPECT_FALSE(taken.exited(0));
    EXPECT_EQ(taken.err, "Could not clone image: Image \"deb\" already exists\n");
}

// A subvolume on the pool's btrfs is cloned as a snapshot (read-only at once when asked), removed by
// destroying it, and made read-only by its flag.
TEST_F(Images, BtrfsSubvolumesAreSnapshottedAndDestroyed) {
    ASSERT_TRUE(exists("/usr/sbin/mkfs.btrfs")) << "btrfs-progs is not installed (tests/fixtures/common.sh installs it)";
    {
        LoopMount btrfs(tmp_ + "/btrfs.img", pool_);
        ASSERT_EQ(btrfs.error(), "");
        ASSERT_TRUE(run("/usr/bin/btrfs", {"-q", "subvolume", "create", pool_ + "/web"}).exited(0));
        make_dirs(pool_ + "/web/etc");
        write_file(pool_ + "/web/etc/hostname", "web-host\n");
        start_machined();
        for (auto [name, read_only] : {std::pair{"snap", "false"}, {"frozen", "true"}}) {
            auto r = manager("CloneImage", {"ssb", "web", name, read_only});
            ASSERT_TRUE(r.exited(0)) << r.describe();
            EXPECT_EQ(property(name, "Type"), "s \"subvolume\"") << name;
            EXPECT_EQ(property(name, "ReadOnly"), std::string("b ") + read_only) << name;
            EXPECT_EQ(read_file(pool_ + "/" + name + "/etc/hostname"), "web-host\n");
            // A snapshot has its origin's UUID as parent; a copy into a new subvolume would have "-".
            auto show = run("/usr/bin/btrfs", {"subvolume", "show", pool_ + "/" + name});
            size_t at = show.out.find("Parent UUID:");
            ASSERT_NE(at, std::string::npos) << show.describe();
            std::string parent = show.out.substr(at + 12, show.out.find('\n', at) - at - 12);
            parent.erase(0, parent.find_first_not_of(" \t"));
            EXPECT_NE(parent, "-") << "not a snapshot: " << show.out;
            EXPECT_EQ(parent.size(), 36u) << show.out;
        }
        EXPECT_TRUE(manager("MarkImageReadOnly", {"sb", "snap", "true"}).exited(0));
        EXPECT_EQ(property("snap", "ReadOnly"), "b true");
        for (auto* name : {"snap", "frozen"}) {
            auto r = manager("RemoveImage", {"s", name});
            EXPECT_TRUE(r.exited(0)) << name << ": " << r.describe();
            EXPECT_FALSE(exists(pool_ + "/" + name)) << name;
        }
        auto list = run("/usr/bin/btrfs", {"subvolume", "list", pool_});
        EXPECT_EQ(list.out.find("snap"), std::string::npos) << list.out;
        EXPECT_NE(list.out.find("web"), std::string::npos) << list.out;
        stop_machined();
    }
    EXPECT_FALSE(exists(pool_ + "/web")) << "the btrfs filesystem is still mounted on " << pool_;
}

// On XFS (reflink, mkfs.xfs's default) a clone shares its files' blocks with the original: the same tree,
// and the filesystem's free space hardly moves for 48 MiB of data.
TEST_F(Images, XfsClonesAreReflinksOfTheSameTree) {
    ASSERT_TRUE(exists("/usr/sbin/mkfs.xfs")) << "xfsprogs is not installed (tests/fixtures/common.sh installs it)";
    {
        LoopMount xfs(tmp_ + "/xfs.img", pool_, "xfs");
        ASSERT_EQ(xfs.error(), "");
        std::string web = make_image("web");
        std::string blob(48 << 20, '\0');
        std::mt19937_64 rng(7);
        for (size_t i = 0; i < blob.size(); i += 8) {
            uint64_t v = rng();
            std::memcpy(&blob[i], &v, 8);
        }
        make_dirs(web + "/usr/bin");
        write_file(web + "/usr/bin/blob", blob);
        ASSERT_EQ(::chmod((web + "/usr/bin/blob").c_str(), 04755), 0);
        ASSERT_EQ(::chown((web + "/etc/hostname").c_str(), 1234, 5678), 0);
        ASSERT_EQ(::symlink("../etc/hostname", (web + "/usr/link").c_str()), 0);
        ASSERT_EQ(::mkfifo((web + "/etc/fifo").c_str(), 0640), 0);
        ASSERT_EQ(::mknod((web + "/etc/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
        ASSERT_TRUE(run("/usr/bin/sync", {"-f", pool_}).exited(0));
        struct statvfs before {}, after {};
        ASSERT_EQ(::statvfs(pool_.c_str(), &before), 0);
        start_machined();
        auto r = manager("CloneImage", {"ssb", "web", "copy", "false"});
        ASSERT_TRUE(r.exited(0)) << r.describe();
        ASSERT_TRUE(run("/usr/bin/sync", {"-f", pool_}).exited(0));
        ASSERT_EQ(::statvfs(pool_.c_str(), &after), 0);
        EXPECT_EQ(tree_snapshot(web), tree_snapshot(pool_ + "/copy"));
        EXPECT_TRUE(read_file(pool_ + "/copy/usr/bin/blob") == blob) << "the clone's data differs";
        uint64_t used = (before.f_bfree - after.f_bfree) * before.f_frsize;
        EXPECT_LT(used, 4u << 20) << "the clone took " << used << " bytes: its data was copied, not reflinked";
        EXPECT_TRUE(manager("RemoveImage", {"s", "copy"}).exited(0));
        stop_machined();
    }
    EXPECT_FALSE(exists(pool_ + "/web")) << "the xfs filesystem is still mounted on " << pool_;
}

// CleanPool removes the hidden images ("hidden") or all of them ("all", read-only ones too, as 252), never
// .host or one a machine runs on, and answers each removed image with the disk space it freed: a raw
// file's blocks, a directory's measured before it goes (where 252 answers UINT64_MAX).
TEST_F(Images, CleanPoolRemovesHiddenOrAllImagesButThoseInUse) {
    make_image(".old");
    make_image("web");
    make_image("ro");
    write_file(pool_ + "/disk.raw", std::string(8192, 'x'));
    struct stat raw {};
    ASSERT_EQ(::stat((pool_ + "/disk.raw").c_str(), &raw), 0);
    ASSERT_EQ(::symlink(root_.c_str(), (pool_ + "/.held").c_str()), 0);
    start_machined();
    ASSERT_TRUE(manager("MarkImageReadOnly", {"sb", "ro", "true"}).exited(0));
    Process machine = start_registered("sleep 600");
    ASSERT_TRUE(wait_up(machine));
    auto bogus = manager("CleanPool", {"s", "bogus"});
    EXPECT_FALSE(bogus.exited(0));
    EXPECT_EQ(trim(bogus.err), "Call failed: Unknown mode 'bogus'.");
    // "a(st) N "name" freed ..." as name -> freed.
    auto removed = [&](const std::string& mode) {
        auto r = manager("CleanPool", {"s", mode});
        EXPECT_TRUE(r.exited(0)) << r.describe();
        std::map<std::string, uint64_t> out;
        std::istringstream in(r.out);
        std::string sig, name;
        size_t n = 0;
        uint64_t freed = 0;
        in >> sig >> n;
        for (size_t i = 0; i < n && in >> name >> freed; i++) out[name.substr(1, name.size() - 2)] = freed;
        return out;
    };
    auto hidden = removed("hidden");
    ASSERT_EQ(hidden.size(), 1u);
    ASSERT_EQ(hidden.count(".old"), 1u);
    EXPECT_GT(hidden[".old"], 0u);
    EXPECT_LT(hidden[".old"], uint64_t{1} << 20);
    EXPECT_FALSE(exists(pool_ + "/.old"));
    auto all = removed("all");
    EXPECT_EQ(all.size(), 3u);
    EXPECT_EQ(all.count("web") + all.count("ro"), 2u);
    EXPECT_EQ(all["disk"], static_cast<uint64_t>(raw.st_blocks) * 512);
    EXPECT_EQ(list_dir(pool_), std::vector<std::string>{".held"});
    EXPECT_TRUE(exists(root_ + "/bin"));
    EXPECT_TRUE(machine.running());
    EXPECT_EQ(property("_2ehost", "Type"), "s \"directory\"");
    // systemd's machinectl clean says what went, with the space it freed (on stderr, as it logs).
    make_image(".again");
    auto clean = systemd_tool("machinectl", {"clean"});
    EXPECT_TRUE(clean.exited(0)) << clean.describe();
    EXPECT_EQ(clean.err.rfind("Removed image '.again'. Freed exclusive disk space: ", 0), 0u) << clean.describe();
    EXPECT_NE(clean.err.find("\nRemoved 1 images in total. Total freed exclusive disk space: "), std::string::npos)
        << clean.describe();
    EXPECT_FALSE(exists(pool_ + "/.again"));
    EXPECT_TRUE(exists(pool_ + "/.held"));
    machine.signal(SIGTERM);
    machine.wait(60s);
}

// On a btrfs pool, an image that is a subvolume gets a disk space limit through btrfs quota, turned on at
// the first limit (where 252 answers "Transport endpoint is not connected"): Limit and Usage are btrfs's
// figures, writing past the limit fails with EDQUOT, UINT64_MAX lifts it. The pool's limit counts its
// images, clones made later too. An image that is no subvolume cannot be limited (NotSupported, as
// 252), nor .host; a limit above INT64_MAX is out of range (as 252).
TEST_F(Images, BtrfsImagesAndThePoolGetDiskSpaceLimits) {
    ASSERT_TRUE(exists("/usr/sbin/mkfs.btrfs")) << "btrfs-progs is not installed (tests/fixtures/common.sh installs it)";
    {
        LoopMount btrfs(tmp_ + "/btrfs.img", pool_);
        ASSERT_EQ(btrfs.error(), "");
        ASSERT_TRUE(run("/usr/bin/btrfs", {"-q", "subvolume", "create", pool_ + "/web"}).exited(0));
        make_dirs(pool_ + "/plain");
        start_machined();
        EXPECT_EQ(property("web", "Limit"), "t 18446744073709551615");
        // No limit to lift: quota stays off.
        ASSERT_TRUE(manager("SetImageLimit", {"st", "web", "18446744073709551615"}).exited(0));
        ASSERT_TRUE(manager("SetPoolLimit", {"t", "18446744073709551615"}).exited(0));
        auto off = run("/usr/bin/btrfs", {"qgroup", "show", pool_});
        EXPECT_NE(off.err.find("quotas not enabled"), std::string::npos) << off.describe();
        auto limited = manager("SetImageLimit", {"st", "web", std::to_string(20 << 20)});
        ASSERT_TRUE(limited.exited(0)) << limited.describe();
        EXPECT_EQ(property("web", "Limit"), "t " + std::to_string(20 << 20));
        auto dd = [&](const std::string& file, int mib) {
            return run("/usr/bin/dd", {"if=/dev/zero", "of=" + pool_ + "/web/" + file, "bs=1M",
                                       "count=" + std::to_string(mib), "conv=fsync", "status=none"});
        };
        auto over = dd("big", 30);
        EXPECT_FALSE(over.exited(0));
        EXPECT_NE(over.err.find("Disk quota exceeded"), std::string::npos) << over.describe();
        ASSERT_TRUE(run("/usr/bin/sync", {"-f", pool_ + "/web"}).exited(0));
        uint64_t usage = std::stoull(property("web", "Usage").substr(2));
        EXPECT_GE(usage, uint64_t{10} << 20);
        EXPECT_LE(usage, uint64_t{21} << 20);
        // Lifted: the write goes through; the Image's own SetLimit sets one again.
        ASSERT_TRUE(manager("SetImageLimit", {"st", "web", "18446744073709551615"}).exited(0));
        EXPECT_EQ(property("web", "Limit"), "t 18446744073709551615");
        auto more = dd("more", 25);
        EXPECT_TRUE(more.exited(0)) << more.describe();
        auto own = busctl({"call", "org.freedesktop.machine1", object("web"), kImageInterface, "SetLimit", "t",
                           std::to_string(uint64_t{200} << 20)});
        EXPECT_TRUE(own.exited(0)) << own.describe();
        EXPECT_EQ(property("web", "Limit"), "t " + std::to_string(uint64_t{200} << 20));
        // What cannot be limited.
        auto plain = manager("SetImageLimit", {"st", "plain", "1048576"});
        EXPECT_FALSE(plain.exited(0));
        EXPECT_EQ(trim(plain.err), "Call failed: Cannot limit image \"plain\": it is a directory, and a disk space "
                                   "limit needs a btrfs subvolume (btrfs quota)");
        auto host = manager("SetImageLimit", {"st", ".host", "1048576"});
        EXPECT_FALSE(host.exited(0));
        EXPECT_EQ(trim(host.err), "Call failed: Image \".host\" is read-only: it cannot be limited");
        for (auto* method : {"SetImageLimit", "SetPoolLimit"}) {
            auto r = std::string(method) == "SetPoolLimit" ? manager(method, {"t", "9223372036854775808"})
                                                          : manager(method, {"st", "web", "9223372036854775808"});
            EXPECT_FALSE(r.exited(0)) << method;
            EXPECT_EQ(trim(r.err), "Call failed: New limit out of range") << method;
        }
        // The pool: its own files and every image in it.
        EXPECT_EQ(manager_property("PoolLimit"), "t 18446744073709551615");
        auto pool = manager("SetPoolLimit", {"t", std::to_string(uint64_t{150} << 20)});
        ASSERT_TRUE(pool.exited(0)) << pool.describe();
        EXPECT_EQ(manager_property("PoolLimit"), "t " + std::to_string(uint64_t{150} << 20));
        ASSERT_TRUE(run("/usr/bin/sync", {"-f", pool_}).exited(0));
        uint64_t pool_usage = std::stoull(manager_property("PoolUsage").substr(2));
        EXPECT_GE(pool_usage, usage + (uint64_t{25} << 20));
        ASSERT_TRUE(manager("CloneImage", {"ssb", "web", "snap", "false"}).exited(0));
        auto groups = run("/usr/bin/btrfs", {"qgroup", "show", "-p", pool_});
        std::string snap_id = trim(run("/usr/bin/btrfs", {"inspect-internal", "rootid", pool_ + "/snap"}).out);
        EXPECT_NE(groups.out.find("0/" + snap_id + " "), std::string::npos) << groups.out;
        std::istringstream lines(groups.out);
        std::string line;
        bool member = false;
        while (std::getline(lines, line))
            if (line.rfind("0/" + snap_id + " ", 0) == 0) member = line.find("255/5") != std::string::npos;
        EXPECT_TRUE(member) << "the clone is not counted in the pool's limit:\n" << groups.out;
        // Removed, it leaves the pool's qgroup (its own goes once btrfs has dropped the subvolume).
        ASSERT_TRUE(manager("RemoveImage", {"s", "snap"}).exited(0));
        groups = run("/usr/bin/btrfs", {"qgroup", "show", "-p", pool_});
        lines = std::istringstream(groups.out);
        while (std::getline(lines, line))
            EXPECT_FALSE(line.rfind("0/" + snap_id + " ", 0) == 0 && line.find("255/5") != std::string::npos)
                << "the removed clone still counts in the pool's limit:\n" << groups.out;
        // systemd's machinectl set-limit: an image's, the pool's.
        auto sd = systemd_tool("machinectl", {"set-limit", "web", "64M"});
        EXPECT_TRUE(sd.exited(0)) << sd.describe();
        EXPECT_EQ(property("web", "Limit"), "t " + std::to_string(64 << 20));
        sd = systemd_tool("machinectl", {"set-limit", "120M"});
        EXPECT_TRUE(sd.exited(0)) << sd.describe();
        EXPECT_EQ(manager_property("PoolLimit"), "t " + std::to_string(uint64_t{120} << 20));
        stop_machined();
    }
    EXPECT_FALSE(exists(pool_ + "/web")) << "the btrfs filesystem is still mounted on " << pool_;
}

// On a pool that is no btrfs there is no limit to set: NotSupported, saying why.
TEST_F(Images, LimitsNeedBtrfs) {
    make_image("web");
    start_machined();
    EXPECT_EQ(manager_property("PoolUsage"), "t 18446744073709551615");
    auto pool = manager("SetPoolLimit", {"t", "104857600"});
    EXPECT_FALSE(pool.exited(0));
    EXPECT_EQ(trim(pool.err), "Call failed: Cannot limit the pool " + pool_ +
                                  ": a disk space limit needs a pool that is a btrfs subvolume (btrfs quota)");
    auto sd = systemd_tool("machinectl", {"set-limit", "web", "100M"});
    EXPECT_FALSE(sd.exited(0));
    EXPECT_EQ(sd.err, "Could not set limit: Cannot limit image \"web\": it is a directory, and a disk space limit "
                      "needs a btrfs subvolume (btrfs quota)\n");
}

}  // namespace
}  // namespace berth::test
