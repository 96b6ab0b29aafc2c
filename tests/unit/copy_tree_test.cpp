// common/copy_tree: the copy machined's CopyTo/CopyFrom run, on a scratch tree (no root needed; owners
// are mapped to the test's own ids).
#include "common/copy_tree.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

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
