// The image pool's discovery and what it reports per image (images/): kinds, names, read-only, times,
// disk usage, and an image's own /etc files read without leaving it. On a temporary tree: no root needed
// but for the immutable attribute (skipped without it).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/fd.hpp"
#include "images/discovery.hpp"
#include "images/disk_usage.hpp"
#include "images/image_files.hpp"
#include "tests/unit/temp_tree.hpp"

namespace berth::images {
namespace {

std::vector<std::string> names_of(const std::vector<Image>& all) {
    std::vector<std::string> out;
    for (auto& i : all) out.push_back(i.name);
    return out;
}

const Image* named(const std::vector<Image>& all, const std::string& name) {
    for (auto& i : all)
        if (i.name == name) return &i;
    return nullptr;
}

std::string sized(size_t n) { return std::string(n, 'x'); }

// ---- discovery -------------------------------------------------------------------------------------

TEST(ImageDiscovery, ListsHostFirstThenEveryImageByName) {
    TempTree t;
    t.mkdir("pool/web");
    t.mkdir("pool/.hidden");
    t.write("pool/disk.raw", "raw");
    auto all = list_images({t / "pool"});
    EXPECT_EQ(names_of(all), (std::vector<std::string>{".host", ".hidden", "disk", "web"}));
}

// A directory named like a raw image is the directory image of that name (systemd 252 lists it so).
TEST(ImageDiscovery, ADirectoryNamedDotRawIsListedByItsWholeName) {
    TempTree t;
    t.mkdir("pool/dir.raw");
    t.write("pool/disk.raw", "raw");
    auto all = list_images({t / "pool"});
    EXPECT_EQ(names_of(all), (std::vector<std::string>{".host", "dir.raw", "disk"}));
    for (auto& img : all) {
        if (img.name == "dir.raw") {
            EXPECT_EQ(img.type, ImageType::Directory);
        }
    }
}

TEST(ImageDiscovery, HostIsTheRootDirectory) {
    auto all = list_images({});
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].name, ".host");
    EXPECT_EQ(all[0].path, "/");
    EXPECT_EQ(all[0].type, ImageType::Directory);
    EXPECT_EQ(all[0].crtime_usec, 0u);
    EXPECT_EQ(all[0].usage, kUnknown);
}

TEST(ImageDiscovery, HiddenImagesAreFoundByName) {
    TempTree t;
    t.mkdir("pool/.old");
    auto img = find_image({t / "pool"}, ".old");
    ASSERT_TRUE(img.ok()) << img.error().message;
    EXPECT_TRUE(img->is_hidden());
}

TEST(ImageDiscovery, SkipsWhatIsNoImage) {
    TempTree t;
    t.write("pool/notes.txt", "not an image");
    t.write("pool/.raw", "a suffix alone names nothing");
    t.mkdir("pool/.#web-temporary");
    t.symlink("/nonexistent-berth-target", "pool/dangling");
    ASSERT_EQ(::mkfifo((t / "pool/fifo").c_str(), 0600), 0);
    EXPECT_EQ(names_of(list_images({t / "pool"})), std::vector<std::string>{".host"});
}

TEST(ImageDiscovery, NamesNeedNotBeHostnames) {
    TempTree t;
    t.mkdir("pool/bad name");
    t.mkdir("pool/UPPER:case");
    EXPECT_EQ(names_of(list_images({t / "pool"})), (std::vector<std::string>{".host", "UPPER:case", "bad name"}));
}

TEST(ImageDiscovery, ADirectoryNamedRawIsADirectoryOfThatName) {
    TempTree t;
    t.mkdir("pool/dir.raw");
    auto img = find_image({t / "pool"}, "dir.raw");
    ASSERT_TRUE(img.ok()) << img.error().message;
    EXPECT_EQ(img->type, ImageType::Directory);
    EXPECT_EQ(find_image({t / "pool"}, "dir").error().code, ENOENT);
}

TEST(ImageDiscovery, RawFileIsNamedWithoutItsSuffix) {
    TempTree t;
    auto path = t.write("pool/disk.raw", sized(10000));
    auto img = find_image({t / "pool"}, "disk");
    ASSERT_TRUE(img.ok()) << img.error().message;
    EXPECT_EQ(img->path, path);
    EXPECT_EQ(img->type, ImageType::Raw);
    EXPECT_STREQ(type_name(img->type), "raw");
}

