// BindMountMachine and the machine objects' BindMount: visible inside, read-only against the guest's root
// too, mkdir, a guest's symlinks, and a machine without a user namespace of its own (copies included).
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/machine_files_fixture.hpp"

namespace berth::test {
namespace {

TEST_F(MachineFiles, BindMountIsVisibleInsideAndReadOnlyEvenForTheGuestsRoot) {
    make_file(host_dir_ + "/shared", "from host\n", 0644, 1234, 1234);
    auto r = manager("BindMountMachine", {"sssbb", machine_, host_dir_, "/mnt/bound", "true", "true"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine_out("cat /mnt/bound/shared"), "from host");
    // Owners as with copy: host uid U is the machine's uid U.
    EXPECT_EQ(in_machine_out("stat -c %u /mnt/bound/shared"), "1234");
    EXPECT_FALSE(in_machine("echo x > /mnt/bound/shared").exited(0));
    EXPECT_FALSE(in_machine("mount -o remount,rw,bind /mnt/bound").exited(0));
    EXPECT_FALSE(in_machine("touch /mnt/bound/new").exited(0));
    EXPECT_EQ(read_file(host_dir_ + "/shared"), "from host\n");
    EXPECT_FALSE(exists(host_dir_ + "/new"));
}

TEST_F(MachineFiles, WritableBindMountWritesTheHostDirectory) {
    auto r = manager("BindMountMachine", {"sssbb", machine_, host_dir_, "/mnt", "false", "false"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    in_machine_out("echo guest > /mnt/written");
    EXPECT_EQ(read_file(host_dir_ + "/written"), "guest\n");
    // The guest's root wrote it: the host's root owns it.
    EXPECT_EQ(lstat_of(host_dir_ + "/written").st_uid, 0u);
}

TEST_F(MachineFiles, BindMountOfAFileWithMkdirCreatesAFileMountPoint) {
    write_file(host_dir_ + "/conf", "setting=1\n");
    auto r = manager("BindMountMachine", {"sssbb", machine_, host_dir_ + "/conf", "/etc/new/dir/conf", "true", "true"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(in_machine_out("cat /etc/new/dir/conf"), "setting=1");
}

TEST_F(MachineFiles, BindMountToAMissingDestinationWithoutMkdirFails) {
    auto r = manager("BindMountMachine", {"sssbb", machine_, host_dir_, "/mnt/missing", "false", "false"});
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("/mnt/missing does not exist"), std::string::npos) << r.describe();
}

TEST_F(MachineFiles, BindMountThroughAGuestSymlinkStaysInsideTheMachine) {
    std::string name = "berth-bind-" + id_;
    in_machine_out("ln -s /etc /tmp/evil");
    auto r = manager("BindMountMachine", {"sssbb", machine_, host_dir_, "/tmp/evil/" + name, "false", "true"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_FALSE(exists("/etc/" + name));
    write_file(host_dir_ + "/seen", "yes\n");
    EXPECT_EQ(in_machine_out("cat /etc/" + name + "/seen"), "yes");
    // A symlink as the last component is refused, not followed.
    in_machine_out("ln -s /mnt /tmp/lastlink");
    r = manager("BindMountMachine", {"sssbb", machine_, host_dir_, "/tmp/lastlink", "false", "false"});
    EXPECT_FALSE(r.exited(0));
    EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.describe();
}

// A machine without a user namespace of its own (--private-users=no): its ids are the host's.
class MachineFilesWithoutUserNamespace : public RunningMachine {
protected:
    void SetUp() override {
        MachinedTest::SetUp();
        start_machined();
        start_machine(machine_, start_registered("sleep 1000", {"--private-users=no"}));
        ASSERT_TRUE(wait_up(*machine_process_));
    }
};

TEST_F(MachineFilesWithoutUserNamespace, OwnersStayTheHostsAndBindsWork) {
    make_file(host_dir_ + "/f", "plain\n", 0640, 1234, 2345);
    auto r = manager("CopyToMachine", {"sss", machine_, host_dir_ + "/f", "/tmp/f"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto st = lstat_of("/proc/" + leader_ + "/root/tmp/f");
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 2345u);
    r = manager("CopyFromMachine", {"sss", machine_, "/tmp/f", host_dir_ + "/back"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(lstat_of(host_dir_ + "/back").st_uid, 1234u);
    r = manager("BindMountMachine", {"sssbb", machine_, host_dir_, "/mnt/ro", "true", "true"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    auto w = run("/usr/bin/nsenter",
                 {"-t", leader_, "-a", "-r", "-w", "/bin/sh", "-c", "cat /mnt/ro/f && echo x > /mnt/ro/new"});
    EXPECT_EQ(w.out, "plain\n");
    EXPECT_FALSE(w.exited(0));
    EXPECT_FALSE(exists(host_dir_ + "/new"));
}

}  // namespace
}  // namespace berth::test
