// Hostile input to machinectl: each refusal is one line on stderr and exit status 1, nothing on stdout,
// and machined stays alive with its registry unchanged.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "tests/integration/machinectl_fixture.hpp"

namespace berth::test {
namespace {

using MachinectlHostile = MachinectlTest;

TEST_F(MachinectlHostile, UnknownMachineForEveryVerb) {
    std::string ghost = "ghost-" + id_;
    for (auto verb : {"status", "show", "start", "stop", "poweroff", "reboot", "terminate", "kill", "enable",
                      "freeze", "thaw"})
        expect_refused({verb, ghost}, ghost);
    expect_refused({"set-property", ghost, "TasksMax=10"}, ghost);
}

TEST_F(MachinectlHostile, DisablingWhatIsNotEnabledChangesNothing) {
    // As systemd's `machinectl disable` (and systemctl disable): nothing to undo is no error.
    std::string ghost = "ghost-" + id_;
    auto r = machinectl({"disable", ghost});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out + r.err, "");
    auto v = machinectl({"show", "-p", "EnabledMachines", "--value"});
    EXPECT_EQ(trim(v.out), "") << v.describe();
}

TEST_F(MachinectlHostile, BadNames) {
    expect_refused({"status", ""}, "Invalid machine name");
    expect_refused({"terminate", std::string(65, 'a')}, "longer than 64 characters");
    expect_refused({"kill", "../etc"}, "\"../etc\"");
    expect_refused({"show", "a/b"}, "\"a/b\"");
    expect_refused({"status", "bad\xff"}, "\"bad\\xff\"");
}

TEST_F(MachinectlHostile, BadSignalAndWhom) {
    auto a = start_registered_leader("mc-" + id_);
    expect_refused({"kill", "-s", "SIGBOGUS", "mc-" + id_}, "SIGBOGUS");
    expect_refused({"kill", "-s", "0", "mc-" + id_}, "\"0\"");
    expect_refused({"kill", "--kill-whom=everyone", "mc-" + id_}, "everyone");
    EXPECT_TRUE(a.running()) << "nothing was sent";
}

TEST_F(MachinectlHostile, UnknownVerbAndOptions) {
    expect_refused({"frobnicate"}, "frobnicate");
    expect_refused({"--frobnicate"}, "--frobnicate");
    expect_refused({"-o", "yaml", "list"}, "yaml");
    expect_refused({"-H", "far", "list"}, "-H/--host");
    expect_refused({"-M", "web", "list"}, "-M/--machine");
    expect_refused({"status"}, "Too few arguments");
    expect_refused({"list", "extra"}, "Too many arguments");
}

TEST_F(MachinectlHostile, BadProperties) {
    auto m = start_registered_up("sleep 100000");
    expect_refused({"set-property", machine_, "NoSuchLimit=5"}, "NoSuchLimit");
    expect_refused({"set-property", machine_, "MemoryMax=lots"}, "lots");
    expect_refused({"set-property", machine_, "TasksMax"}, "KEY=VALUE");
    // `sleep` as the machine's PID 1 ignores SIGTERM: SIGKILL ends it without terminate's grace period.
    EXPECT_TRUE(machinectl({"kill", "-s", "KILL", machine_}).exited(0));
    m.wait(60s);
}

TEST_F(MachinectlHostile, UnprivilegedUsersMayLookButNotTouch) {
    std::string name = "mc-" + id_;
    auto a = start_registered_leader(name);
    auto as_nobody = [&](std::vector<std::string> args) {
        std::vector<std::string> all{"--reuid=65534", "--regid=65534", "--clear-groups", "--", machinectl_path()};
        all.insert(all.end(), args.begin(), args.end());
        return run("/usr/bin/setpriv", all, {.env = {bus_->env()}});
    };
    auto list = as_nobody({"list", "--no-legend"});
    EXPECT_TRUE(list.exited(0)) << list.describe();
    EXPECT_NE(list.out.find(name), std::string::npos) << list.describe();
    auto show = as_nobody({"show", name, "-p", "Leader", "--value"});
    EXPECT_EQ(show.out, std::to_string(a.pid()) + "\n") << show.describe();
    for (auto verb : {"terminate", "kill", "poweroff", "reboot", "freeze"}) {
        auto r = as_nobody({verb, name});
        EXPECT_TRUE(refused_with(r, name)) << verb;
        EXPECT_EQ(r.out, "");
    }
    EXPECT_TRUE(refused_with(as_nobody({"set-property", name, "TasksMax=10"}), name));
    EXPECT_TRUE(a.running()) << "nothing reached the leader";
    EXPECT_TRUE(listed(name));
}

// What a guest chooses (its os-release, its processes' names and command lines, its cgroups' names)
// reaches the administrator's terminal escaped: no escape sequence, no control character, no C1 byte.
TEST_F(MachinectlHostile, GuestControlledStringsArePrintedEscaped) {
    const std::string esc = "\x1b]0;pwned\x07\x1b[2J\xc2\x9b" "31m\x9b";
    write_file(root_ + "/etc/os-release", "ID=\"evil" + esc + "\"\nVERSION_ID=\"1" + esc +
                                               "\"\nPRETTY_NAME=\"Evil" + esc + "\"\n");
    auto m = start_registered_up("cg=\"/sys/fs/cgroup/cg$(printf '\\033[2J')\"; mkdir \"$cg\" && "
                              "sh -c 'echo $$ >\"$1/cgroup.procs\"; exec sleep 100000' sh \"$cg\" & "
                              "sh -c 'sleep 100000; true' \"$(printf '\\033]0;pwned\\007')\" & sleep 100000");
    for (auto args : {std::vector<std::string>{"list"}, std::vector<std::string>{"status", machine_},
                      std::vector<std::string>{"list", "-o", "json"}}) {
        auto r = machinectl(args);
        ASSERT_TRUE(r.exited(0)) << r.describe();
        for (char bad : {'\x1b', '\x07', '\x9b'})
            EXPECT_EQ(r.out.find(bad), std::string::npos) << ::testing::PrintToString(args) << " printed byte "
                                                          << int(static_cast<unsigned char>(bad)) << ": " << r.out;
        EXPECT_EQ(r.out.find("\xc2\x9b"), std::string::npos) << "a C1 control in UTF-8: " << r.out;
    }
    auto list = machinectl({"list"});
    // The lone 0x9b is no UTF-8: machined sends U+FFFD for it (D-Bus carries UTF-8 only).
    EXPECT_NE(list.out.find("evil\\x1b]0;pwned\\x07\\x1b[2J\\xc2\\x9b31m\xef\xbf\xbd"), std::string::npos) << list.out;
    auto status = machinectl({"status", machine_});
    EXPECT_NE(status.out.find("OS: Evil\\x1b]0;pwned"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("sh -c sleep 100000; true \\x1b]0;pwned\\x07"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("cg\\x1b[2J"), std::string::npos) << "the cgroup: " << status.out;
    EXPECT_TRUE(machinectl({"kill", "-s", "KILL", machine_}).exited(0));
    m.wait(60s);
}

// A guest's os-release that is a FIFO or a huge sparse file neither hangs machined nor bloats it: the
// OS column stays empty, machined answers the next call, and its memory stays small.
TEST_F(MachinectlHostile, HostileOsReleaseFilesNeitherHangNorBloatMachined) {
    std::filesystem::remove(root_ + "/etc/os-release");
    ASSERT_EQ(::mkfifo((root_ + "/etc/os-release").c_str(), 0644), 0);
    make_dirs(root_ + "/usr/lib");
    {
        std::filesystem::remove(root_ + "/usr/lib/os-release");
        int fd = ::open((root_ + "/usr/lib/os-release").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::ftruncate(fd, off_t{1} << 30), 0);  // 1 GiB of zeros, sparse
        ::close(fd);
    }
    auto m = start_registered_up("sleep 100000");
    for (int i = 0; i < 3; i++) {
        auto r = machinectl({"list"});
        ASSERT_TRUE(r.exited(0)) << r.describe();
        EXPECT_NE(r.out.find(machine_ + " container nspawn  -  -"), std::string::npos) << r.out;
    }
    auto call = busctl({"call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                        "org.freedesktop.machine1.Manager", "GetMachineOSRelease", "s", machine_});
    EXPECT_FALSE(call.exited(0)) << call.describe();
    EXPECT_NE(call.err.find("not a regular file"), std::string::npos) << call.describe();
    std::string status = read_file("/proc/" + std::to_string(machined_->pid()) + "/status");
    auto at = status.find("VmHWM:");
    ASSERT_NE(at, std::string::npos);
    if (kMemoryFiguresMeaningful) {
        EXPECT_LT(std::stoul(status.substr(at + 6)), 64u * 1024) << "machined's peak memory (kB): " << status.substr(at, 30);
    }
    EXPECT_TRUE(machinectl({"kill", "-s", "KILL", machine_}).exited(0));
    m.wait(60s);
}

TEST_F(MachinectlHostile, NoMachinedOnTheBus) {
    // A bus where nobody owns org.freedesktop.machine1: one line, exit 1.
    auto r = run(machinectl_path(), {"list"}, {.env = {"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + tmp_ + "/none"}});
    EXPECT_TRUE(refused_with(r, "system bus"));
}

}  // namespace
}  // namespace berth::test
