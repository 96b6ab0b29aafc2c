// CopyToMachine, CopyFromMachine (+WithFlags) and the machine objects' CopyTo/CopyFrom: contents, modes,
// times, owners mapped through the machine's user namespace, special files, the replace flag, symlinks a
// guest plants (or swaps in mid-copy) to make machined reach host files, machined answering while a copy
// runs, callers without privilege; hard links, extended attributes, ACL ids and file capabilities; and a
// Debian guest's ids.
#include <endian.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <sstream>
#include <tuple>
#include <vector>

#include "common/fd.hpp"
#include "tests/integration/machine_files_fixture.hpp"

namespace berth::test {
namespace {

// A write lease on a file: whoever opens it blocks until the lease goes (or the kernel's lease-break-time,
// 45 s, passes), which holds a copy at a known point without timing anything. The break is announced by
// SIGIO, ignored while the lease is held.
class Lease {
public:
    explicit Lease(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        old_ = ::signal(SIGIO, SIG_IGN);
        EXPECT_TRUE(fd_.valid()) << path;
        EXPECT_EQ(::fcntl(fd_.get(), F_SETLEASE, F_WRLCK), 0) << path << ": " << strerror(errno);
    }
    ~Lease() { release(); }
    void release() {
        if (fd_.valid()) (void)::fcntl(fd_.get(), F_SETLEASE, F_UNLCK);
        fd_.reset();
        ::signal(SIGIO, old_);
    }
    // Someone is waiting to open the file (the lease is being broken).
    bool broken() const {
        return fd_.valid() && ::fcntl(fd_.get(), F_GETLEASE) != F_WRLCK;
    }

private:
    UniqueFd fd_;
    sighandler_t old_ = SIG_DFL;
};

TEST_F(MachineFiles, CopyToKeepsContentModeTimesAndOwnersAsTheMachineSeesThem) {
    std::string src = host_dir_ + "/tree";
    make_dirs(src + "/sub");
    make_file(src + "/sub/data", "hello\n", 0640, 1234, 2345);
    make_file(src + "/empty", "", 0600, 0, 0);
    make_file(src + "/setuid", "#!/bin/sh\n", 04755, 0, 0);
    ASSERT_EQ(::chown((src + "/sub").c_str(), 1234, 2345), 0);
    ASSERT_EQ(::chmod((src + "/sub").c_str(), 0750), 0);
    const timespec times[2] = {{1000000000, 0}, {1200000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (src + "/sub/data").c_str(), times, 0), 0);

    auto r = copy_to(src, "/tmp/tree");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine_out("cat /tmp/tree/sub/data"), "hello");
    // Host uid U is the machine's uid U: host root's file belongs to the machine's root (not nobody, not
    // the shift as systemd 252 makes it, its issue #4078).
    EXPECT_EQ(in_machine_out("stat -c '%u:%g %a' /tmp/tree/sub/data /tmp/tree/sub /tmp/tree/empty /tmp/tree/setuid"),
              "1234:2345 640\n1234:2345 750\n0:0 600\n0:0 4755");
    EXPECT_EQ(in_machine_out("stat -c %Y /tmp/tree/sub/data"), "1200000000");
    EXPECT_EQ(in_machine_out("stat -c %s /tmp/tree/empty"), "0");
    // The host kernel has them at the machine's range.
    auto st = lstat_of(seen_from_host("/tmp/tree/sub/data"));
    EXPECT_EQ(st.st_uid, uid_base() + 1234);
    EXPECT_GT(uid_base(), 0u) << "the machine should have a user namespace of its own";
}

TEST_F(MachineFiles, CopyToMakesSymlinksFifosSocketsAndDeviceNodesAnew) {
    std::string src = host_dir_ + "/special";
    make_dirs(src);
    ASSERT_EQ(::symlink("/etc/passwd", (src + "/link").c_str()), 0);
    ASSERT_EQ(::mkfifo((src + "/fifo").c_str(), 0620), 0);
    ASSERT_EQ(::chmod((src + "/fifo").c_str(), 0620), 0);  // past the umask
    ASSERT_EQ(::mknod((src + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string sock = src + "/sock";
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(s);

    auto r = copy_to(src, "/tmp/special");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine_out("readlink /tmp/special/link"), "/etc/passwd");
    EXPECT_EQ(in_machine_out("stat -c '%F %a' /tmp/special/fifo"), "fifo 620");
    EXPECT_EQ(in_machine_out("stat -c '%F %t,%T' /tmp/special/null"), "character special file 1,3");
    EXPECT_EQ(in_machine_out("stat -c %F /tmp/special/sock"), "socket");
}

TEST_F(MachineFiles, CopyFromMapsTheMachinesOwnersBackAndDropsSetuid) {
    in_machine_out("echo inside > /tmp/out && chown 1234:2345 /tmp/out && chmod 4751 /tmp/out && "
                   "echo r > /tmp/rootfile && chmod 6755 /tmp/rootfile && mkdir -m 2750 /tmp/d");
    ASSERT_TRUE(copy_from("/tmp/out", host_dir_ + "/out").exited(0));
    ASSERT_TRUE(copy_from("/tmp/rootfile", host_dir_ + "/rootfile").exited(0));
    ASSERT_TRUE(copy_from("/tmp/d", host_dir_ + "/d").exited(0));
    EXPECT_EQ(read_file(host_dir_ + "/out"), "inside\n");
    auto st = lstat_of(host_dir_ + "/out");
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 2345u);
    // Root inside a machine is not root on the host: no set-id program comes out.
    EXPECT_EQ(st.st_mode & 07777, 0751u);
    st = lstat_of(host_dir_ + "/rootfile");
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    // Directories keep setgid (it only passes the group on).
    EXPECT_EQ(lstat_of(host_dir_ + "/d").st_mode & 07777, 02750u);
}

TEST_F(MachineFiles, CopyFromMakesSymlinksFifosAndDeviceNodesAnew) {
    in_machine_out("mkdir /tmp/sp && mkfifo -m 0640 /tmp/sp/fifo && ln -s /nowhere /tmp/sp/link");
    ASSERT_TRUE(copy_from("/tmp/sp", host_dir_ + "/sp").exited(0));
    ASSERT_TRUE(copy_from("/dev/null", host_dir_ + "/null").exited(0));
    auto st = lstat_of(host_dir_ + "/sp/fifo");
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(read_link(host_dir_ + "/sp/link"), "/nowhere");
    st = lstat_of(host_dir_ + "/null");
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 3));
}

