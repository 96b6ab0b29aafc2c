// common/copy_tree: the copy machined's CopyTo/CopyFrom run, on a scratch tree (no root needed; owners
// are mapped to the test's own ids).
#include "common/copy_tree.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <endian.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "common/fd.hpp"
#include "temp_tree.hpp"

namespace berth {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

struct stat lstat_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
}

// The value of extended attribute `name` of `path` itself (never followed), or "" with errno set.
std::string xattr_of(const std::string& path, const std::string& name) {
    std::vector<char> buf(65536);
    ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    return n < 0 ? std::string() : std::string(buf.data(), static_cast<size_t>(n));
}

// POSIX ACL xattrs (linux/posix_acl_xattr.h): {le32 version 2} then {le16 tag, le16 perm, le32 id}.
struct AclEntry {
    uint16_t tag, perm;
    uint32_t id;
    bool operator==(const AclEntry&) const = default;
};
constexpr uint16_t kUserObj = 0x01, kUser = 0x02, kGroupObj = 0x04, kGroup = 0x08, kMask = 0x10, kOther = 0x20;
constexpr uint32_t kNoId = 0xffffffff;

std::string acl_bytes(const std::vector<AclEntry>& entries) {
    std::string out(4, '\0');
    uint32_t version = htole32(2);
    std::memcpy(out.data(), &version, 4);
    for (auto& e : entries) {
        char b[8];
        uint16_t tag = htole16(e.tag), perm = htole16(e.perm);
        uint32_t id = htole32(e.id);
        std::memcpy(b, &tag, 2);
        std::memcpy(b + 2, &perm, 2);
        std::memcpy(b + 4, &id, 4);
        out.append(b, 8);
    }
    return out;
}

std::vector<AclEntry> acl_entries(const std::string& v) {
    std::vector<AclEntry> out;
    for (size_t at = 4; at + 8 <= v.size(); at += 8) {
        uint16_t tag, perm;
        uint32_t id;
        std::memcpy(&tag, v.data() + at, 2);
        std::memcpy(&perm, v.data() + at + 2, 2);
        std::memcpy(&id, v.data() + at + 4, 4);
        out.push_back({le16toh(tag), le16toh(perm), le32toh(id)});
    }
    return out;
}