TEST(ImageDiscovery, FollowsASymbolicLinkToAnImage) {
    TempTree t;
    t.mkdir("elsewhere/web");
    t.symlink(t / "elsewhere/web", "pool/web");
    auto img = find_image({t / "pool"}, "web");
    ASSERT_TRUE(img.ok()) << img.error().message;
    EXPECT_EQ(img->path, t / "pool/web");
    EXPECT_EQ(img->type, ImageType::Directory);
}

TEST(ImageDiscovery, TheFirstDirectoryOfTheSearchPathWins) {
    TempTree t;
    t.mkdir("etc/web");
    t.mkdir("pool/web");
    t.mkdir("pool/db");
    auto all = list_images({t / "etc", t / "pool"});
    EXPECT_EQ(names_of(all), (std::vector<std::string>{".host", "db", "web"}));
    EXPECT_EQ(named(all, "web")->path, t / "etc/web");
    EXPECT_EQ(find_image({t / "etc", t / "pool"}, "web")->path, t / "etc/web");
}

TEST(ImageDiscovery, ADirectoryWinsOverARawFileOfTheSameName) {
    TempTree t;
    t.mkdir("pool/web");
    t.write("pool/web.raw", "raw");
    auto all = list_images({t / "pool"});
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1].type, ImageType::Directory);
}

TEST(ImageDiscovery, MissingSearchDirectoriesAreNoError) {
    TempTree t;
    t.mkdir("pool/web");
    EXPECT_EQ(names_of(list_images({t / "missing", t / "pool"})), (std::vector<std::string>{".host", "web"}));
}

TEST(ImageDiscovery, AnUnknownNameIsENOENTWithTheNameInTheMessage) {
    TempTree t;
    auto img = find_image({t.path()}, "nope");
    ASSERT_FALSE(img.ok());
    EXPECT_EQ(img.error().code, ENOENT);
    EXPECT_NE(img.error().message.find("nope"), std::string::npos) << img.error().message;
}

// As systemd 252: a name no image can have is as unknown as any other.
TEST(ImageDiscovery, AnInvalidNameIsNoImage) {
    TempTree t;
    t.mkdir("pool/x");
    for (std::string bad : std::vector<std::string>{"", ".", "..", "a/b", "../x", "../pool/x", ".#temp",
                                                    std::string("a\nb"), std::string(256, 'a')}) {
        auto img = find_image({t / "pool"}, bad);
        ASSERT_FALSE(img.ok()) << bad;
        EXPECT_EQ(img.error().code, ENOENT) << bad;
        EXPECT_EQ(img.error().message, "No image '" + bad + "' known");
    }
}

TEST(ImageDiscovery, SearchPathPutsThePoolFirstAndEachDirectoryOnce) {
    EXPECT_EQ(search_path("/srv/pool", {"/etc/machines", "/srv/pool", "/var/lib/machines"}),
              (std::vector<std::string>{"/srv/pool", "/etc/machines", "/var/lib/machines"}));
}

// ---- what an image reports ---------------------------------------------------------------------------

TEST(ImageInfo, DirectoryHasItsBirthTimeAndNoModificationTime) {
    TempTree t;
    auto dir = t.mkdir("pool/web");
    struct statx stx {};
    ASSERT_EQ(::statx(AT_FDCWD, dir.c_str(), 0, STATX_BTIME, &stx), 0);
    auto img = find_image({t / "pool"}, "web");
    ASSERT_TRUE(img.ok());
    uint64_t expected =
        (stx.stx_mask & STATX_BTIME) ? stx.stx_btime.tv_sec * 1000000ull + stx.stx_btime.tv_nsec / 1000 : 0;
    EXPECT_EQ(img->crtime_usec, expected);
    EXPECT_EQ(img->mtime_usec, 0u);  // as systemd 252
    EXPECT_EQ(img->usage, kUnknown);  // measured by machined in the background
    EXPECT_EQ(img->limit, kUnknown);
    EXPECT_FALSE(img->read_only);
}

