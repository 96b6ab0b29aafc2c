// Small file helpers: whole-file read, plain write, atomic replace.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "common/fd.hpp"
#include "common/fileio.hpp"
#include "tests/unit/temp_tree.hpp"

using berth::read_file;
using berth::read_file_at;
using berth::UniqueFd;
using berth::write_file;
using berth::write_file_atomic;

static int entries_in(const std::string& dir) {
    int n = 0;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (auto* e = ::readdir(d))
            if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") n++;
        ::closedir(d);
    }
    return n;
}

TEST(WriteFileAtomic, WritesWhatReadFileReads) {
    TempTree t;
    ASSERT_TRUE(write_file_atomic(t / "state", "hello\n").ok());
    auto r = read_file(t / "state");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, "hello\n");
}

TEST(WriteFileAtomic, ReplacesTheOldContentCompletely) {
    TempTree t;
    t.write("state", "a much longer old content\n");
    ASSERT_TRUE(write_file_atomic(t / "state", "new").ok());
    EXPECT_EQ(read_file(t / "state").value(), "new");
}

TEST(WriteFileAtomic, LeavesNoTemporaryBehind) {
    TempTree t;
    ASSERT_TRUE(write_file_atomic(t / "state", "x").ok());
    ASSERT_TRUE(write_file_atomic(t / "state", "y").ok());
    EXPECT_EQ(entries_in(t.path()), 1);
}

TEST(WriteFileAtomic, KeepsBinaryContentIncludingNulBytes) {
    TempTree t;
    std::string data("a\0b\xff\n", 5);
    ASSERT_TRUE(write_file_atomic(t / "bin", data).ok());
    EXPECT_EQ(read_file(t / "bin").value(), data);
}

TEST(WriteFileAtomic, WritesAnEmptyFile) {
    TempTree t;
    ASSERT_TRUE(write_file_atomic(t / "empty", "").ok());
    EXPECT_EQ(read_file(t / "empty").value(), "");
}

TEST(WriteFileAtomic, AppliesTheRequestedMode) {
    TempTree t;
    mode_t old = ::umask(022);
    auto r = write_file_atomic(t / "secret", "x", 0600);
    ::umask(old);
    ASSERT_TRUE(r.ok()) << r.error().message;
    struct stat st {};
    ASSERT_EQ(::stat((t / "secret").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(WriteFileAtomic, FailsInAMissingDirectoryNamingThePath) {
    TempTree t;
    auto r = write_file_atomic(t / "missing/state", "x");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOENT);
    EXPECT_NE(r.error().message.find(t / "missing/state"), std::string::npos) << r.error().message;
}

// The temporary's name is predictable (PATH.tmp.PID): a symlink planted there must not redirect the write.
TEST(WriteFileAtomic, DoesNotWriteThroughASymlinkPlantedAtItsTemporaryName) {
    TempTree t;
    t.write("victim", "untouched");
    t.symlink(t / "victim", "state.tmp." + std::to_string(::getpid()));
    (void)write_file_atomic(t / "state", "attacker-chosen");
    EXPECT_EQ(slurp(t / "victim"), "untouched");
}

TEST(ReadFile, FailsForAMissingFileNamingIt) {
    TempTree t;
    auto r = read_file(t / "nope");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOENT);
    EXPECT_NE(r.error().message.find(t / "nope"), std::string::npos) << r.error().message;
}

TEST(ReadFile, ReadsAFileLargerThanOneBuffer) {
    TempTree t;
    std::string big(100000, 'x');
    t.write("big", big);
    EXPECT_EQ(read_file(t / "big").value(), big);
}

TEST(ReadFileAt, ReadsRelativeToADirectoryFd) {
    TempTree t;
    t.write("dir/file", "content");
    UniqueFd dir(::open((t / "dir").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    EXPECT_EQ(read_file_at(dir.get(), "file").value(), "content");
}

// The contract os_release.cpp, image_users.cpp and plan.cpp rely on: given an fd already opened (by open_in_root)
// on a file, an empty path reads that file itself.
TEST(ReadFileAt, WithAnEmptyPathReadsTheOpenFileItself) {
    TempTree t;
    auto f = t.write("file", "content");
    UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    auto r = read_file_at(fd.get(), "");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, "content");
}

TEST(WriteFile, WritesAnExistingFile) {
    TempTree t;
    t.write("attr", "");
    ASSERT_TRUE(write_file(t / "attr", "1").ok());
    EXPECT_EQ(slurp(t / "attr"), "1");
}

TEST(WriteFile, DoesNotCreateAMissingFile) {
    TempTree t;
    auto r = write_file(t / "attr", "1");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOENT);
    EXPECT_FALSE(path_exists(t / "attr"));
}
