// The Container Interface a guest expects (/proc, /sys, /dev, /run, /run/host), and what the host sees
// of a running machine: its mount table untouched, a cgroup of the machine's own.
#include <set>
#include <sstream>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class ContainerInterface : public BusyboxTest {};

// `awk` over /proc/mounts: "POINT TYPE OPTIONS" for the mount on `point` (the last one, which is visible).
std::string mount_of(const std::string& point) {
    return "awk '$2 == \"" + point + "\" { m = $2 \" \" $3 \" \" $4 } END { print m }' /proc/mounts";
}

TEST_F(ContainerInterface, ProcSysIsReadOnly) {
    // kernel/hostname belongs to the machine's UTS namespace: harmless to the host even if the write worked.
    auto r = sh("echo intruder > /proc/sys/kernel/hostname || echo refused");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "refused\n");
}

// A bound-over empty file still opens for root, so "inaccessible" means: no kernel data comes out, and
// nothing goes in. Each offender is printed by name.
TEST_F(ContainerInterface, KernelFilesInProcAreInaccessible) {
    auto r = sh(R"sh(for f in kcore kallsyms keys sysrq-trigger timer_list; do
                       n=$(head -c 16 /proc/$f 2>/dev/null | wc -c)
                       [ "$n" = 0 ] || echo "/proc/$f readable"
                       # 'h' only prints sysrq help, should the write reach the host's kernel after all
                       (echo h > /proc/$f) 2>/dev/null && echo "/proc/$f writable"
                   done; true)sh");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
}

TEST_F(ContainerInterface, ProcIsMountedForTheMachine) {
    auto r = sh(mount_of("/proc"));
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out.substr(0, 11), "/proc proc ") << r.out;
}

TEST_F(ContainerInterface, SysIsReadOnly) {
    auto r = sh(mount_of("/sys"));
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out.substr(0, 14), "/sys sysfs ro,") << r.out;
}

TEST_F(ContainerInterface, DevHasStandardNodes) {
    auto r = sh(R"sh(for n in null zero full random urandom tty ptmx; do [ -c /dev/$n ] || echo "no /dev/$n"; done
                   for d in pts shm mqueue; do [ -d /dev/$d ] || echo "no /dev/$d"; done
                   echo x > /dev/null || echo "/dev/null not writable"
                   [ "$(head -c 4 /dev/zero | wc -c)" = 4 ] || echo "/dev/zero not readable"
                   [ "$(head -c 4 /dev/urandom | wc -c)" = 4 ] || echo "/dev/urandom not readable"
                   true)sh");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "");
}

TEST_F(ContainerInterface, DevIsTmpfsWithOwnPtsAndMqueue) {
    auto r = sh(mount_of("/dev") + "; " + mount_of("/dev/pts") + "; " + mount_of("/dev/mqueue"));
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::istringstream lines(r.out);
    std::string dev, pts, mq;
    std::getline(lines, dev);
    std::getline(lines, pts);
    std::getline(lines, mq);
    EXPECT_EQ(dev.substr(0, 11), "/dev tmpfs ") << r.out;
    EXPECT_EQ(pts.substr(0, 16), "/dev/pts devpts ") << r.out;
    EXPECT_EQ(mq.substr(0, 19), "/dev/mqueue mqueue ") << r.out;
}

// A new devpts instance: none of the host's terminals, only ptmx (pipe mode allocates no pty).
TEST_F(ContainerInterface, DevPtsIsANewInstance) {
    auto r = sh("ls /dev/pts", {"--console=pipe"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "ptmx\n");
}

TEST_F(ContainerInterface, DevHasNothingOfTheHost) {
    // What systemd-nspawn puts in /dev besides the required nodes; anything else came from the host.
    const std::set<std::string> allowed{"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts",
                                        "shm", "mqueue", "console", "stdin", "stdout", "stderr", "fd",
                                        "core", "net", "char", "hugepages"};
    auto r = sh("ls -A /dev");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::istringstream names(r.out);
    for (std::string n; std::getline(names, n);) EXPECT_TRUE(allowed.count(n)) << "/dev/" << n << " in the machine";
    if (exists("/dev/vda")) {
        EXPECT_EQ(r.out.find("vda\n"), std::string::npos);
    }
}

TEST_F(ContainerInterface, DevConsoleIsThePtyInReadOnlyConsoleMode) {
    auto r = sh("test -c /dev/console && echo console ok", {"--console=read-only"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_NE(r.out.find("console ok"), std::string::npos) << r.describe();
}

TEST_F(ContainerInterface, RunAndTmpAreTmpfs) {
    auto r = sh("for p in /run /tmp; do awk -v p=$p '$2 == p { t = $3 } END { print p, t }' /proc/mounts; done");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "/run tmpfs\n/tmp tmpfs\n");
}

TEST_F(ContainerInterface, RunHostDescribesTheHost) {
    auto r = sh("cat /run/host/os-release");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::string host = read_file("/etc/os-release");
    if (host.empty()) host = read_file("/usr/lib/os-release");
    EXPECT_EQ(r.out, host);
}

TEST_F(ContainerInterface, RunHostContainerManagerMatchesContainerVariable) {
    // $(...) drops the file's trailing newline, if it has one.
    auto r = sh("echo \"$(cat /run/host/container-manager)\"; echo \"$container\"");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::istringstream lines(r.out);
    std::string file, var;
    std::getline(lines, file);
    std::getline(lines, var);
    EXPECT_NE(var, "");
    EXPECT_EQ(file, var);
}

TEST_F(ContainerInterface, HostMountTableUnchangedWhileMachineRuns) {
    auto before = mount_points();
    auto p = start_sh("exec sleep 1000");
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    EXPECT_EQ(mount_points(), before);
    p.signal(SIGTERM);
    auto r = p.wait(10s);
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_EQ(mount_points(), before);
}

TEST_F(ContainerInterface, MachineHasOwnCgroupRemovedAfterExit) {
    std::string root = cgroup2_root();
    ASSERT_NE(root, "") << "no cgroup v2 hierarchy on this host";
    auto p = start_sh("exec sleep 1000");
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    pid_t pid1 = guest_pid1(p.pid());
    ASSERT_GT(pid1, 0) << "no process with NSpid ... 1 below nspawn";
    std::string cg = unified_cgroup_of(pid1);
    EXPECT_NE(cg, unified_cgroup_of(::getpid())) << "the machine shares the test's cgroup";
    EXPECT_TRUE(exists(root + cg)) << root + cg;
    p.signal(SIGTERM);
    auto r = p.wait(10s);
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_FALSE(exists(root + cg)) << root + cg << " outlived the machine";
}

// A cgroup namespace rooted at the machine's cgroup: the guest does not see the host's path.
TEST_F(ContainerInterface, CgroupNamespaceHidesHostPath) {
    auto r = sh("grep '^0::' /proc/self/cgroup");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "0::/\n");
}

}  // namespace
}  // namespace berth::test