// The value of extended attribute `name` of `path` itself, or "" with errno set.
std::string xattr_of(const std::string& path, const std::string& name) {
    std::vector<char> buf(65536);
    ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
    return n < 0 ? std::string() : std::string(buf.data(), static_cast<size_t>(n));
}

// struct vfs_cap_data revision 3 (a root uid; what a guest's root sets), cap_net_bind_service permitted.
std::string file_capability(uint32_t rootid) {
    uint32_t cap[6] = {htole32(0x03000001), htole32(1u << 10), 0, 0, 0, htole32(rootid)};
    return std::string(reinterpret_cast<const char*>(cap), sizeof cap);
}

TEST_F(MachineFiles, CopyToKeepsHardLinksExtendedAttributesAndMapsAclIdsButNoFileCapabilities) {
    std::string src = host_dir_ + "/x";
    make_dirs(src + "/sub");
    make_file(src + "/a", "linked\n", 0644, 0, 0);
    ASSERT_EQ(::link((src + "/a").c_str(), (src + "/sub/b").c_str()), 0);
    ASSERT_EQ(::link((src + "/a").c_str(), (host_dir_ + "/outside").c_str()), 0);  // not copied: 2 names inside
    ASSERT_EQ(::setxattr((src + "/a").c_str(), "user.berth", "kept", 4, 0), 0) << strerror(errno);
    make_file(src + "/prog", "#!/bin/sh\n", 0755, 0, 0);
    std::string cap = file_capability(0);
    ASSERT_EQ(::setxattr((src + "/prog").c_str(), "security.capability", cap.data(), cap.size(), 0), 0)
        << strerror(errno);
    // ACL user::rw- user:1234:r-- group::r-- mask::r-- other::---
    make_file(src + "/acl", "acl\n", 0640, 0, 0);
    uint32_t acl[1 + 5 * 2] = {htole32(2),
                               htole32(0x01 | 6u << 16), htole32(0xffffffff),
                               htole32(0x02 | 4u << 16), htole32(1234),
                               htole32(0x04 | 4u << 16), htole32(0xffffffff),
                               htole32(0x10 | 4u << 16), htole32(0xffffffff),
                               htole32(0x20 | 0u << 16), htole32(0xffffffff)};
    ASSERT_EQ(::setxattr((src + "/acl").c_str(), "system.posix_acl_access", acl, sizeof acl, 0), 0) << strerror(errno);

    auto r = copy_to(src, "/tmp/x");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::string a = in_machine_out("stat -c '%i %h' /tmp/x/a"), b = in_machine_out("stat -c '%i %h' /tmp/x/sub/b");
    EXPECT_EQ(a, b);
    EXPECT_TRUE(a.ends_with(" 2")) << a;
    EXPECT_EQ(in_machine_out("cat /tmp/x/sub/b"), "linked");
    std::string copied = seen_from_host("/tmp/x/a");
    std::string value = xattr_of(copied, "user.berth");
    if (value.empty() && errno == ENOTSUP) GTEST_SKIP() << "the machine's /tmp takes no user.* xattrs";
    EXPECT_EQ(value, "kept");
    // Into a user namespace: the capability's root uid would be the host's.
    errno = 0;
    EXPECT_EQ(xattr_of(seen_from_host("/tmp/x/prog"), "security.capability"), "");
    EXPECT_EQ(errno, ENODATA);
    // The ACL's user is the machine's 1234: on the host kernel, at the machine's range.
    std::string got = xattr_of(seen_from_host("/tmp/x/acl"), "system.posix_acl_access");
    ASSERT_EQ(got.size(), sizeof acl);
    uint32_t id = 0;
    std::memcpy(&id, got.data() + 4 + 8 + 4, 4);
    EXPECT_EQ(le32toh(id), uid_base() + 1234);
    EXPECT_EQ(in_machine_out("stat -c '%a' /tmp/x/acl"), "640");
}

