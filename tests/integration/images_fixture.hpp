// The fixture of the image tests (machined_images_test.cpp, machined_image_operations_test.cpp):
// machined on the test's own pool, with helpers to make images and read their properties, and a btrfs
// or xfs filesystem on a loop device for the tests that need one.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <sstream>
#include <string>

#include "tests/integration/bus_fixture.hpp"

namespace berth::test {

inline constexpr const char* kImageInterface = "org.freedesktop.machine1.Image";
inline constexpr const char* kUnknown = "18446744073709551615";

class Images : public MachinedTest {
protected:
    // A test that failed between making an image read-only and back leaves no immutable file behind.
    void TearDown() override {
        if (!pool_.empty() && exists(pool_)) (void)run("/usr/bin/chattr", {"-R", "-f", "-i", pool_});
        MachinedTest::TearDown();
    }
    // A directory image NAME in the pool with the /etc files a Debian image has.
    std::string make_image(const std::string& name) const {
        std::string dir = pool_ + "/" + name;
        make_dirs(dir + "/etc");
        write_file(dir + "/etc/hostname", name + "-host\n");
        write_file(dir + "/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
        write_file(dir + "/etc/machine-info", "PRETTY_HOSTNAME=\"Pretty " + name + "\"\nCHASSIS=container\n");
        write_file(dir + "/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n");
        return dir;
    }
    static std::string object(const std::string& label) { return "/org/freedesktop/machine1/image/" + label; }
    std::string property(const std::string& label, const std::string& name) const {
        return trim(busctl({"get-property", "org.freedesktop.machine1", object(label), kImageInterface, name}).out);
    }
    std::string manager_property(const std::string& name) const {
        return trim(busctl({"get-property", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                            "org.freedesktop.machine1.Manager", name}).out);
    }
    // ListImages as lines "name type read_only usage path", by name.
    std::map<std::string, std::string> listed() const {
        auto r = manager("ListImages");
        std::map<std::string, std::string> out;
        std::istringstream in(r.out);
        std::string sig;
        size_t n = 0;
        in >> sig >> n;
        for (size_t i = 0; i < n; i++) {
            std::string f[7];
            for (auto& x : f) in >> x;
            out[f[0].substr(1, f[0].size() - 2)] = f[1] + " " + f[2] + " " + f[5] + " " + f[6];
        }
        return out;
    }
};

// A filesystem (btrfs, xfs) on a loop device mounted on a directory (mount -o loop: util-linux sets
// autoclear, so the loop device goes with the unmount), unmounted when it goes away, whatever the test did.
class LoopMount {
public:
    // XFS wants 300 MB at least (xfsprogs 5.19 and later); the file is sparse.
    LoopMount(const std::string& image, const std::string& dir, const std::string& fs = "btrfs") : dir_(dir) {
        int fd = ::open(image.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        bool sized = fd >= 0 && ::ftruncate(fd, (fs == "xfs" ? 320 : 200) << 20) == 0;
        if (fd >= 0) ::close(fd);
        auto mkfs = run("/usr/sbin/mkfs." + fs, {"-q", image});
        if (!sized || !mkfs.exited(0)) {
            error_ = "mkfs." + fs + ": " + mkfs.describe();
            return;
        }
        auto mount = run("/usr/bin/mount", {"-o", "loop", image, dir});
        if (!mount.exited(0)) error_ = "mount -o loop: " + mount.describe();
        else mounted_ = true;
    }
    ~LoopMount() {
        // A worker of machined's that still walks the tree keeps it busy for a moment.
        for (int i = 0; mounted_ && i < 100; i++) {
            if (run("/usr/bin/umount", {dir_}).exited(0)) return;
            ::usleep(100000);
        }
        if (!mounted_) return;
        // Still busy after 10 s: detached, so that nothing stays mounted on the pool (the loop device
        // goes with its last user, autoclear), and said, since something held it that should not.
        auto lazy = run("/usr/bin/umount", {"-l", dir_});
        ADD_FAILURE() << "the filesystem on " << dir_ << " stayed busy for 10 s; detached it ("
                      << (lazy.exited(0) ? "done" : lazy.describe()) << ")";
    }
    const std::string& error() const { return error_; }

private:
    std::string dir_, error_;
    bool mounted_ = false;
};

}  // namespace berth::test
