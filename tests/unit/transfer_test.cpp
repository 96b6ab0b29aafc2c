// images/transfer.hpp: imports and exports in a scratch pool, checked against the tree they came from
// by everything a root filesystem holds (tests/unit/transfer_tree.hpp), against GNU tar both ways, and
// against hostile archives. Owners, device nodes, trusted xattrs and the immutable attribute need root:
// those tests skip themselves without it.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <random>

#include <archive.h>
#include <archive_entry.h>

#include "common/fd.hpp"
#include "images/discovery.hpp"
#include "images/transfer.hpp"
#include "tests/unit/transfer_tree.hpp"

namespace berth::images {
namespace {

using namespace transfer_test;

Image directory_image(const std::string& path, const std::string& name) {
    Image i;
    i.name = name;
    i.path = path;
    struct stat st {};
    ::stat(path.c_str(), &st);
    i.dev = st.st_dev;
    i.ino = st.st_ino;
    return i;
}

std::string message(const Status& s) { return s.ok() ? "ok" : s.error().message; }

// An archive of made-up entries (a hostile one), uncompressed, written as libarchive's pax writer does.
struct Entry {
    std::string path;
    mode_t type = AE_IFREG;
    std::string target;  // a symlink's; for type 0, a hard link's
    int64_t size = 0;
};
void write_archive(const std::string& file, const std::vector<Entry>& entries) {
    struct Out {
        std::string bytes;
    } out;
    // Kept in memory, and cut after the first MiB: an entry claiming 2^50 bytes is followed by nothing.
    auto write = [](struct archive*, void* self, const void* p, size_t n) -> la_ssize_t {
        auto* o = static_cast<Out*>(self);
        if (o->bytes.size() > (1 << 20)) return -1;
        o->bytes.append(static_cast<const char*>(p), n);
        return static_cast<la_ssize_t>(n);
    };
    struct archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open(a, &out, nullptr, write, nullptr);
    for (auto& e : entries) {
        struct archive_entry* ae = archive_entry_new();
        archive_entry_set_pathname(ae, e.path.c_str());
        archive_entry_set_filetype(ae, e.type ? e.type : AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, e.size);
        if (e.type == AE_IFLNK) archive_entry_set_symlink(ae, e.target.c_str());
        if (e.type == 0) archive_entry_set_hardlink(ae, e.target.c_str());
        archive_write_header(a, ae);
        if (e.size > 0 && e.size < 4096) {
            std::string data(static_cast<size_t>(e.size), 'p');
            archive_write_data(a, data.data(), data.size());
        }
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
    write_file(file, out.bytes.substr(0, std::min<size_t>(out.bytes.size(), 1 << 20)), 0600);
}

class Transfer : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "owners, device nodes and trusted xattrs need root";
        pool_ = s_.mkdir("pool");
    }
    // The tree with every kind of file, made once a test asks for it.
    const std::string& rich() {
        if (rich_.empty()) {
            rich_ = s_.mkdir("src");
            make_rich_tree(rich_);
        }
        return rich_;
    }
    // A small tree holding `text` in "marker", exported to an archive file; its path.
    std::string small_archive(const std::string& name, const std::string& text) {
        std::string dir = s_.mkdir("small-" + name), file = s_ / (name + ".tar");
        write_file(dir + "/marker", text, 0644);
        TransferReport quiet;
        auto out = open_out(file);
        EXPECT_TRUE(export_tar(directory_image(dir, name), out.get(), "", quiet).ok());
        return file;
    }
    Status import_file(const std::string& file, const std::string& name, ImportOptions o = {}) {
        auto in = open_in(file);
        return import_tar(in.get(), pool_, name, o, report_, settings_);
    }