TEST(ImageInfo, RawFileHasItsModificationTimeSizeAndAllocatedBlocks) {
    TempTree t;
    auto path = t.write("pool/disk.raw", sized(100000));
    struct timeval times[2] = {{1600000000, 250000}, {1600000000, 250000}};
    ASSERT_EQ(::utimes(path.c_str(), times), 0);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    auto img = find_image({t / "pool"}, "disk");
    ASSERT_TRUE(img.ok());
    EXPECT_EQ(img->mtime_usec, 1600000000250000u);
    EXPECT_EQ(img->limit, 100000u);
    EXPECT_EQ(img->limit_exclusive, 100000u);
    EXPECT_EQ(img->usage, static_cast<uint64_t>(st.st_blocks) * 512);
    EXPECT_EQ(img->usage_exclusive, img->usage);
}

TEST(ImageInfo, RawFileWithoutWriteBitsIsReadOnly) {
    TempTree t;
    t.write("pool/ro.raw", "x", 0444);
    t.write("pool/rw.raw", "x", 0600);
    EXPECT_TRUE(find_image({t / "pool"}, "ro")->read_only);
    EXPECT_FALSE(find_image({t / "pool"}, "rw")->read_only);
}

TEST(ImageInfo, ImmutableDirectoryIsReadOnly) {
    TempTree t;
    auto dir = t.mkdir("pool/frozen");
    berth::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    int flags = 0;
    if (::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) < 0) GTEST_SKIP() << "no file attributes on /tmp";
    int with = flags | FS_IMMUTABLE_FL;
    if (::ioctl(fd.get(), FS_IOC_SETFLAGS, &with) < 0) GTEST_SKIP() << "cannot set the immutable attribute (root?)";
    bool read_only = find_image({t / "pool"}, "frozen")->read_only;
    ASSERT_EQ(::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags), 0);  // before any assertion: TempTree removes it
    EXPECT_TRUE(read_only);
    EXPECT_FALSE(find_image({t / "pool"}, "frozen")->read_only);
}

TEST(ImageInfo, TypeNamesAreSystemds) {
    EXPECT_STREQ(type_name(ImageType::Directory), "directory");
    EXPECT_STREQ(type_name(ImageType::Subvolume), "subvolume");
    EXPECT_STREQ(type_name(ImageType::Raw), "raw");
    EXPECT_STREQ(type_name(ImageType::Block), "block");
}

// ---- disk usage ------------------------------------------------------------------------------------------

