// Files an image (or a guest, for its own next boot) controls and nspawn reads before the start: a FIFO,
// a device node or a huge sparse file in their place is refused or ignored with a message, never a hang
// and never a read of gigabytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class HostileImage : public BusyboxTest {
protected:
    void fifo(const std::string& path) {
        std::filesystem::remove(root_ + path);
        ASSERT_EQ(::mkfifo((root_ + path).c_str(), 0644), 0) << path;
    }
    void huge(const std::string& path) {
        std::filesystem::remove(root_ + path);
        int fd = ::open((root_ + path).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        ASSERT_GE(fd, 0) << path;
        ASSERT_EQ(::ftruncate(fd, off_t{4} << 30), 0);  // 4 GiB of zeros, sparse
        ::close(fd);
    }
};

TEST_F(HostileImage, MachineIdThatIsAFifoIsIgnoredWithAWarning) {
    fifo("/etc/machine-id");
    auto r = nspawn({"--register=no", "-D", root_, "/bin/true"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.err.find("/etc/machine-id is not a regular file"), std::string::npos) << r.describe();
}

TEST_F(HostileImage, MachineIdThatIsADeviceOrHugeIsIgnored) {
    std::filesystem::remove(root_ + "/etc/machine-id");
    ASSERT_EQ(::mknod((root_ + "/etc/machine-id").c_str(), S_IFCHR | 0644, makedev(1, 5)), 0);  // /dev/zero
    auto r = sh("true");
    EXPECT_TRUE(r.exited(0)) << r.describe();
    huge("/etc/machine-id");
    r = sh("true");
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

TEST_F(HostileImage, PasswdThatIsAFifoIsRefusedNamingIt) {
    fifo("/etc/passwd");
    EXPECT_TRUE(refused_with(sh("true"), "/etc/passwd is not a regular file"));
}

TEST_F(HostileImage, HugeGroupFileIsRefusedNamingIt) {
    huge("/etc/group");
    EXPECT_TRUE(refused_with(sh("true", {"--user=root"}), "/etc/group is larger than"));
}

}  // namespace
}  // namespace berth::test