class CopyTree : public ::testing::Test {
protected:
    Status copy(const std::string& from, const std::string& to, CopyTreeOptions o = {}) {
        UniqueFd src(::open(src_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        UniqueFd dst(::open(dst_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        return copy_tree_at(src.get(), from, dst.get(), to, o);
    }
    TempTree t;
    std::string src_dir = t.mkdir("src"), dst_dir = t.mkdir("dst");
};

TEST_F(CopyTree, CopiesAFileWithContentModeAndTimes) {
    std::string f = t.write("src/f", "data\n", 0640);
    const timespec times[2] = {{1000000000, 0}, {1200000000, 5}};
    ASSERT_EQ(::utimensat(AT_FDCWD, f.c_str(), times, 0), 0);
    ASSERT_TRUE(copy("f", "g").ok());
    EXPECT_EQ(slurp(dst_dir + "/g"), "data\n");
    auto st = lstat_of(dst_dir + "/g");
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
    EXPECT_EQ(st.st_mtim.tv_nsec, 5);
}

TEST_F(CopyTree, WithoutKeepHolesEveryByteIsWritten) {
    std::string f = t.write("src/sparse", "head");
    ASSERT_EQ(::truncate(f.c_str(), 8 << 20), 0);
    ASSERT_TRUE(copy("sparse", "sparse").ok());
    EXPECT_EQ(slurp(dst_dir + "/sparse"), slurp(f));
    EXPECT_GE(lstat_of(dst_dir + "/sparse").st_blocks * 512, 8 << 20) << "a copy into a machine is written out, as systemd's";
}

TEST_F(CopyTree, SparseFilesStaySparseWithKeepHoles) {
    // 64 MiB with data at the start, in the middle and at the very end; holes between.
    std::string f = t.write("src/sparse", "head");
    {
        UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
        ASSERT_EQ(::pwrite(fd.get(), "middle", 6, 32 << 20), 6);
        ASSERT_EQ(::pwrite(fd.get(), "tail", 4, (64 << 20) - 4), 4);
    }
    // And one that ends in a hole.
    std::string g = t.write("src/hole-at-end", "x");
    ASSERT_EQ(::truncate(g.c_str(), 16 << 20), 0);
    CopyTreeOptions o;
    o.keep_holes = true;
    ASSERT_TRUE(copy("sparse", "sparse", o).ok());
    ASSERT_TRUE(copy("hole-at-end", "hole-at-end", o).ok());
    EXPECT_EQ(slurp(dst_dir + "/sparse"), slurp(f));
    EXPECT_EQ(slurp(dst_dir + "/hole-at-end"), slurp(g));
    auto st = lstat_of(dst_dir + "/sparse");
    EXPECT_EQ(st.st_size, 64 << 20);
    EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the holes were written out";
    EXPECT_EQ(lstat_of(dst_dir + "/hole-at-end").st_size, 16 << 20);
    EXPECT_LT(lstat_of(dst_dir + "/hole-at-end").st_blocks * 512, 1 << 20);
}

TEST_F(CopyTree, AnExistingDestinationIsFileExistsUnlessReplacing) {
    t.write("src/f", "new");
    t.write("dst/f", "old");
    auto s = copy("f", "f");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, EEXIST);
    EXPECT_NE(s.error().message.find("f"), std::string::npos) << s.error().message;
    EXPECT_EQ(slurp(dst_dir + "/f"), "old");
    ASSERT_TRUE(copy("f", "f", {.replace = true}).ok());
    EXPECT_EQ(slurp(dst_dir + "/f"), "new");
}

TEST_F(CopyTree, DirectoriesMergeKeepingWhatExistsUnlessReplacing) {
    t.write("src/d/a", "src a");
    t.write("src/d/sub/b", "src b");
    t.write("dst/d/a", "dst a");
    ASSERT_TRUE(copy("d", "d").ok());
    EXPECT_EQ(slurp(dst_dir + "/d/a"), "dst a");
    EXPECT_EQ(slurp(dst_dir + "/d/sub/b"), "src b");
    ASSERT_TRUE(copy("d", "d", {.replace = true}).ok());
    EXPECT_EQ(slurp(dst_dir + "/d/a"), "src a");
}

TEST_F(CopyTree, SymlinksAreCopiedNotFollowed) {
    t.write("outside", "secret");
    t.symlink(t / "outside", "src/d/link");
    t.symlink("../nowhere", "src/top");
    ASSERT_TRUE(copy("d", "d").ok());
    ASSERT_TRUE(copy("top", "top").ok());
    EXPECT_TRUE(S_ISLNK(lstat_of(dst_dir + "/d/link").st_mode));
    EXPECT_EQ(std::filesystem::read_symlink(dst_dir + "/d/link").string(), t / "outside");
    EXPECT_EQ(std::filesystem::read_symlink(dst_dir + "/top").string(), "../nowhere");
}

TEST_F(CopyTree, ASymlinkAtTheDestinationIsNeverWrittenThrough) {
    t.write("src/f", "planted");
    std::string victim = t.write("victim", "untouched");
    t.symlink(victim, "dst/f");
    EXPECT_EQ(copy("f", "f").error().code, EEXIST);
    ASSERT_TRUE(copy("f", "f", {.replace = true}).ok());
    EXPECT_EQ(slurp(victim), "untouched");
    EXPECT_TRUE(S_ISREG(lstat_of(dst_dir + "/f").st_mode));
    // A symlinked directory at the destination is not merged into either.
    t.mkdir("elsewhere");
    t.write("src/d/x", "x");
    t.symlink(t / "elsewhere", "dst/d");
    EXPECT_FALSE(copy("d", "d").ok());
    EXPECT_FALSE(std::filesystem::exists(t / "elsewhere/x"));
}

TEST_F(CopyTree, FifosAreMadeAnew) {
    ASSERT_EQ(::mkfifo((src_dir + "/fifo").c_str(), 0604), 0);
    ASSERT_TRUE(copy("fifo", "fifo").ok());
    auto st = lstat_of(dst_dir + "/fifo");
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0604u);
}

TEST_F(CopyTree, EmptyFilesAndDirectoriesCopy) {
    t.write("src/d/empty", "", 0600);
    t.mkdir("src/d/emptydir");
    ASSERT_TRUE(copy("d", "e").ok());
    EXPECT_EQ(lstat_of(dst_dir + "/e/empty").st_size, 0);
    EXPECT_TRUE(S_ISDIR(lstat_of(dst_dir + "/e/emptydir").st_mode));
}

TEST_F(CopyTree, SetidBitsAreDroppedWhenAskedButNotOnDirectories) {
    t.write("src/d/prog", "#!/bin/sh\n", 06755);
    ASSERT_EQ(::chmod((src_dir + "/d").c_str(), 02755), 0);
    ASSERT_TRUE(copy("d", "d", {.drop_setid = true}).ok());
    EXPECT_EQ(lstat_of(dst_dir + "/d/prog").st_mode & 07777, 0755u);
    EXPECT_EQ(lstat_of(dst_dir + "/d").st_mode & 07777, 02755u);
}

TEST_F(CopyTree, OwnersGoThroughTheMaps) {
    t.write("src/d/f", "x");
    std::set<uint32_t> asked;
    CopyTreeOptions o;
    o.map_uid = [&](uint32_t id) {
        asked.insert(id);
        return static_cast<uint32_t>(::getuid());
    };
    o.map_gid = [&](uint32_t) { return static_cast<uint32_t>(::getgid()); };
    ASSERT_TRUE(copy("d", "d", o).ok());
    EXPECT_EQ(asked, std::set<uint32_t>{static_cast<uint32_t>(::getuid())});
    EXPECT_EQ(lstat_of(dst_dir + "/d/f").st_uid, ::getuid());
}

TEST_F(CopyTree, CopyingADirectoryIntoItselfStops) {
    t.write("src/d/f", "x");
    UniqueFd src(::open(src_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    UniqueFd inside(::open((src_dir + "/d").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    auto s = copy_tree_at(src.get(), "d", inside.get(), "copy", {});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("inside the source"), std::string::npos) << s.error().message;
}

TEST_F(CopyTree, ATreeDeeperThanTheLimitIsAnErrorNotACrash) {
    UniqueFd dir(::open(src_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_EQ(::mkdirat(dir.get(), "deep", 0755), 0);
    dir.reset(::openat(dir.get(), "deep", O_PATH | O_DIRECTORY | O_CLOEXEC));
    for (int i = 0; i < 520; i++) {
        ASSERT_EQ(::mkdirat(dir.get(), "d", 0755), 0);
        dir.reset(::openat(dir.get(), "d", O_PATH | O_DIRECTORY | O_CLOEXEC));
    }
    // Two descriptors per level: room for 512 levels (machined's worker raises its limit likewise).
    rlimit files{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
    if (files.rlim_max < 1100) GTEST_SKIP() << "the descriptor limit is too low for 512 levels";
    files.rlim_cur = files.rlim_max;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &files), 0);
    auto s = copy("deep", "deep");
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ELOOP);
    EXPECT_NE(s.error().message.find("deeper than 512 levels"), std::string::npos) << s.error().message;
}

TEST_F(CopyTree, ErrorsNameThePath) {
    CopyTreeOptions o;
    o.shown_source = "/machine/path";
    auto s = copy("missing", "x", o);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, ENOENT);
    EXPECT_NE(s.error().message.find("/machine/path"), std::string::npos) << s.error().message;
}

TEST_F(CopyTree, ExtendedAttributesAreCopiedOnFilesAndDirectories) {
    std::string f = t.write("src/d/f", "x");
    std::string d = src_dir + "/d";
    if (::setxattr(f.c_str(), "user.berth.test", "file value", 10, 0) < 0) {
        if (errno == ENOTSUP) GTEST_SKIP() << "no user.* extended attributes on " << t.path();
        FAIL() << "setxattr: " << std::strerror(errno);
    }
    ASSERT_EQ(::setxattr(d.c_str(), "user.berth.test", "dir value", 9, 0), 0) << std::strerror(errno);
    std::string big(4000, 'b');  // more than a small inline buffer
    ASSERT_EQ(::setxattr(f.c_str(), "user.berth.big", big.data(), big.size(), 0), 0) << std::strerror(errno);
    ASSERT_EQ(::setxattr(f.c_str(), "user.berth.empty", "", 0, 0), 0) << std::strerror(errno);
    ASSERT_TRUE(copy("d", "d").ok());
    EXPECT_EQ(xattr_of(dst_dir + "/d/f", "user.berth.test"), "file value");
    EXPECT_EQ(xattr_of(dst_dir + "/d/f", "user.berth.big"), big);
    errno = 0;
    EXPECT_EQ(xattr_of(dst_dir + "/d/f", "user.berth.empty"), "");
    EXPECT_EQ(errno, 0) << std::strerror(errno);
    EXPECT_EQ(xattr_of(dst_dir + "/d", "user.berth.test"), "dir value");
    // Times are still the source's: set after the attributes.
    EXPECT_EQ(lstat_of(dst_dir + "/d/f").st_mtim.tv_sec, lstat_of(f).st_mtim.tv_sec);
    EXPECT_EQ(lstat_of(dst_dir + "/d/f").st_mtim.tv_nsec, lstat_of(f).st_mtim.tv_nsec);
}

TEST_F(CopyTree, ExtendedAttributesOfSymlinksAreCopiedWhereAllowed) {
    std::string target = t.write("src/target", "x");
    std::string link = t.symlink("target", "src/link");
    // user.* is refused on symlinks; trusted.* needs CAP_SYS_ADMIN.
    if (::lsetxattr(link.c_str(), "trusted.berth.test", "link value", 10, 0) < 0)
        GTEST_SKIP() << "cannot set trusted.* on a symlink here: " << std::strerror(errno);
    ASSERT_EQ(::setxattr(target.c_str(), "trusted.berth.test", "target value", 12, 0), 0) << std::strerror(errno);
    ASSERT_TRUE(copy("link", "link").ok());
    EXPECT_TRUE(S_ISLNK(lstat_of(dst_dir + "/link").st_mode));
    EXPECT_EQ(xattr_of(dst_dir + "/link", "trusted.berth.test"), "link value");
    EXPECT_FALSE(std::filesystem::exists(dst_dir + "/target"));
}

TEST_F(CopyTree, FileCapabilitiesAreDroppedOutOfAMachineAndThroughAUidMap) {
    std::string f = t.write("src/prog", "#!/bin/sh\n", 0755);
    // struct vfs_cap_data, revision 2, effective: cap_net_bind_service (10) permitted.
    uint32_t cap[5] = {htole32(0x02000001), htole32(1u << 10), 0, 0, 0};
    if (::setxattr(f.c_str(), "security.capability", cap, sizeof cap, 0) < 0)
        GTEST_SKIP() << "cannot set file capabilities here: " << std::strerror(errno);
    std::string caps = xattr_of(f, "security.capability");
    ASSERT_FALSE(caps.empty());
    ASSERT_TRUE(copy("prog", "kept").ok());
    EXPECT_EQ(xattr_of(dst_dir + "/kept", "security.capability"), caps);

    ASSERT_TRUE(copy("prog", "out", {.drop_setid = true}).ok());
    errno = 0;
    EXPECT_EQ(xattr_of(dst_dir + "/out", "security.capability"), "");
    EXPECT_EQ(errno, ENODATA);
    EXPECT_EQ(slurp(dst_dir + "/out"), "#!/bin/sh\n");

    CopyTreeOptions mapped;
    mapped.map_uid = [](uint32_t id) { return id; };
    ASSERT_TRUE(copy("prog", "mapped", mapped).ok());
    errno = 0;
    EXPECT_EQ(xattr_of(dst_dir + "/mapped", "security.capability"), "");
    EXPECT_EQ(errno, ENODATA);
}

TEST_F(CopyTree, AclIdsGoThroughTheMaps) {
    std::string f = t.write("src/d/f", "x", 0660);
    std::string d = src_dir + "/d";
    const uint32_t me = ::getuid(), my_group = ::getgid();
    std::string access = acl_bytes({{kUserObj, 6, kNoId},
                                    {kUser, 4, 1234},
                                    {kUser, 6, 1300},
                                    {kGroupObj, 4, kNoId},
                                    {kGroup, 6, 2345},
                                    {kMask, 6, kNoId},
                                    {kOther, 0, kNoId}});
    if (::setxattr(f.c_str(), "system.posix_acl_access", access.data(), access.size(), 0) < 0) {
        if (errno == ENOTSUP) GTEST_SKIP() << "no POSIX ACLs on " << t.path();
        FAIL() << "setxattr: " << std::strerror(errno);
    }
    std::string dflt = acl_bytes({{kUserObj, 7, kNoId},
                                  {kUser, 5, 1234},
                                  {kGroupObj, 5, kNoId},
                                  {kMask, 5, kNoId},
                                  {kOther, 0, kNoId}});
    ASSERT_EQ(::setxattr(d.c_str(), "system.posix_acl_default", dflt.data(), dflt.size(), 0), 0)
        << std::strerror(errno);
    CopyTreeOptions o;
    // The owners stay the test's own; other ids move. 1300 comes out below 1234's: entries sorted again.
    o.map_uid = [&](uint32_t id) { return id == me ? id : id == 1300 ? 50000 : id + 100000; };
    o.map_gid = [&](uint32_t id) { return id == my_group ? id : id + 200000; };
    ASSERT_TRUE(copy("d", "d", o).ok());
    EXPECT_EQ(acl_entries(xattr_of(dst_dir + "/d/f", "system.posix_acl_access")),
              (std::vector<AclEntry>{{kUserObj, 6, kNoId},
                                     {kUser, 6, 50000},
                                     {kUser, 4, 101234},
                                     {kGroupObj, 4, kNoId},
                                     {kGroup, 6, 202345},
                                     {kMask, 6, kNoId},
                                     {kOther, 0, kNoId}}));
    EXPECT_EQ(lstat_of(dst_dir + "/d/f").st_mode & 07777, 0660u);
    EXPECT_EQ(acl_entries(xattr_of(dst_dir + "/d", "system.posix_acl_default")),
              (std::vector<AclEntry>{{kUserObj, 7, kNoId},
                                     {kUser, 5, 101234},
                                     {kGroupObj, 5, kNoId},
                                     {kMask, 5, kNoId},
                                     {kOther, 0, kNoId}}));
    // Without maps the ACL is copied as it is.
    ASSERT_TRUE(copy("d", "plain").ok());
    EXPECT_EQ(xattr_of(dst_dir + "/plain/f", "system.posix_acl_access"), access);
}

TEST_F(CopyTree, AnAclWhoseIdsCollideThroughTheMapsIsDroppedAndTheGroupNarrowed) {
    std::string f = t.write("src/f", "x", 0660);
    const uint32_t me = ::getuid();
    // Two named users, both unmapped (both become nobody): not copied. The owning group had read only;
    // the mode's group bits (rw, the mask) must not become its permissions.
    std::string access = acl_bytes({{kUserObj, 6, kNoId},
                                    {kUser, 4, 1234},
                                    {kUser, 6, 1300},
                                    {kGroupObj, 4, kNoId},
                                    {kMask, 6, kNoId},
                                    {kOther, 0, kNoId}});
    if (::setxattr(f.c_str(), "system.posix_acl_access", access.data(), access.size(), 0) < 0) {
        if (errno == ENOTSUP) GTEST_SKIP() << "no POSIX ACLs on " << t.path();
        FAIL() << "setxattr: " << std::strerror(errno);
    }
    ASSERT_EQ(lstat_of(f).st_mode & 07777, 0660u);
    CopyTreeOptions o;
    o.map_uid = [&](uint32_t id) { return id == me ? id : 65534u; };
    ASSERT_TRUE(copy("f", "f", o).ok());
    errno = 0;
    EXPECT_EQ(xattr_of(dst_dir + "/f", "system.posix_acl_access"), "");
    EXPECT_EQ(errno, ENODATA);
    EXPECT_EQ(lstat_of(dst_dir + "/f").st_mode & 07777, 0640u);
    EXPECT_EQ(slurp(dst_dir + "/f"), "x");
}

TEST_F(CopyTree, HardLinksInsideTheTreeStayHardLinks) {
    std::string a = t.write("src/d/a", "shared");
    t.mkdir("src/d/sub");
    ASSERT_EQ(::link(a.c_str(), (src_dir + "/d/sub/b").c_str()), 0);
    ASSERT_EQ(::link(a.c_str(), (src_dir + "/d/c").c_str()), 0);
    t.write("src/d/single", "alone");
    // A hard link to a symlink stays one to a symlink (link() does not follow it).
    t.symlink("a", "src/d/s");
    ASSERT_EQ(::link((src_dir + "/d/s").c_str(), (src_dir + "/d/s2").c_str()), 0);
    ASSERT_TRUE(copy("d", "d").ok());
    auto da = lstat_of(dst_dir + "/d/a"), db = lstat_of(dst_dir + "/d/sub/b"), dc = lstat_of(dst_dir + "/d/c");
    EXPECT_EQ(da.st_ino, db.st_ino);
    EXPECT_EQ(da.st_ino, dc.st_ino);
    EXPECT_EQ(da.st_nlink, 3u);
    EXPECT_NE(da.st_ino, lstat_of(a).st_ino);
    EXPECT_EQ(slurp(dst_dir + "/d/sub/b"), "shared");
    EXPECT_EQ(lstat_of(dst_dir + "/d/single").st_nlink, 1u);
    auto ds = lstat_of(dst_dir + "/d/s"), ds2 = lstat_of(dst_dir + "/d/s2");
    EXPECT_TRUE(S_ISLNK(ds.st_mode));
    EXPECT_EQ(ds.st_ino, ds2.st_ino);
    EXPECT_EQ(ds.st_nlink, 2u);
    EXPECT_EQ(std::filesystem::read_symlink(dst_dir + "/d/s2").string(), "a");
}

TEST_F(CopyTree, ManyHardLinkedFilesAtOnceStayHardLinks) {
    // More copies waiting for their other name than descriptors are held for: the rest by file handle
    // (CAP_DAC_READ_SEARCH), or else copies of their own.
    if (::geteuid() != 0) GTEST_SKIP() << "reopening file handles needs CAP_DAC_READ_SEARCH";
    constexpr int kFiles = 150;
    t.mkdir("src/d/x");
    t.mkdir("src/d/y");
    for (int i = 0; i < kFiles; i++) {
        std::string first = t.write("src/d/x/" + std::to_string(i), std::to_string(i));
        ASSERT_EQ(::link(first.c_str(), (src_dir + "/d/y/" + std::to_string(i)).c_str()), 0);
    }
    size_t fds_before = std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {});
    ASSERT_TRUE(copy("d", "d").ok());
    EXPECT_EQ(static_cast<size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"), {})),
              fds_before);
    for (int i = 0; i < kFiles; i++) {
        auto x = lstat_of(dst_dir + "/d/x/" + std::to_string(i)), y = lstat_of(dst_dir + "/d/y/" + std::to_string(i));
        EXPECT_EQ(x.st_ino, y.st_ino) << i;
        EXPECT_EQ(x.st_nlink, 2u) << i;
        EXPECT_EQ(slurp(dst_dir + "/d/y/" + std::to_string(i)), std::to_string(i));
    }
}

TEST_F(CopyTree, AHardLinkWhoseOtherNameIsOutsideIsAPlainCopy) {
    std::string outside = t.write("src/outside", "out");
    t.mkdir("src/d");
    ASSERT_EQ(::link(outside.c_str(), (src_dir + "/d/in").c_str()), 0);
    ASSERT_TRUE(copy("d", "d").ok());
    auto st = lstat_of(dst_dir + "/d/in");
    EXPECT_EQ(st.st_nlink, 1u);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(slurp(dst_dir + "/d/in"), "out");
    EXPECT_EQ(lstat_of(outside).st_nlink, 2u);
}

TEST_F(CopyTree, MergingDoesNotLinkOverKeptEntriesButReplacingDoes) {
    std::string a = t.write("src/d/a", "new");
    ASSERT_EQ(::link(a.c_str(), (src_dir + "/d/b").c_str()), 0);
    ASSERT_EQ(::link(a.c_str(), (src_dir + "/d/c").c_str()), 0);
    t.write("dst/d/b", "old");
    ASSERT_TRUE(copy("d", "d").ok());
    auto da = lstat_of(dst_dir + "/d/a"), db = lstat_of(dst_dir + "/d/b"), dc = lstat_of(dst_dir + "/d/c");
    EXPECT_EQ(slurp(dst_dir + "/d/b"), "old");
    EXPECT_EQ(db.st_nlink, 1u);
    EXPECT_NE(db.st_ino, da.st_ino);
    EXPECT_EQ(da.st_ino, dc.st_ino);
    EXPECT_EQ(da.st_nlink, 2u);
    EXPECT_EQ(slurp(dst_dir + "/d/c"), "new");

    ASSERT_TRUE(copy("d", "d", {.replace = true}).ok());
    da = lstat_of(dst_dir + "/d/a");
    EXPECT_EQ(lstat_of(dst_dir + "/d/b").st_ino, da.st_ino);
    EXPECT_EQ(lstat_of(dst_dir + "/d/c").st_ino, da.st_ino);
    EXPECT_EQ(da.st_nlink, 3u);
    EXPECT_EQ(slurp(dst_dir + "/d/b"), "new");
}

TEST(SplitLastComponent, SplitsAbsolutePaths) {
    auto r = split_last_component("/a/b/");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->parent, "/a");
    EXPECT_EQ(r->name, "b");
    r = split_last_component("/top");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->parent, "/");
    EXPECT_EQ(r->name, "top");
    EXPECT_FALSE(split_last_component("/").ok());
    EXPECT_FALSE(split_last_component("/a/..").ok());
    EXPECT_FALSE(split_last_component("/a/.").ok());
    EXPECT_FALSE(split_last_component("relative").ok());
}

}  // namespace
}  // namespace berth