TEST_F(MachineFiles, CopyFromKeepsHardLinksAndExtendedAttributesButDropsTheGuestsFileCapabilities) {
    in_machine_out("mkdir /tmp/hl && echo x > /tmp/hl/a && ln /tmp/hl/a /tmp/hl/b && ln /tmp/hl/a /tmp/other && "
                   "echo '#!/bin/sh' > /tmp/hl/prog && chmod 755 /tmp/hl/prog");
    // What the guest's root would set (setcap inside): capabilities for the machine's root.
    std::string cap = file_capability(uid_base());
    ASSERT_EQ(::setxattr(seen_from_host("/tmp/hl/prog").c_str(), "security.capability", cap.data(), cap.size(), 0), 0)
        << strerror(errno);
    bool user_xattrs = ::setxattr(seen_from_host("/tmp/hl/a").c_str(), "user.berth", "out", 3, 0) == 0;
    ASSERT_TRUE(copy_from("/tmp/hl", host_dir_ + "/hl").exited(0));
    auto a = lstat_of(host_dir_ + "/hl/a"), b = lstat_of(host_dir_ + "/hl/b");
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_nlink, 2u);
    EXPECT_EQ(read_file(host_dir_ + "/hl/b"), "x\n");
    errno = 0;
    EXPECT_EQ(xattr_of(host_dir_ + "/hl/prog", "security.capability"), "");
    EXPECT_EQ(errno, ENODATA);
    EXPECT_EQ(lstat_of(host_dir_ + "/hl/prog").st_mode & 07777, 0755u);
    if (user_xattrs) {
        EXPECT_EQ(xattr_of(host_dir_ + "/hl/a", "user.berth"), "out");
    }
}

TEST_F(MachineFiles, ABindMountLoopInTheGuestEndsTheCopyWithAnError) {
    in_machine_out("mkdir -p /tmp/loop/sub && echo x > /tmp/loop/file && mount --bind /tmp/loop /tmp/loop/sub");
    auto r = copy_from("/tmp/loop", host_dir_ + "/loop");
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("/tmp/loop/sub: it contains itself"), std::string::npos) << r.describe();
}

TEST_F(MachineFiles, CopyToAnExistingFileFailsUnlessReplaceIsAsked) {
    write_file(host_dir_ + "/f", "new\n");
    in_machine_out("echo old > /tmp/f");
    auto r = copy_to(host_dir_ + "/f", "/tmp/f");
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("File exists"), std::string::npos) << r.describe();
    EXPECT_EQ(in_machine_out("cat /tmp/f"), "old");
    r = manager("CopyToMachineWithFlags", {"ssst", machine_, host_dir_ + "/f", "/tmp/f", "1"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine_out("cat /tmp/f"), "new");
}

