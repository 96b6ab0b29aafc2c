// Imports and exports through org.freedesktop.import1, which machined serves: systemd's machinectl and
// ours import what GNU tar made and export what GNU tar reads back, every file kind kept; a failed,
// canceled or killed import leaves nothing in the pool; hostile archives change nothing outside it; the
// transfers are listed while they run; unprivileged callers are refused.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <regex>

#include <sdbus-c++/sdbus-c++.h>

#include "tests/integration/machinectl_fixture.hpp"

namespace berth::test {
namespace {

class MachinectlTransfers : public MachinectlTest {
protected:
    void TearDown() override {
        if (!pool_.empty() && exists(pool_)) (void)run("/usr/bin/chattr", {"-R", "-f", "-i", pool_});
        MachinectlTest::TearDown();
    }

    // A tree with every kind of file a root filesystem has, times in whole seconds (GNU tar's own format
    // keeps no more).
    std::string make_tree(const std::string& name) const {
        std::string d = tmp_ + "/" + name;
        make_dirs(d + "/etc");
        make_dirs(d + "/usr/bin");
        make_dirs(d + "/tmp");
        write_file(d + "/etc/hostname", "imported\n");
        write_file(d + "/etc/empty", "");
        write_file(d + "/usr/bin/tool", std::string(100000, 'x'));
        EXPECT_EQ(::chmod((d + "/usr/bin/tool").c_str(), 06755), 0);
        EXPECT_EQ(::chmod((d + "/tmp").c_str(), 01777), 0);
        EXPECT_EQ(::link((d + "/usr/bin/tool").c_str(), (d + "/usr/bin/tool-link").c_str()), 0);
        EXPECT_EQ(::symlink("../etc/hostname", (d + "/usr/hostname-link").c_str()), 0);
        EXPECT_EQ(::symlink("/nowhere", (d + "/usr/dangling").c_str()), 0);
        EXPECT_EQ(::mkfifo((d + "/etc/fifo").c_str(), 0640), 0);
        EXPECT_EQ(::mknod((d + "/etc/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
        write_file(d + "/etc/owned", "someone's\n");
        EXPECT_EQ(::chown((d + "/etc/owned").c_str(), 1234, 5678), 0);
        EXPECT_EQ(::setxattr((d + "/etc/owned").c_str(), "user.berth", "value", 5, 0), 0);
        EXPECT_TRUE(run("/usr/bin/find", {d, "-exec", "touch", "-h", "-d", "@1700000000", "{}", "+"}).exited(0));
        return d;
    }
    std::string gnu_tar(const std::string& tree, const std::string& file, const std::string& compress = "") const {
        std::string out = tmp_ + "/" + file;
        std::vector<std::string> args = {"--xattrs", "--xattrs-include=*", "--numeric-owner", "-C", tree, "-cf", out};
        if (!compress.empty()) args.insert(args.begin(), compress);
        args.push_back(".");
        auto r = run("/usr/bin/tar", args);
        EXPECT_TRUE(r.exited(0)) << r.describe();
        return out;
    }
    // The tree as tree_snapshot() sees it, plus what it leaves out: hard links, xattrs, device numbers.
    void expect_same_tree(const std::string& a, const std::string& b) const {
        EXPECT_EQ(tree_snapshot(a), tree_snapshot(b)) << a << " vs " << b;
        struct stat x {}, y {};
        ASSERT_EQ(::stat((b + "/usr/bin/tool").c_str(), &x), 0);
        ASSERT_EQ(::stat((b + "/usr/bin/tool-link").c_str(), &y), 0);
        EXPECT_EQ(x.st_ino, y.st_ino) << "hard link lost in " << b;
        ASSERT_EQ(::lstat((b + "/etc/null").c_str(), &x), 0);
        EXPECT_TRUE(S_ISCHR(x.st_mode) && x.st_rdev == makedev(1, 3)) << b;
        char value[16] = {};
        EXPECT_EQ(::getxattr((b + "/etc/owned").c_str(), "user.berth", value, sizeof value), 5) << b;
        EXPECT_STREQ(value, "value");
        EXPECT_EQ(read_file(b + "/usr/bin/tool"), std::string(100000, 'x'));
    }
    // Nothing in the pool but `names`: no temporary left, hidden or not.
    void expect_pool(const std::vector<std::string>& names) const {
        EXPECT_TRUE(eventually([&] { return list_dir(pool_) == names; })) << "pool: " << testing::PrintToString(list_dir(pool_));
    }
};

TEST_F(MachinectlTransfers, SystemdsMachinectlImportsAndExportsThroughUs) {
    ASSERT_TRUE(have_systemd_machinectl()) << "systemd-container's machinectl is needed";
    std::string src = make_tree("src");
    std::string archive = gnu_tar(src, "web.tar.gz", "-z");
    auto r = systemd_machinectl({"import-tar", archive});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    expect_same_tree(src, pool_ + "/web");
    EXPECT_NE(systemd_machinectl({"list-images"}).out.find("web"), std::string::npos);

    // Exported by systemd's client (xz, from the name), read back by GNU tar.
    std::string out = tmp_ + "/web.tar.xz";
    r = systemd_machinectl({"export-tar", "web", out});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::string back = tmp_ + "/back";
    make_dirs(back);
    r = run("/usr/bin/tar", {"--xattrs", "--xattrs-include=*", "--numeric-owner", "-C", back, "-xpf", out});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    expect_same_tree(src, back);

    // Our client, with an existing name: refused without --force, replaced with it.
    r = machinectl({"import-tar", out, "web"});
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.describe();
    r = machinectl({"import-tar", "--force", out, "web"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    expect_same_tree(src, pool_ + "/web");
    expect_pool({"web"});
}

TEST_F(MachinectlTransfers, OursImportsEveryWayAndExportsEveryFormat) {
    std::string src = make_tree("src");
    std::string plain = gnu_tar(src, "plain.tar");
    // From standard input, named on the command line.
    auto r = run(machinectl_path(), {"-q", "import-tar", "-", "piped"},
                 {.input = read_file(plain), .env = {bus_->env()}, .timeout = 60s});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    expect_same_tree(src, pool_ + "/piped");
    // A directory.
    r = machinectl({"import-fs", src, "copied"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    expect_same_tree(src, pool_ + "/copied");
    // Every export format, and back.
    for (std::string format : {"uncompressed", "gzip", "xz", "bzip2", "zstd"}) {
        std::string file = tmp_ + "/out-" + format;
        r = machinectl({"export-tar", "--format", format, "piped", file});
        ASSERT_TRUE(r.exited(0)) << format << ": " << r.describe();
        std::string name = "back-" + format;
        r = machinectl({"import-tar", "--read-only", file, name});
        ASSERT_TRUE(r.exited(0)) << format << ": " << r.describe();
        expect_same_tree(src, pool_ + "/" + name);
        EXPECT_EQ(machinectl({"show-image", name, "-p", "ReadOnly", "--value"}).out, "yes\n") << format;
    }
    // A raw image, compressed, and out again.
    std::string raw = tmp_ + "/disk.raw";
    write_file(raw, std::string(1 << 20, 'r') + std::string(1 << 20, '\0') + "end");
    ASSERT_TRUE(run("/usr/bin/gzip", {"-k", raw}).exited(0));
    r = machinectl({"import-raw", raw + ".gz"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(pool_ + "/disk.raw"), read_file(raw));
    r = machinectl({"export-raw", "disk", tmp_ + "/out.raw"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(tmp_ + "/out.raw"), read_file(raw));
    // Not an image for that verb, or none: said, nothing made.
    r = machinectl({"export-raw", "piped", tmp_ + "/x.raw"});
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("export-raw takes raw images"), std::string::npos) << r.describe();
    r = machinectl({"export-tar", "nosuch", tmp_ + "/x.tar"});
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("nosuch"), std::string::npos) << r.describe();
    r = machinectl({"export-tar", "--format", "lzma", "piped", tmp_ + "/x.tar"});
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("Unknown format"), std::string::npos) << r.describe();
}

TEST_F(MachinectlTransfers, HostileArchivesChangeNothingOutsideAndLeaveNothing) {
    std::string victim = tmp_ + "/victim";
    make_dirs(victim);
    write_file(victim + "/pwned", "before\n");
    // An absolute path (tar -P keeps it), ".." (made by --transform), a symlink out and a file through it.
    auto absolute = run("/usr/bin/tar", {"-cPf", tmp_ + "/absolute.tar", victim + "/pwned"});
    ASSERT_TRUE(absolute.exited(0)) << absolute.describe();
    write_file(tmp_ + "/pwned", "after\n");
    auto dotdot = run("/usr/bin/tar", {"-C", tmp_, "--transform", "s,^,../../victim/,", "-cf", tmp_ + "/dotdot.tar", "pwned"});
    ASSERT_TRUE(dotdot.exited(0)) << dotdot.describe();
    make_dirs(tmp_ + "/a");
    ASSERT_EQ(::symlink(victim.c_str(), (tmp_ + "/a/link").c_str()), 0);
    make_dirs(tmp_ + "/b/link");
    write_file(tmp_ + "/b/link/pwned", "after\n");
    auto through = run("/usr/bin/tar", {"-cf", tmp_ + "/through.tar", "-C", tmp_ + "/a", "link", "-C", tmp_ + "/b", "link/pwned"});
    ASSERT_TRUE(through.exited(0)) << through.describe();
    write_file(tmp_ + "/garbage.tar", std::string(4096, 'g'));

    for (auto* name : {"absolute", "dotdot", "through", "garbage"}) {
        auto r = machinectl({"import-tar", tmp_ + "/" + name + ".tar"});
        EXPECT_FALSE(r.exited(0)) << name << ": " << r.describe();
        EXPECT_NE(r.err.find("failed"), std::string::npos) << name << ": " << r.describe();
        EXPECT_EQ(read_file(victim + "/pwned"), "before\n") << name;
        expect_pool({});
    }
    EXPECT_EQ(list_dir(victim), std::vector<std::string>{"pwned"});
}

TEST_F(MachinectlTransfers, RunningTransfersAreListedAndCanceledLeavingNothing) {
    std::string src = make_tree("src");
    write_file(src + "/big", std::string(8 << 20, 'b'));
    std::string archive = gnu_tar(src, "big.tar");
    std::string fifo = tmp_ + "/fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    Process importing = Process::start(machinectl_path(), {"import-tar", fifo, "slow"}, {.env = {bus_->env()}, .timeout = 60s});
    int w = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(w, 0);
    std::string head = read_file(archive).substr(0, 1 << 20);
    ASSERT_EQ(::write(w, head.data(), head.size()), static_cast<ssize_t>(head.size()));
    ASSERT_TRUE(eventually([&] { return machinectl({"list-transfers", "--no-legend"}).out.find("slow") != std::string::npos; }));
    auto ours = machinectl({"list-transfers"});
    EXPECT_TRUE(std::regex_search(ours.out, std::regex(R"(ID +PERCENT +TYPE +LOCAL +REMOTE\n +1 +\d+% +import-tar +slow)")))
        << ours.out;
    if (have_systemd_machinectl()) {
        auto theirs = systemd_machinectl({"list-transfers"});
        EXPECT_EQ(ours.out, theirs.out);
    }
    // Made under a hidden name that no listing shows.
    EXPECT_TRUE(eventually([&] {
        for (auto& n : list_dir(pool_))
            if (n.rfind(".#import.", 0) == 0) return true;
        return false;
    }));
    EXPECT_EQ(machinectl({"list-images", "-a", "--no-legend"}).out, ".host directory no  - -\n");
    auto cancel = machinectl({"cancel-transfer", "1"});
    EXPECT_TRUE(cancel.exited(0)) << cancel.describe();
    auto r = importing.wait(30s);
    ::close(w);
    EXPECT_FALSE(r.exited(0)) << r.describe();
    EXPECT_NE(r.err.find("canceled"), std::string::npos) << r.describe();
    expect_pool({});
    EXPECT_EQ(machinectl({"list-transfers"}).out, "No transfers.\n");
    auto unknown = machinectl({"cancel-transfer", "7"});
    EXPECT_FALSE(unknown.exited(0));
    EXPECT_NE(unknown.err.find("No transfer by id 7"), std::string::npos) << unknown.describe();
}

TEST_F(MachinectlTransfers, AKilledImportIsRemovedAtTheNextStart) {
    std::string src = make_tree("src");
    write_file(src + "/big", std::string(8 << 20, 'b'));
    std::string archive = gnu_tar(src, "big.tar");
    std::string fifo = tmp_ + "/fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    Process importing = Process::start(machinectl_path(), {"-q", "import-tar", fifo, "killed"}, {.env = {bus_->env()}, .timeout = 60s});
    int w = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(w, 0);
    std::string head = read_file(archive).substr(0, 2 << 20);
    ASSERT_EQ(::write(w, head.data(), head.size()), static_cast<ssize_t>(head.size()));
    std::string temporary;
    ASSERT_TRUE(eventually([&] {
        for (auto& n : list_dir(pool_))
            if (n.rfind(".#import.", 0) == 0) temporary = n;
        return !temporary.empty() && exists(pool_ + "/" + temporary + "/etc");
    }));
    stop_machined(SIGKILL);
    auto r = importing.wait(30s);
    ::close(w);
    EXPECT_TRUE(r.exited(1)) << r.describe();
    EXPECT_NE(r.err.find("left the bus"), std::string::npos) << r.describe();
    // The worker went with machined (its death signal); what it made stays until machined is back.
    start_machined();
    expect_pool({});
}

TEST_F(MachinectlTransfers, UnprivilegedCallersAreRefused) {
    auto list = busctl_as_nobody({"call", "org.freedesktop.import1", "/org/freedesktop/import1",
                                  "org.freedesktop.import1.Manager", "ListTransfers"});
    EXPECT_TRUE(list.exited(0)) << list.describe();
    std::string archive = gnu_tar(make_tree("src"), "web.tar");
    auto import = [&](sdbus::IProxy& p) {
        int fd = ::open(archive.c_str(), O_RDONLY | O_CLOEXEC);
        p.callMethod("ImportTar").onInterface("org.freedesktop.import1.Manager")
            .withArguments(sdbus::UnixFd(fd), std::string("web"), false, false);
    };
    auto cancel = [](sdbus::IProxy& p) {
        p.callMethod("CancelTransfer").onInterface("org.freedesktop.import1.Manager").withArguments(uint32_t{1});
    };
    auto export_ = [&](sdbus::IProxy& p) {
        int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        p.callMethod("ExportTar").onInterface("org.freedesktop.import1.Manager")
            .withArguments(std::string("web"), sdbus::UnixFd(fd), std::string(""));
    };
    EXPECT_EQ(bus_error_of(import, true, "/org/freedesktop/import1"), "org.freedesktop.DBus.Error.AccessDenied");
    EXPECT_EQ(bus_error_of(cancel, true, "/org/freedesktop/import1"), "org.freedesktop.DBus.Error.AccessDenied");
    EXPECT_EQ(bus_error_of(export_, true, "/org/freedesktop/import1"), "org.freedesktop.DBus.Error.AccessDenied");
    EXPECT_EQ(bus_error_of(cancel, false, "/org/freedesktop/import1"), "org.freedesktop.import1.NoSuchTransfer");
    expect_pool({});
}

}  // namespace
}  // namespace berth::test