uint64_t allocated(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

TEST(DiskUsage, CountsEveryFileAndDirectory) {
    TempTree t;
    auto a = t.write("img/a", sized(50000));
    auto b = t.write("img/sub/b", sized(70000));
    uint64_t expected = allocated(t / "img") + allocated(t / "img/sub") + allocated(a) + allocated(b);
    auto usage = disk_usage(t / "img");
    ASSERT_TRUE(usage.ok()) << usage.error().message;
    EXPECT_EQ(*usage, expected);
    EXPECT_GE(*usage, 120000u);
}

TEST(DiskUsage, CountsAHardLinkedFileOnce) {
    TempTree t;
    auto a = t.write("img/a", sized(50000));
    auto before = disk_usage(t / "img");
    ASSERT_EQ(::link(a.c_str(), (t / "img/b").c_str()), 0);
    auto after = disk_usage(t / "img");
    ASSERT_TRUE(before.ok() && after.ok());
    EXPECT_EQ(*after, allocated(t / "img") + allocated(a));
}

TEST(DiskUsage, FollowsNoSymbolicLink) {
    TempTree t;
    t.write("big/file", sized(200000));
    t.mkdir("img");
    auto before = disk_usage(t / "img");
    t.symlink(t / "big", "img/link");
    auto after = disk_usage(t / "img");
    ASSERT_TRUE(before.ok() && after.ok());
    EXPECT_LT(*after, *before + 200000);
}

TEST(DiskUsage, AMissingDirectoryIsAnErrorNamingIt) {
    auto usage = disk_usage("/nonexistent-berth-image");
    ASSERT_FALSE(usage.ok());
    EXPECT_NE(usage.error().message.find("/nonexistent-berth-image"), std::string::npos);
}

// ---- an image's /etc files -----------------------------------------------------------------------------

struct ImageRoot {
    TempTree t;
    berth::UniqueFd fd() const { return berth::UniqueFd(::open(t.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); }
};

TEST(ImageFiles, HostnameIsTheFirstLineTrimmed) {
    ImageRoot r;
    r.t.write("etc/hostname", "# comment\n\n  web.example  \nsecond\n");
    EXPECT_EQ(read_image_hostname(r.fd().get()).value(), "web.example");
}

TEST(ImageFiles, MissingFilesAreEmptyAnswers) {
    ImageRoot r;
    EXPECT_EQ(read_image_hostname(r.fd().get()).value(), "");
    EXPECT_TRUE(read_image_machine_id(r.fd().get())->empty());
    EXPECT_TRUE(read_image_machine_info(r.fd().get())->empty());
    EXPECT_TRUE(read_image_os_release(r.fd().get())->empty());
}

TEST(ImageFiles, MachineIdIsSixteenBytes) {
    ImageRoot r;
    r.t.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    auto id = read_image_machine_id(r.fd().get());
    ASSERT_TRUE(id.ok());
    ASSERT_EQ(id->size(), 16u);
    EXPECT_EQ((*id)[0], 0x01);
    EXPECT_EQ((*id)[15], 0xef);
}

TEST(ImageFiles, UninitializedMachineIdIsEmpty) {
    ImageRoot r;
    r.t.write("etc/machine-id", "uninitialized\n");
    EXPECT_TRUE(read_image_machine_id(r.fd().get())->empty());
}

TEST(ImageFiles, MachineInfoAndOsReleaseAreKeyValues) {
    ImageRoot r;
    r.t.write("etc/machine-info", "PRETTY_HOSTNAME=\"Web Box\"\nCHASSIS=container\n");
    r.t.write("usr/lib/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
    auto info = read_image_machine_info(r.fd().get());
    EXPECT_EQ((*info)["PRETTY_HOSTNAME"], "Web Box");
    EXPECT_EQ((*info)["CHASSIS"], "container");
    auto os = read_image_os_release(r.fd().get());
    EXPECT_EQ((*os)["ID"], "debian");
    EXPECT_EQ((*os)["VERSION_ID"], "12");
}

TEST(ImageFiles, AbsoluteSymlinksResolveInsideTheImage) {
    ImageRoot r;
    // On the host both targets exist; inside the image they do not: nothing of the host's is read.
    r.t.symlink("/etc/passwd", "etc/hostname");
    r.t.symlink("../../../../../../usr/lib/os-release", "etc/os-release");
    auto h = read_image_hostname(r.fd().get());
    ASSERT_TRUE(h.ok()) << h.error().message;
    EXPECT_EQ(*h, "");
    EXPECT_TRUE(read_image_os_release(r.fd().get())->empty());
    r.t.write("srv/name", "inside\n");
    ::unlink((r.t / "etc/hostname").c_str());
    r.t.symlink("/srv/name", "etc/hostname");
    EXPECT_EQ(read_image_hostname(r.fd().get()).value(), "inside");
}

TEST(ImageFiles, AFifoIsRefusedNotWaitedFor) {
    ImageRoot r;
    r.t.mkdir("etc");
    ASSERT_EQ(::mkfifo((r.t / "etc/hostname").c_str(), 0600), 0);
    auto h = read_image_hostname(r.fd().get());
    ASSERT_FALSE(h.ok());
    EXPECT_NE(h.error().message.find("/etc/hostname"), std::string::npos) << h.error().message;
}

TEST(ImageFiles, AnAbsurdlyLargeFileIsRefused) {
    ImageRoot r;
    r.t.write("etc/hostname", sized(1 << 20));
    auto h = read_image_hostname(r.fd().get());
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.error().code, EFBIG);
}

TEST(ImageFiles, PairsSurviveTheWorkersPipe) {
    KeyValues pairs{{"ID", "debian"}, {"EMPTY", ""}, {"PRETTY_NAME", "Debian GNU/Linux 12"}};
    EXPECT_EQ(decode_pairs(encode_pairs(pairs)), pairs);
    EXPECT_EQ(decode_pairs(encode_pairs({{"K", "bad \xff byte"}}))["K"], "bad \xef\xbf\xbd byte");
}

}  // namespace
}  // namespace berth::images
