// User namespaces, the default: root in the machine is an unprivileged 64K range on the host, picked
// free and locked while the machine runs; the image's files get the machine's IDs through an idmapped
// mount (nothing on disk changes), or a one-time recorded chown where asked; the machine's cgroup belongs
// to its root.
#include <sys/mount.h>
#include <sys/stat.h>

#include <sstream>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

struct IdMap {
    unsigned long inside = 0, outside = 0, count = 0;
};

IdMap parse_map(const std::string& text) {
    IdMap m;
    std::istringstream in(text);
    in >> m.inside >> m.outside >> m.count;
    return m;
}

uid_t owner(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
}

std::string range_lock(unsigned long base) { return "/run/berth/locks/uidrange-" + std::to_string(base); }

class UserNamespace : public BusyboxTest {
protected:
    // The machine's uid_map as the host sees it (host IDs in the second column).
    IdMap map_of(const Process& p) const {
        return parse_map(read_file("/proc/" + std::to_string(guest_pid1(p.pid())) + "/uid_map"));
    }
    Process start_waiting(const std::vector<std::string>& opts = {}) const {
        return start_sh("while [ ! -e /sync/done ]; do sleep 0.1; done", opts);
    }
    RunResult finish(Process& p) const {
        write_file(sync_ + "/done", "");
        return p.wait(20s);
    }
};

TEST_F(UserNamespace, DefaultMapsRootToAFreeRangeAlignedTo64K) {
    auto r = sh("cat /proc/self/uid_map /proc/self/gid_map");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::istringstream in(r.out);
    std::string uid_line, gid_line;
    std::getline(in, uid_line);
    std::getline(in, gid_line);
    IdMap uid = parse_map(uid_line), gid = parse_map(gid_line);
    EXPECT_EQ(uid.inside, 0u);
    EXPECT_EQ(uid.count, 65536u);
    EXPECT_EQ(uid.outside % 65536, 0u) << uid_line;
    EXPECT_GE(uid.outside, 0x80000u) << "clear of ordinary host users: " << uid_line;
    EXPECT_EQ(gid.outside, uid.outside) << gid_line;
}

TEST_F(UserNamespace, RootOfTheMachineIsItsRangeOnTheHost) {
    auto p = start_waiting();
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    IdMap m = map_of(p);
    std::string status = read_file("/proc/" + std::to_string(guest_pid1(p.pid())) + "/status");
    EXPECT_NE(status.find("Uid:\t" + std::to_string(m.outside) + "\t"), std::string::npos) << status;
    EXPECT_TRUE(finish(p).exited(0));
}

TEST_F(UserNamespace, TwoRunningMachinesNeverShareARangeAndBothAreReleasedAtExit) {
    std::string other = tmp_ + "/bb2-" + id_, other_sync = tmp_ + "/sync2";
    ASSERT_TRUE(make_busybox_rootfs(other).exited(0));
    make_dirs(other_sync);
    auto a = start_waiting();
    auto b = start_nspawn({"-q", "--register=no", "-D", other, "--bind=" + other_sync + ":/sync:idmap", "/bin/sh", "-c",
                           "touch /sync/up; while [ ! -e /sync/done ]; do sleep 0.1; done"},
                          {.timeout = 60s});
    ASSERT_TRUE(wait_up(a)) << a.wait(0ms).describe();
    ASSERT_TRUE(wait_for_file(other_sync + "/up", b, 20s)) << b.wait(0ms).describe();
    IdMap ma = map_of(a), mb = map_of(b);
    EXPECT_NE(ma.outside, mb.outside);
    EXPECT_TRUE(exists(range_lock(ma.outside)));
    EXPECT_TRUE(exists(range_lock(mb.outside)));
    EXPECT_TRUE(finish(a).exited(0));
    write_file(other_sync + "/done", "");
    EXPECT_TRUE(b.wait(20s).exited(0));
    EXPECT_FALSE(exists(range_lock(ma.outside)));
    EXPECT_FALSE(exists(range_lock(mb.outside)));
}

TEST_F(UserNamespace, AFixedRangeInUseIsRefusedNamingIt) {
    auto a = start_waiting({"--private-users=1048576"});
    ASSERT_TRUE(wait_up(a)) << a.wait(0ms).describe();
    std::string other = tmp_ + "/bb2-" + id_;
    ASSERT_TRUE(make_busybox_rootfs(other).exited(0));
    auto r = nspawn({"-q", "--register=no", "-D", other, "--private-users=1048576", "/bin/true"});
    EXPECT_TRUE(refused_with(r, "1048576-1114111"));
    EXPECT_TRUE(finish(a).exited(0));
}