TEST_F(MachineFiles, CopyIntoAnExistingDirectoryMergesAndKeepsWhatIsThere) {
    make_dirs(host_dir_ + "/d");
    write_file(host_dir_ + "/d/a", "host a\n");
    write_file(host_dir_ + "/d/b", "host b\n");
    in_machine_out("mkdir /tmp/d && echo guest a > /tmp/d/a");
    ASSERT_TRUE(copy_to(host_dir_ + "/d", "/tmp/d").exited(0));
    EXPECT_EQ(in_machine_out("cat /tmp/d/a /tmp/d/b"), "guest a\nhost b");
    ASSERT_TRUE(manager("CopyToMachineWithFlags", {"ssst", machine_, host_dir_ + "/d", "/tmp/d", "1"}).exited(0));
    EXPECT_EQ(in_machine_out("cat /tmp/d/a"), "host a");
}

// What systemd-machined 252 answered for the same calls (run on a private bus against a registered leader).
TEST_F(MachineFiles, EdgeCasesAnswerAsSystemd252) {
    auto error_of = [&](const std::string& method, const std::string& src, const std::string& dst, uint64_t flags) {
        return bus_error_of([&](sdbus::IProxy& p) {
            const char* manager = "org.freedesktop.machine1.Manager";
            if (method.ends_with("WithFlags"))
                p.callMethod(method).onInterface(manager).withArguments(machine_, src, dst, flags);
            else
                p.callMethod(method).onInterface(manager).withArguments(machine_, src, dst);
        });
    };
    write_file(host_dir_ + "/f", "f\n");
    make_dirs(host_dir_ + "/d/sub");
    in_machine_out("mkdir /tmp/dir && echo x > /tmp/notdir");
    // A file onto a directory exists, replace or not; a directory onto a file is no directory.
    EXPECT_EQ(error_of("CopyToMachine", host_dir_ + "/f", "/tmp/dir", 0), "org.freedesktop.DBus.Error.FileExists");
    EXPECT_EQ(error_of("CopyToMachineWithFlags", host_dir_ + "/f", "/tmp/dir", 1),
              "org.freedesktop.DBus.Error.FileExists");
    EXPECT_EQ(error_of("CopyToMachine", host_dir_ + "/d", "/tmp/notdir", 0), "System.Error.ENOTDIR");
    const std::string not_found = "org.freedesktop.DBus.Error.FileNotFound";
    EXPECT_EQ(error_of("CopyToMachine", host_dir_ + "/nope", "/tmp/nope", 0), not_found);
    EXPECT_EQ(error_of("CopyToMachine", host_dir_ + "/f", "/tmp/nodir/f", 0), not_found);
    EXPECT_EQ(error_of("CopyToMachine", host_dir_ + "/d/..", "/tmp/dd", 0), "org.freedesktop.DBus.Error.InvalidArgs");
    // A trailing slash names the same directory.
    EXPECT_EQ(error_of("CopyToMachine", host_dir_ + "/d/", "/tmp/d2", 0), "");
    EXPECT_EQ(in_machine_out("ls /tmp/d2"), "sub");
}

TEST_F(MachineFiles, UnknownCopyFlagsAndRelativePathsAreInvalidArgs) {
    write_file(host_dir_ + "/f", "x");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("CopyToMachineWithFlags").onInterface("org.freedesktop.machine1.Manager")
                      .withArguments(machine_, host_dir_ + "/f", std::string("/tmp/f"), uint64_t{2});
              }),
              "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("CopyFromMachine").onInterface("org.freedesktop.machine1.Manager")
                      .withArguments(machine_, std::string("tmp/f"), host_dir_ + "/g");
              }),
              "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_FALSE(exists("/tmp/f"));
}