    Scratch s_;
    std::string pool_, rich_;
    SettingsDirs settings_;
    TransferReport report_;
};

class TransferFormats : public Transfer, public ::testing::WithParamInterface<const char*> {};

TEST_P(TransferFormats, ExportThenImportKeepsEveryKindOfFile) {
    std::string format = GetParam(), archive = s_ / "export";
    ReportPipe r;
    {
        auto out = open_out(archive);
        auto exported = export_tar(directory_image(rich(), "rich"), out.get(), format, r.report);
        ASSERT_TRUE(exported.ok()) << message(exported);
    }
    // What the archive starts with: compressed as asked (an uncompressed one is tar: "ustar" at 257).
    const std::map<std::string, std::pair<size_t, std::string>> magic = {
        {"", {257, "ustar"}}, {"gzip", {0, "\x1f\x8b"}}, {"xz", {0, std::string("\xfd" "7zXZ\0", 6)}},
        {"bzip2", {0, "BZh"}}, {"zstd", {0, "\x28\xb5\x2f\xfd"}}};
    auto [at, expected] = magic.at(format);
    EXPECT_EQ(slurp_prefix(archive).substr(at, expected.size()), expected);
    ReportPipe i;
    auto in = open_in(archive);
    auto imported = import_tar(in.get(), pool_, "copy", {}, i.report, settings_);
    ASSERT_TRUE(imported.ok()) << message(imported);
    EXPECT_EQ(compare_trees(rich(), pool_ + "/copy"), "");
    EXPECT_LT(blocks_of(pool_ + "/copy/var/sparse") * 512, 1 << 20) << "the sparse file was filled";
    EXPECT_EQ(entries_of(pool_), std::vector<std::string>{"copy"});
    auto warning = [](const std::string& line) { return line.size() > 2 && line[0] == 'L' && line[2] <= '4'; };
    for (auto& line : r.lines()) EXPECT_FALSE(warning(line)) << "the export said: " << line;  // nothing to warn of
    for (auto& line : i.lines()) EXPECT_FALSE(warning(line)) << "the import said: " << line;
}

INSTANTIATE_TEST_SUITE_P(Transfer, TransferFormats, ::testing::Values("", "gzip", "xz", "bzip2", "zstd"),
                         [](const auto& info) { return std::string(*info.param ? info.param : "uncompressed"); });

TEST_F(Transfer, AnArchiveGnuTarMadeReadFromAPipeGivesTheSameTree) {
    auto tar =
        spawn_shell(fmt::format("tar --xattrs --xattrs-include='*' --acls --numeric-owner -S -C {} -c . | gzip -1", rich()));
    auto imported = import_tar(tar.out.get(), pool_, "gnu", {}, report_, settings_);
    EXPECT_EQ(tar.wait(), 0);
    ASSERT_TRUE(imported.ok()) << message(imported);
    EXPECT_EQ(compare_trees(rich(), pool_ + "/gnu"), "");
    EXPECT_LT(blocks_of(pool_ + "/gnu/var/sparse") * 512, 1 << 20);
}

TEST_F(Transfer, GnuTarExtractsAnExportToTheSameTree) {
    std::string archive = s_ / "export.tar.gz", dst = s_.mkdir("gnu-extracted");
    {
        auto out = open_out(archive);
        auto exported = export_tar(directory_image(rich(), "rich"), out.get(), "gzip", report_);
        ASSERT_TRUE(exported.ok()) << message(exported);
    }
    std::string cmd = fmt::format("tar --xattrs --xattrs-include='*' --acls --numeric-owner -xzpf {} -C {}", archive, dst);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_EQ(compare_trees(rich(), dst), "");
}

TEST_F(Transfer, ImportFsCopiesTheTree) {
    // Not the sparse file: the copy (common/copy_tree.hpp) writes a file's holes out, 1 GiB of zeros.
    ASSERT_EQ(::unlink((rich() + "/var/sparse").c_str()), 0);
    UniqueFd dir(::open(rich().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    auto imported = import_fs(dir.get(), pool_, "fs", {}, report_, settings_);
    ASSERT_TRUE(imported.ok()) << message(imported);
    EXPECT_EQ(compare_trees(rich(), pool_ + "/fs"), "");
    EXPECT_EQ(entries_of(pool_), std::vector<std::string>{"fs"});
}

// ---- hostile archives ----------------------------------------------------------------------------------

class TransferHostile : public Transfer {
protected:
    void SetUp() override {
        Transfer::SetUp();
        if (IsSkipped()) return;
        outside_ = "/var/tmp/" + unique_name("berth-outside");
        ::mkdir(outside_.c_str(), 0755);
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(outside_, ec);
    }
    // The import of `entries` fails with a message holding `says`, and leaves nothing, here or outside.
    void refused(const std::vector<Entry>& entries, const std::string& says) {
        write_archive(s_ / "hostile.tar", entries);
        auto r = import_file(s_ / "hostile.tar", "x");
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message.find("Failed to import image \"x\": "), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(says), std::string::npos) << r.error().message;
        EXPECT_EQ(entries_of(pool_), std::vector<std::string>{});
        EXPECT_EQ(entries_of(outside_), std::vector<std::string>{});
        EXPECT_FALSE(path_exists("/var/tmp/pwned"));
        EXPECT_FALSE(path_exists(s_.path() + "/pwned"));
    }
    static bool path_exists(const std::string& p) {
        struct stat st {};
        return ::lstat(p.c_str(), &st) == 0;
    }
    static std::string unique_name(const std::string& stem) {
        return fmt::format("{}-{}-{}", stem, ::getpid(), std::random_device{}());
    }
    std::string outside_;
};

TEST_F(TransferHostile, AnAbsolutePathIsRefused) {
    refused({{"./ok", AE_IFREG, "", 3}, {outside_ + "/pwned", AE_IFREG, "", 3}}, fmt::format("entry \"{}/pwned\"", outside_));
}

TEST_F(TransferHostile, DotDotIsRefused) {
    refused({{"../../pwned", AE_IFREG, "", 3}}, "entry \"../../pwned\": Path contains '..'");
}

TEST_F(TransferHostile, WritingThroughASymlinkIsRefused) {
    refused({{"evil", AE_IFLNK, outside_}, {"evil/pwned", AE_IFREG, "", 3}},
            "entry \"evil/pwned\": Cannot extract through symlink evil");
}

TEST_F(TransferHostile, WritingThroughASymlinkSpelledOtherwiseIsRefused) {
    refused({{"./evil", AE_IFLNK, outside_}, {".//evil/./pwned", AE_IFREG, "", 3}}, "Cannot extract through symlink evil");
}

TEST_F(TransferHostile, WritingThroughAHardLinkToASymlinkIsRefused) {
    refused({{"evil", AE_IFLNK, outside_}, {"twin", 0, "evil"}, {"twin/pwned", AE_IFREG, "", 3}},
            "entry \"twin/pwned\": Cannot extract through symlink twin");
}

TEST_F(TransferHostile, AHardLinkThroughASymlinkIsRefused) {
    std::string elsewhere = s_.mkdir("elsewhere");
    write_file(elsewhere + "/target", "outside", 0644);
    refused({{"evil", AE_IFLNK, elsewhere}, {"link", 0, "evil/target"}}, "entry \"link\": Cannot extract through symlink evil");
    struct stat st {};
    ASSERT_EQ(::stat((elsewhere + "/target").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u);
}

TEST_F(TransferHostile, ASymlinkReplacedByADirectoryIsNotWrittenThrough) {
    write_archive(s_ / "replaced.tar", {{"evil", AE_IFLNK, outside_}, {"evil", AE_IFDIR}, {"evil/inside", AE_IFREG, "", 3}});
    auto r = import_file(s_ / "replaced.tar", "x");
    ASSERT_TRUE(r.ok()) << message(r);
    struct stat st {};
    ASSERT_EQ(::lstat((pool_ + "/x/evil").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(slurp(pool_ + "/x/evil/inside"), "ppp");
    EXPECT_EQ(entries_of(outside_), std::vector<std::string>{});
}

TEST_F(TransferHostile, AHardLinkToAnAbsolutePathIsRefused) {
    refused({{"passwd", 0, "/etc/passwd"}}, "entry \"passwd\": Path is absolute");
}

TEST_F(TransferHostile, AHardLinkOutOfTheImageIsRefused) {
    write_file(s_ / "outside", "outside", 0644);
    refused({{"a/b", AE_IFDIR}, {"a/b/link", 0, "../../../outside"}}, "entry \"a/b/link\": Path contains '..'");
    struct stat st {};
    ::stat((s_ / "outside").c_str(), &st);
    EXPECT_EQ(st.st_nlink, 1u);
}

TEST_F(TransferHostile, AnEntryLargerThanThePoolsFilesystemIsRefused) {
    refused({{"big", AE_IFREG, "", int64_t{1} << 50}},
            "entry \"big\": its size (1125899906842624 bytes) exceeds the size of the pool's filesystem");
}

TEST_F(TransferHostile, GarbageIsRefused) {
    write_file(s_ / "garbage", std::string(100000, 'g'), 0644);
    auto r = import_file(s_ / "garbage", "x");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "Failed to import image \"x\": Failed to read the archive: Unrecognized archive format");
    EXPECT_EQ(entries_of(pool_), std::vector<std::string>{});
}

// ---- landing -------------------------------------------------------------------------------------------

TEST_F(Transfer, ATakenNameIsRefusedWithoutForceAndReplacedWithForce) {
    ASSERT_TRUE(import_file(small_archive("one", "first"), "img").ok());
    auto taken = import_file(small_archive("two", "second"), "img");
    ASSERT_FALSE(taken.ok());
    EXPECT_EQ(taken.error().code, EEXIST);
    EXPECT_EQ(taken.error().message, "Image \"img\" already exists");
    EXPECT_EQ(slurp(pool_ + "/img/marker"), "first");
    ImportOptions force;
    force.force = true;
    auto replaced = import_file(s_ / "two.tar", "img", force);
    ASSERT_TRUE(replaced.ok()) << message(replaced);
    EXPECT_EQ(slurp(pool_ + "/img/marker"), "second");
    EXPECT_EQ(entries_of(pool_), std::vector<std::string>{"img"});
}

TEST_F(Transfer, ForceDoesNotReplaceAnImageAMachineUses) {
    ASSERT_TRUE(import_file(small_archive("one", "first"), "img").ok());
    auto image = find_image({pool_}, "img");
    ASSERT_TRUE(image.ok());
    auto machine = ImageLock::take(*image, true);  // as nspawn holds it
    ASSERT_TRUE(machine.ok());
    ImportOptions force;
    force.force = true;
    auto r = import_file(small_archive("two", "second"), "img", force);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EBUSY) << r.error().message;
    EXPECT_EQ(slurp(pool_ + "/img/marker"), "first");
    EXPECT_EQ(entries_of(pool_), std::vector<std::string>{"img"});
}

TEST_F(Transfer, ABadNameIsRefused) {
    auto r = import_file(small_archive("one", "first"), "a/b");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_EQ(r.error().message, "Image name 'a/b' is invalid.");
}

TEST_F(Transfer, AKilledImportLeavesItsTemporaryUnderTheCallersNameForRemoveTemporary) {
    std::string archive = slurp(small_archive("one", "first")), temporary = ".#import.7-0000beef";
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    UniqueFd rd(fds[0]), wr(fds[1]);
    pid_t pid = ::fork();
    if (pid == 0) {  // machined's worker, killed while the archive is still coming
        wr.reset();
        ImportOptions o;
        o.temporary = temporary;
        TransferReport quiet;
        (void)import_tar(rd.get(), pool_, "killed", o, quiet, settings_);
        ::_exit(0);
    }
    rd.reset();
    ASSERT_EQ(::write(wr.get(), archive.data(), 1536), 1536);  // the first entries, and no end
    for (int i = 0; i < 500 && !std::filesystem::exists(pool_ + "/" + temporary + "/marker"); i++) ::usleep(10000);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    EXPECT_TRUE(ImageLock::take_name("killed").ok()) << "the name stays locked";  // (and its lock file goes)
    EXPECT_EQ(entries_of(pool_), std::vector<std::string>{temporary});
    Status removed = remove_temporary(pool_, temporary);
    for (int i = 0; i < 50 && !entries_of(pool_).empty(); i++) {  // the extractor may be finishing a system call
        ::usleep(10000);
        removed = remove_temporary(pool_, temporary);
    }
    EXPECT_TRUE(removed.ok()) << message(removed);
    EXPECT_EQ(entries_of(pool_), std::vector<std::string>{});
}

TEST_F(Transfer, RemoveTemporaryTakesARawOneTooAndOnlyTemporaries) {
    write_file(pool_ + "/.#import.8-1.raw", "raw", 0644);
    write_file(pool_ + "/img.raw", "raw", 0644);
    EXPECT_TRUE(remove_temporary(pool_, ".#import.8-1").ok());
    EXPECT_TRUE(remove_temporary(pool_, ".#import.nothing-there").ok());
    for (const char* bad : {"img", ".#import.", ".#import./../img.raw", ".#clone.1"}) {
        auto r = remove_temporary(pool_, bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().code, EINVAL);
    }
    EXPECT_EQ(entries_of(pool_), std::vector<std::string>{"img.raw"});
}

TEST_F(Transfer, AReadOnlyImportIsAnImmutableImage) {
    ImportOptions ro;
    ro.read_only = true;
    auto r = import_file(small_archive("one", "first"), "frozen", ro);
    if (!r.ok() && r.error().code == EOPNOTSUPP) GTEST_SKIP() << "no immutable attribute here";
    ASSERT_TRUE(r.ok()) << message(r);
    auto image = find_image({pool_}, "frozen");
    ASSERT_TRUE(image.ok());
    EXPECT_TRUE(image->read_only);
    EXPECT_LT(::mkdir((pool_ + "/frozen/new").c_str(), 0755), 0);
    clear_flags(pool_ + "/frozen");
}

// ---- raw images ----------------------------------------------------------------------------------------

// 64 MiB: 1 MiB of random bytes, 1 MiB of zeros written out, 4 KiB of random bytes at an odd offset.
std::string make_raw(const std::string& path) {
    std::mt19937 rng(7);
    std::string random(1 << 20, 0);
    for (auto& c : random) c = static_cast<char>(rng());
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    check(fd && ::ftruncate(fd.get(), 64 << 20) == 0, "raw");
    check(::pwrite(fd.get(), random.data(), random.size(), 0) == 1 << 20, "raw data");
    std::string zeros(1 << 20, 0);
    check(::pwrite(fd.get(), zeros.data(), zeros.size(), 8 << 20) == 1 << 20, "raw zeros");
    check(::pwrite(fd.get(), random.data(), 4096, (32 << 20) + 100) == 4096, "raw data");
    return path;
}

TEST_F(Transfer, ARawImportOfAGzipFileIsTheSameSparseFile) {
    std::string raw = make_raw(s_ / "disk.raw");
    ASSERT_EQ(std::system(fmt::format("gzip -c {} > {}.gz", raw, raw).c_str()), 0);
    auto in = open_in(raw + ".gz");
    auto r = import_raw(in.get(), pool_, "disk", {}, report_, settings_);
    ASSERT_TRUE(r.ok()) << message(r);
    EXPECT_EQ(entries_of(pool_), std::vector<std::string>{"disk.raw"});
    struct stat st {};
    ASSERT_EQ(::stat((pool_ + "/disk.raw").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 64 << 20);
    EXPECT_EQ(st.st_mode & 07777, 0644u);
    EXPECT_TRUE(same_content(raw, pool_ + "/disk.raw", 64 << 20));
    EXPECT_LT(st.st_blocks * 512, (1 << 20) + (64 << 10)) << "zeros were written";
}

TEST_F(Transfer, AQcow2ImageIsRefusedAsNoRawImage) {
    std::string qcow = s_ / "disk.qcow2";
    write_file(qcow, std::string("QFI\xfb\0\0\0\3", 8) + std::string(4096, '\0'), 0644);
    auto in = open_in(qcow);
    auto r = import_raw(in.get(), pool_, "disk", {}, report_, settings_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ENOTSUP);
    EXPECT_NE(message(r).find("qcow2"), std::string::npos) << message(r);
    EXPECT_EQ(entries_of(pool_), std::vector<std::string>{});
}

TEST_F(Transfer, ARawExportWithXzImportsAsTheSameBytes) {
    make_raw(pool_ + "/disk.raw");
    auto image = find_image({pool_}, "disk");
    ASSERT_TRUE(image.ok());
    {
        auto out = open_out(s_ / "disk.raw.xz");
        auto r = export_raw(*image, out.get(), "xz", report_);
        ASSERT_TRUE(r.ok()) << message(r);
    }
    EXPECT_EQ(slurp_prefix(s_ / "disk.raw.xz").substr(0, 6), std::string("\xfd" "7zXZ\0", 6));
    auto in = open_in(s_ / "disk.raw.xz");
    auto r = import_raw(in.get(), pool_, "back", {}, report_, settings_);
    ASSERT_TRUE(r.ok()) << message(r);
    EXPECT_TRUE(same_content(pool_ + "/disk.raw", pool_ + "/back.raw", 64 << 20));
    EXPECT_EQ(std::filesystem::file_size(pool_ + "/back.raw"), 64u << 20);
}

TEST_F(Transfer, AnUncompressedRawExportToAFileKeepsItsHoles) {
    make_raw(pool_ + "/disk.raw");
    auto image = find_image({pool_}, "disk");
    ASSERT_TRUE(image.ok());
    auto out = open_out(s_ / "copy.raw");
    auto r = export_raw(*image, out.get(), "", report_);
    ASSERT_TRUE(r.ok()) << message(r);
    EXPECT_TRUE(same_content(pool_ + "/disk.raw", s_ / "copy.raw", 64 << 20));
    EXPECT_EQ(std::filesystem::file_size(s_ / "copy.raw"), 64u << 20);
    EXPECT_LT(blocks_of(s_ / "copy.raw") * 512, 3 << 20);
}

// ---- leftovers, progress, warnings ---------------------------------------------------------------------

TEST_F(Transfer, LeftoversOfInterruptedTransfersGoAndNothingElse) {
    for (const char* d : {".#import.0123456789abcdef/etc", ".#import.frozen/usr", ".#clone.0000000000000001/x",
                          ".#export.1/y", "keep/etc", ".hidden"})
        s_.mkdir("pool/" + std::string(d));
    write_file(pool_ + "/.#import.0123456789abcdef/etc/passwd", "root", 0644);
    write_file(pool_ + "/.#import.frozen/usr/file", "x", 0644);
    write_file(pool_ + "/.#import.1.raw", "raw", 0644);
    write_file(pool_ + "/keep.raw", "raw", 0644);
    std::string outside = s_ / "outside";
    write_file(outside, "not the pool's", 0644);
    ::symlink(outside.c_str(), (pool_ + "/.#import.0123456789abcdef/escape").c_str());
    for (const char* f : {"/.#import.frozen/usr/file", "/.#import.frozen"}) {
        UniqueFd fd(::open((pool_ + f).c_str(), O_RDONLY | O_CLOEXEC));
        int flags = 0;
        ASSERT_EQ(::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags), 0);
        flags |= FS_IMMUTABLE_FL;
        if (::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags) < 0) GTEST_SKIP() << "no immutable attribute here";
    }
    ASSERT_LT(::unlink((pool_ + "/.#import.frozen/usr/file").c_str()), 0) << "not immutable";
    remove_leftovers(pool_);
    EXPECT_EQ(entries_of(pool_), (std::vector<std::string>{".hidden", "keep", "keep.raw"}));
    EXPECT_EQ(slurp(outside), "not the pool's");
}

TEST_F(Transfer, ProgressOfARegularFileImportRisesTo100) {
    std::string dir = s_.mkdir("big");
    std::mt19937 rng(1);
    std::string data(1 << 20, 0);
    for (int i = 0; i < 32; i++) {
        for (auto& c : data) c = static_cast<char>(rng());
        write_file(fmt::format("{}/file{}", dir, i), data, 0644);
    }
    {
        auto out = open_out(s_ / "big.tar");
        ASSERT_TRUE(export_tar(directory_image(dir, "big"), out.get(), "", report_).ok());
    }
    ReportPipe r;
    auto in = open_in(s_ / "big.tar");
    auto imported = import_tar(in.get(), pool_, "big", {}, r.report, settings_);
    ASSERT_TRUE(imported.ok()) << message(imported);
    std::vector<int> percents;
    for (auto& line : r.lines()) {
        ASSERT_TRUE(line.rfind("P ", 0) == 0 || line.rfind("L ", 0) == 0) << line;
        if (line[0] == 'P') percents.push_back(std::stoi(line.substr(2)));
    }
    ASSERT_GE(percents.size(), 10u) << "too few steps";
    EXPECT_TRUE(std::is_sorted(percents.begin(), percents.end()));
    EXPECT_EQ(std::adjacent_find(percents.begin(), percents.end()), percents.end()) << "a percentage said twice";
    EXPECT_EQ(percents.front(), 0);
    EXPECT_EQ(percents.back(), 100);
}

TEST_F(Transfer, TheExportOfAnImageAMachineWritesWarns) {
    std::string dir = s_.mkdir("pool/busy");
    write_file(dir + "/marker", "busy", 0644);
    auto image = find_image({pool_}, "busy");
    ASSERT_TRUE(image.ok());
    auto machine = ImageLock::take(*image, true);
    ASSERT_TRUE(machine.ok());
    ReportPipe r;
    auto out = open_out(s_ / "busy.tar");
    auto exported = export_tar(*image, out.get(), "", r.report);
    ASSERT_TRUE(exported.ok()) << message(exported);
    auto lines = r.lines();
    EXPECT_NE(std::find(lines.begin(), lines.end(),
                        "L 4 Image \"busy\" is in use by a running machine that may write it: the export may not be consistent"),
              lines.end());
}

// ---- without root ----------------------------------------------------------------------------------------

TEST(TransferReportLines, ProgressIsSaidOncePerValueAndLogLinesAreOneLineEach) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    UniqueFd rd(fds[0]), wr(fds[1]);
    TransferReport report(wr.get());
    report.progress(0);
    report.progress(0);
    report.progress(42);
    report.progress(150);
    report.warning("two\nlines");
    report.log(9, std::string(1100, 'x'));
    wr.reset();
    char buf[4096];
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "P 0\nP 42\nP 100\nL 4 two lines\nL 7 " + std::string(1000, 'x') + "\n");
}

TEST(TransferReportLines, ExportFormatsAreSystemdsNames) {
    for (const char* f : {"", "uncompressed", "gzip", "xz", "bzip2", "zstd"}) EXPECT_TRUE(export_format_valid(f)) << f;
    for (const char* f : {"gz", "lz4", "tar", "none", "GZIP"}) EXPECT_FALSE(export_format_valid(f)) << f;
}

}  // namespace
}  // namespace berth::images