TEST_F(UserNamespace, FixedBaseAndRangeAreMappedAsGiven) {
    auto r = sh("cat /proc/self/uid_map", {"--private-users=1048576:1000"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    IdMap m = parse_map(r.out);
    EXPECT_EQ(m.outside, 1048576u);
    EXPECT_EQ(m.count, 1000u);
}

TEST_F(UserNamespace, IdentityMapsTheFirst64KIdsToThemselves) {
    auto r = sh("cat /proc/self/uid_map", {"--private-users=identity"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    IdMap m = parse_map(r.out);
    EXPECT_EQ(m.outside, 0u);
    EXPECT_EQ(m.count, 65536u);
}

TEST_F(UserNamespace, YesOnAnImageOwnedByRootIsRefused) {
    EXPECT_TRUE(refused_with(sh("true", {"--private-users=yes"}), "--private-users=pick"));
}

// The idmapped root: files host root owns are root's inside, what root inside creates is host root's on
// disk, and nothing is chowned.
TEST_F(UserNamespace, IdmappedImageShowsRootsFilesAsRootAndChangesNoOwner) {
    auto before = tree_snapshot(root_ + "/etc");
    auto r = sh("stat -c %u:%g /etc/passwd; touch /created-inside; stat -c %u /created-inside");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "0:0\n0\n");
    EXPECT_EQ(owner(root_ + "/created-inside"), 0u);
    EXPECT_EQ(owner(root_), 0u);
    EXPECT_EQ(tree_snapshot(root_ + "/etc"), before);
}

TEST_F(UserNamespace, OwnershipOffShowsTheImageAsNobodys) {
    auto r = sh("stat -c %u /etc/passwd", {"--private-users-ownership=off"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "65534\n");
}

// The fallback: the image's files shifted into the range once, recorded as the owner of its root
// directory; the next start (default ownership) picks that range again and neither chowns nor maps twice.
TEST_F(UserNamespace, ChownShiftsTheImageOnceAndLaterStartsUseItAsItIs) {
    auto first = sh("stat -c %u /etc/passwd; cat /proc/self/uid_map", {"--private-users-ownership=chown"});
    ASSERT_TRUE(first.exited(0)) << first.describe();
    uid_t base = owner(root_);
    EXPECT_NE(base, 0u);
    EXPECT_EQ(base % 65536, 0u);
    EXPECT_EQ(owner(root_ + "/etc/passwd"), base);
    EXPECT_EQ(first.out.substr(0, 2), "0\n");
    EXPECT_EQ(parse_map(first.out.substr(2)).outside, base);

    auto second = sh("stat -c %u /etc/passwd; cat /proc/self/uid_map");
    ASSERT_TRUE(second.exited(0)) << second.describe();
    EXPECT_EQ(second.out.substr(0, 2), "0\n") << "mapped twice: " << second.out;
    EXPECT_EQ(parse_map(second.out.substr(2)).outside, base) << "the recorded range was not reused";
    EXPECT_EQ(owner(root_ + "/etc/passwd"), base);
}

// A chown writes the whole image: never under -x or --read-only, which share it with other machines.
TEST_F(UserNamespace, ChownIsRefusedWithEphemeralOrReadOnly) {
    auto before = tree_snapshot(root_);
    for (auto* mode : {"--ephemeral", "--read-only"}) {
        auto r = sh("echo ran", {"--private-users-ownership=chown", mode});
        EXPECT_TRUE(refused_with(r, "--private-users-ownership=chown")) << mode;
        EXPECT_NE(r.err.find(mode), std::string::npos) << r.describe();
    }
    EXPECT_EQ(owner(root_), 0u);
    EXPECT_EQ(owner(root_ + "/etc/passwd"), 0u);
    EXPECT_EQ(tree_snapshot(root_), before);
}

// The automatic fallback (a filesystem without idmapped mounts: ramfs) never chowns a shared image either.
TEST_F(UserNamespace, WithoutIdmappedMountsEphemeralAndReadOnlyAreRefusedNotChowned) {
    std::string mnt = tmp_ + "/ramfs";
    make_dirs(mnt);
    ASSERT_EQ(::mount("ramfs", mnt.c_str(), "ramfs", 0, nullptr), 0);
    struct Unmount {
        std::string where;
        ~Unmount() { ::umount2(where.c_str(), MNT_DETACH); }
    } unmount{mnt};
    std::string image = mnt + "/bb";
    auto made = make_busybox_rootfs(image);
    ASSERT_TRUE(made.exited(0)) << made.describe();
    for (auto* mode : {"--ephemeral", "--read-only"}) {
        auto r = nspawn({"-q", "--register=no", "-D", image, mode, "/bin/true"});
        EXPECT_TRUE(refused_with(r, "cannot do idmapped mounts")) << mode;
        EXPECT_EQ(owner(image), 0u) << mode;
        EXPECT_EQ(owner(image + "/etc/passwd"), 0u) << mode;
    }
}

// While one machine uses an image read-only, another may not chown it under it (the image lock).
TEST_F(UserNamespace, ChownWaitsForNoMachineUsingTheImage) {
    make_dirs(root_ + "/sync");  // the mount point: a read-only image gets none made
    auto reader = start_sh("while [ ! -e /sync/done ]; do sleep 0.1; done", {"--read-only"});
    ASSERT_TRUE(wait_up(reader)) << reader.wait(0ms).describe();
    auto r = nspawn({"-q", "--register=no", "-D", root_, "-M", "other-" + id_, "--private-users-ownership=chown",
                     "/bin/true"});
    EXPECT_TRUE(r.exited(1)) << r.describe();
    EXPECT_EQ(owner(root_ + "/etc/passwd"), 0u) << "chowned under a running machine";
    EXPECT_TRUE(finish(reader).exited(0));
}

// Ranges are locked as ranges: a fixed range that overlaps a running machine's is refused, even when
// their bases differ.
TEST_F(UserNamespace, AnOverlappingFixedRangeIsRefused) {
    auto a = start_waiting({"--private-users=1048576:65536"});
    ASSERT_TRUE(wait_up(a)) << a.wait(0ms).describe();
    std::string other = tmp_ + "/bb2-" + id_;
    ASSERT_TRUE(make_busybox_rootfs(other).exited(0));
    for (auto* range : {"1081344:65536", "1114111:10", "1000000:50000"}) {
        auto r = nspawn({"-q", "--register=no", "-D", other, std::string("--private-users=") + range, "/bin/true"});
        EXPECT_TRUE(refused_with(r, "in use by another running machine")) << range;
    }
    EXPECT_TRUE(finish(a).exited(0));
}

// pick never hands out a block that a running machine's unaligned fixed range touches.
TEST_F(UserNamespace, PickAvoidsABlockAFixedRangeTouches) {
    auto a = start_waiting({"--private-users=524389:100"});  // inside pick's first block, 524288
    ASSERT_TRUE(wait_up(a)) << a.wait(0ms).describe();
    std::string other = tmp_ + "/bb2-" + id_;
    ASSERT_TRUE(make_busybox_rootfs(other).exited(0));
    auto r = nspawn({"-q", "--register=no", "-D", other, "/bin/cat", "/proc/self/uid_map"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    IdMap m = parse_map(r.out);
    EXPECT_FALSE(m.outside < 524389 + 100 && 524389 < m.outside + m.count) << r.out;
    EXPECT_TRUE(finish(a).exited(0));
}

// The owner of an image's root directory is whatever its maker chose: pick reuses it only when it is a
// range pick would have chosen, and --private-users=yes refuses host IDs and impossible maps.
TEST_F(UserNamespace, AnImageOwnedByAHostOrImpossibleIdIsNotTakenAsItsRange) {
    for (uid_t owner : {65536u, 1000u, 0xFFFF0000u}) {
        ASSERT_EQ(::chown(root_.c_str(), owner, owner), 0);
        auto r = sh("cat /proc/self/uid_map");
        ASSERT_TRUE(r.exited(0)) << r.describe();
        IdMap m = parse_map(r.out);
        EXPECT_NE(m.outside, owner) << "pick took the image owner " << owner;
        EXPECT_GE(m.outside, 0x80000u) << r.out;
    }
    ASSERT_EQ(::chown(root_.c_str(), 1000, 1000), 0);
    EXPECT_TRUE(refused_with(sh("true", {"--private-users=yes"}), "IDs below 65536"));
    ASSERT_EQ(::chown(root_.c_str(), 0xFFFF0000u, 0xFFFF0000u), 0);
    EXPECT_TRUE(refused_with(sh("true", {"--private-users=yes"}), "passes the largest ID"));
    ASSERT_EQ(::chown(root_.c_str(), 0, 0), 0);
}

TEST_F(UserNamespace, MachineCgroupBelongsToTheMachinesRoot) {
    auto p = start_sh("mkdir /sys/fs/cgroup/child && echo made > /sync/made; "
                      "while [ ! -e /sync/done ]; do sleep 0.1; done; rmdir /sys/fs/cgroup/child");
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    IdMap m = map_of(p);
    std::string machine_cg = cgroup2_root() + unified_cgroup_of(guest_pid1(p.pid()));
    EXPECT_EQ(owner(machine_cg), m.outside) << machine_cg;
    EXPECT_EQ(owner(machine_cg + "/cgroup.procs"), m.outside);
    ASSERT_TRUE(wait_for_file(sync_ + "/made", p, 20s));
    EXPECT_TRUE(finish(p).exited(0));
}

}  // namespace
}  // namespace berth::test