TEST_F(MachineFiles, CopyToThroughAGuestSymlinkStaysInsideTheMachine) {
    std::string name = "berth-copy-" + id_;
    write_file(host_dir_ + "/f", "planted\n");
    // A directory symlink to /etc, one climbing with "..", and one at the end of the path.
    in_machine_out("ln -s /etc /tmp/evil && ln -s ../../../../../../../../etc /tmp/up && ln -s /etc/" + name +
                   "-last /tmp/last");
    ASSERT_TRUE(copy_to(host_dir_ + "/f", "/tmp/evil/" + name).exited(0));
    ASSERT_TRUE(copy_to(host_dir_ + "/f", "/tmp/up/" + name + "-up").exited(0));
    EXPECT_EQ(in_machine_out("cat /etc/" + name + " /etc/" + name + "-up"), "planted\nplanted");
    EXPECT_FALSE(exists("/etc/" + name));
    EXPECT_FALSE(exists("/etc/" + name + "-up"));
    // The last component is never followed: it exists (as a symlink), and replacing replaces the link.
    EXPECT_FALSE(copy_to(host_dir_ + "/f", "/tmp/last").exited(0));
    ASSERT_TRUE(manager("CopyToMachineWithFlags", {"ssst", machine_, host_dir_ + "/f", "/tmp/last", "1"}).exited(0));
    EXPECT_EQ(in_machine_out("stat -c %F /tmp/last"), "regular file");
    EXPECT_FALSE(exists("/etc/" + name + "-last"));
    EXPECT_EQ(in_machine_out("test -e /etc/" + name + "-last || echo gone"), "gone");
}

TEST_F(MachineFiles, CopyFromThroughAGuestSymlinkReadsTheMachinesFilesOnly) {
    in_machine_out("ln -s /etc /tmp/evil && ln -s /etc/shadow /tmp/shadow && echo guest-passwd > /tmp/passwd-marker");
    ASSERT_TRUE(copy_from("/tmp/evil/passwd", host_dir_ + "/passwd").exited(0));
    EXPECT_EQ(read_file(host_dir_ + "/passwd"), read_file(root_ + "/etc/passwd"));
    EXPECT_NE(read_file(host_dir_ + "/passwd"), read_file("/etc/passwd"));
    // A symlink is copied as one, never read through.
    ASSERT_TRUE(copy_from("/tmp/shadow", host_dir_ + "/shadow").exited(0));
    EXPECT_EQ(read_link(host_dir_ + "/shadow"), "/etc/shadow");
}

TEST_F(MachineFiles, MachinedAnswersWhileACopyRuns) {
    std::string src = host_dir_ + "/held";
    write_file(src, "held\n");
    Lease lease(src);
    auto copy = start_copy_to(src, "/tmp/held");
    // The copy's worker is blocked opening the file: machined is not.
    ASSERT_TRUE(eventually([&] { return lease.broken(); }));
    EXPECT_EQ(machine_names(), (std::vector<std::string>{".host", machine_}));
    EXPECT_TRUE(copy.running());
    lease.release();
    auto r = copy.wait(60s);
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine_out("cat /tmp/held"), "held");
}

TEST_F(MachineFiles, ADestinationSwappedForASymlinkMidCopyCannotRedirectIt) {
    std::string name = "berth-swap-" + id_;
    make_dirs(host_dir_ + "/tree");
    write_file(host_dir_ + "/tree/" + name, "late\n");
    Lease lease(host_dir_ + "/tree/" + name);
    auto copy = start_copy_to(host_dir_ + "/tree", "/tmp/dst");
    // /tmp/dst is made and open; its file waits. The guest puts a symlink to /etc in its place.
    ASSERT_TRUE(eventually([&] { return lease.broken(); }));
    in_machine_out("mv /tmp/dst /tmp/moved && ln -s /etc /tmp/dst");
    lease.release();
    auto r = copy.wait(60s);
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_FALSE(exists("/etc/" + name));
    EXPECT_EQ(in_machine_out("cat /tmp/moved/" + name + "; test -e /etc/" + name + " || echo absent"), "late\nabsent");
}

TEST_F(MachineFiles, CopyOfTheRootDirectoryOrFromTheHostMachineIsRefused) {
    EXPECT_FALSE(copy_from("/", host_dir_ + "/all").exited(0));
    EXPECT_FALSE(exists(host_dir_ + "/all"));
    EXPECT_EQ(bus_error_of([&](sdbus::IProxy& p) {
                  p.callMethod("CopyFromMachine").onInterface("org.freedesktop.machine1.Manager")
                      .withArguments(std::string(".host"), std::string("/etc/hostname"), host_dir_ + "/h");
              }),
              "org.freedesktop.DBus.Error.NotSupported");
}

TEST_F(MachineFiles, MachineObjectMethodsCopyToo) {
    write_file(host_dir_ + "/f", "via object\n");
    // The object path's label escapes what is not a letter or digit ("-" is "_2d").
    std::string path = "/org/freedesktop/machine1/machine/";
    for (char c : machine_) path += std::isalnum(static_cast<unsigned char>(c)) ? std::string(1, c) : "_2d";
    auto r = busctl({"call", "org.freedesktop.machine1", path, "org.freedesktop.machine1.Machine", "CopyToWithFlags",
                     "sst", host_dir_ + "/f", "/tmp/obj", "0"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    r = busctl({"call", "org.freedesktop.machine1", path, "org.freedesktop.machine1.Machine", "CopyFrom", "ss",
                "/tmp/obj", host_dir_ + "/back"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(read_file(host_dir_ + "/back"), "via object\n");
}

TEST_F(MachineFiles, UnprivilegedCallersAreRefused) {
    write_file(host_dir_ + "/f", "x");
    for (auto& [method, sig, args] : std::vector<std::tuple<std::string, std::string, std::vector<std::string>>>{
             {"CopyToMachine", "sss", {host_dir_ + "/f", "/tmp/nobody"}},
             {"CopyFromMachine", "sss", {"/etc/passwd", host_dir_ + "/nobody"}},
             {"CopyToMachineWithFlags", "ssst", {host_dir_ + "/f", "/tmp/nobody", "1"}},
             {"BindMountMachine", "sssbb", {host_dir_, "/mnt", "false", "false"}}}) {
        std::vector<std::string> all{"call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                                     "org.freedesktop.machine1.Manager", method, sig, machine_};
        all.insert(all.end(), args.begin(), args.end());
        auto r = busctl_as_nobody(all);
        EXPECT_FALSE(r.exited(0)) << method;
        EXPECT_NE(r.err.find("Access denied"), std::string::npos) << method << ": " << r.describe();
    }
    EXPECT_FALSE(in_machine("test -e /tmp/nobody").exited(0));
    EXPECT_FALSE(exists(host_dir_ + "/nobody"));
}

// A Debian guest (the cached rootfs on an ephemeral overlay, not booted: its ids and tools are what
// matter), in its own user namespace as nspawn's default gives it.
class DebianMachineFiles : public RunningMachine {
protected:
    void SetUp() override {
        MachinedTest::SetUp();
        if (!exists(debian_rootfs() + "/usr/bin/stat")) GTEST_SKIP() << "no Debian rootfs at " << debian_rootfs();
        start_machined();
        name_ = "deb-" + id_;
        start_machine(name_, start_nspawn({"-q", "--register=yes", "-D", debian_rootfs(), "-M", name_, "-x",
                                           "/bin/sleep", "1000"},
                                          {.env = {bus_->env()}, .timeout = 600s}));
    }
    std::string in_machine(const std::string& script) const {
        auto r = run("/usr/bin/nsenter", {"-t", leader_, "-a", "-r", "-w", "/bin/sh", "-c", script});
        EXPECT_TRUE(r.exited(0)) << script << "\n" << r.describe();
        return trim(r.out);
    }

    std::string name_;
};

TEST_F(DebianMachineFiles, CopyBothWaysKeepsModeAndOwnership) {
    // Out: Debian's /etc/shadow is root:shadow 0640 inside; on the host root:42 (shadow's gid) 0640.
    std::string shadow_gid = in_machine("getent group shadow | cut -d: -f3");
    auto r = manager("CopyFromMachine", {"sss", name_, "/etc/shadow", host_dir_ + "/shadow"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto st = lstat_of(host_dir_ + "/shadow");
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(std::to_string(st.st_gid), shadow_gid);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    // In: a file of host uid 1000 belongs to the guest's uid 1000; a directory of root to its root.
    make_dirs(host_dir_ + "/home");
    make_file(host_dir_ + "/home/notes", "mine\n", 0600, 1000, 1000);
    r = manager("CopyToMachine", {"sss", name_, host_dir_ + "/home", "/srv/home"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine("stat -c '%u:%g %a %n' /srv/home /srv/home/notes"),
              "0:0 755 /srv/home\n1000:1000 600 /srv/home/notes");
    // The machine's root is not host root: the host kernel has the guest's ids in its range.
    uint32_t base = 0, inner = 0;
    std::istringstream("" + read_file("/proc/" + leader_ + "/uid_map")) >> inner >> base;
    EXPECT_GT(base, 0u);
    EXPECT_EQ(lstat_of("/proc/" + leader_ + "/root/srv/home/notes").st_uid, base + 1000);
}

}  // namespace
}  // namespace berth::test
