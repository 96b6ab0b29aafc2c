// Starts that go wrong after the host was already changed: a failure in the child once it has begun
// mounting, and the supervisor itself killed while its machine runs. Neither may leave a mount, cgroup or
// lock behind for good: a child failure is rolled back at once, a killed supervisor's guest dies with it
// and its cgroup and locks are collected by the next start. The fixture's leak check runs after each test.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <sstream>
#include <thread>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

class FailedStart : public BusyboxTest {
protected:
    void TearDown() override {
        // A guest that outlived its supervisor would run on for good: end it (it is this test's), say so.
        for (auto& name : {machine_, "bb2-" + id_}) {
            std::string cg = cgroup_of(name);
            if (read_file(cg + "/cgroup.events").find("populated 1") == std::string::npos) continue;
            ADD_FAILURE() << "machine " << name << " still runs after its supervisor ended; killing it";
            write_file(cg + "/cgroup.kill", "1");
            for (int i = 0; i < 100 && read_file(cg + "/cgroup.events").find("populated 1") != std::string::npos; i++)
                std::this_thread::sleep_for(50ms);
            ::rmdir(cg.c_str());
        }
        BusyboxTest::TearDown();
    }

    // What a supervisor of `machine` running `image` holds on the host.
    std::string cgroup_of(const std::string& machine) const { return cgroup2_root() + "/berth/" + machine; }
    static std::string name_lock(const std::string& machine) { return "/run/berth/locks/machine-" + machine; }
    static std::string image_lock(const std::string& image) {
        struct stat st {};
        ::stat(image.c_str(), &st);
        return "/run/berth/locks/inode-" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    }

    // The lock of the UID range the process's user namespace maps to, or "" without one.
    static std::string uid_range_lock(pid_t pid) {
        std::istringstream map(read_file("/proc/" + std::to_string(pid) + "/uid_map"));
        unsigned long inside = 0, outside = 0, count = 0;
        if (!(map >> inside >> outside >> count) || (inside == 0 && outside == 0)) return "";
        return "/run/berth/locks/uidrange-" + std::to_string(outside);
    }

    // Starts a machine with a background process besides PID 1, kills its supervisor with SIGKILL and
    // returns the guest's processes as they were, seen from the host (PID 1 first). Sets killed_range_lock_.
    std::vector<pid_t> kill_supervisor_of_running_machine(const std::vector<std::string>& opts = {},
                                                          bool user_namespace = true) {
        auto args = base();
        args.insert(args.end(), opts.begin(), opts.end());
        // idmap: under a user namespace the machine's root writes as the directory's owner.
        args.insert(args.end(), {"--bind=" + sync_ + ":/sync" + (user_namespace ? ":idmap" : ""), "/bin/sh", "-c",
                                 "touch /sync/up; sleep 1000 & exec sleep 1000"});
        auto p = start_nspawn(args, {.timeout = 60s});
        if (!wait_up(p)) {
            ADD_FAILURE() << p.wait(0ms).describe();
            return {};
        }
        // Until both sleeps show (the touch before them may still be running).
        std::vector<pid_t> guest;
        for (int i = 0; i < 200; i++) {
            guest = descendants(p.pid());
            if (guest.size() == 2) break;
            std::this_thread::sleep_for(10ms);
        }
        EXPECT_EQ(guest.size(), 2u) << "expected PID 1 and one background process";
        pid_t pid1 = guest_pid1(p.pid());
        std::erase(guest, pid1);
        guest.insert(guest.begin(), pid1);
        killed_range_lock_ = uid_range_lock(pid1);
        p.signal(SIGKILL);
        auto r = p.wait(10s);
        EXPECT_EQ(r.term_signal, SIGKILL) << r.describe();
        return guest;
    }

    static bool all_dead(const std::vector<pid_t>& pids, Millis within) {
        auto until = std::chrono::steady_clock::now() + within;
        for (;;) {
            bool dead = true;
            for (pid_t pid : pids) dead = dead && process_dead(pid);
            if (dead) return true;
            if (std::chrono::steady_clock::now() > until) return false;
            std::this_thread::sleep_for(10ms);
        }
    }

    std::string killed_range_lock_;  // the UID range lock of the last killed supervisor, "" without one
};

// /dev/null/x passes the plan (a valid absolute path) and fails only when the child creates the mount
// point, after /proc, /sys, /dev and /run have been mounted.
TEST_F(FailedStart, ChildMountFailureIsReportedInOneLineAndRolledBack) {
    auto r = sh("echo ran", {"--tmpfs=/dev/null/x"});
    EXPECT_TRUE(refused_with(r, "/dev/null/x"));
    EXPECT_EQ(r.out, "") << "the command ran";
}

TEST_F(FailedStart, ChildBindFailureIsReportedInOneLineAndRolledBack) {
    auto r = sh("echo ran", {"--bind=" + sync_ + ":/etc/passwd"});
    EXPECT_TRUE(refused_with(r, "/etc/passwd"));
    EXPECT_EQ(r.out, "") << "the command ran";
}

TEST_F(FailedStart, ChildFailureOfEphemeralMachineIsRolledBack) {
    auto before = tree_snapshot(root_);
    auto r = sh("echo ran", {"-x", "--tmpfs=/dev/null/x"});
    EXPECT_TRUE(refused_with(r, "/dev/null/x"));
    EXPECT_EQ(tree_snapshot(root_), before) << "the image changed";
}

TEST_F(FailedStart, ChildFailureWithPrivateNetworkIsRolledBack) {
    auto r = sh("echo ran", {"--private-network", "--tmpfs=/dev/null/x"});
    EXPECT_TRUE(refused_with(r, "/dev/null/x"));
}

TEST_F(FailedStart, MachineStartsAfterChildFailure) {
    ASSERT_TRUE(refused_with(sh("true", {"--tmpfs=/dev/null/x"}), "/dev/null/x"));
    auto r = sh("echo ran");
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "ran\n");
}

TEST_F(FailedStart, GuestDiesWhenSupervisorIsKilled) {
    auto guest = kill_supervisor_of_running_machine();
    EXPECT_TRUE(all_dead(guest, 10s)) << "guest processes outlived their supervisor";
    auto r = sh("true");  // collects what the killed supervisor left, for the leak check
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

TEST_F(FailedStart, GuestWithoutUserNamespaceDiesWhenSupervisorIsKilled) {
    auto guest = kill_supervisor_of_running_machine({"--private-users=no"}, false);
    EXPECT_TRUE(all_dead(guest, 10s)) << "guest processes outlived their supervisor";
    auto r = sh("true");
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

// Changing credentials resets the parent-death signal: a guest run as another user must die all the same.
TEST_F(FailedStart, GuestRunAsUserDiesWhenSupervisorIsKilled) {
    ::chmod(sync_.c_str(), 0777);  // for alice's /sync/up
    auto guest = kill_supervisor_of_running_machine({"--user=alice"});
    EXPECT_TRUE(all_dead(guest, 10s)) << "guest processes outlived their supervisor";
    auto r = sh("true");
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

TEST_F(FailedStart, KilledSupervisorLeavesCgroupAndLocksUntilNextStart) {
    auto guest = kill_supervisor_of_running_machine();
    ASSERT_TRUE(all_dead(guest, 10s));
    EXPECT_TRUE(exists(cgroup_of(machine_)));
    EXPECT_TRUE(exists(name_lock(machine_)));
    EXPECT_TRUE(exists(image_lock(root_)));
    if (!killed_range_lock_.empty()) {
        EXPECT_TRUE(exists(killed_range_lock_));
    }
    auto r = sh("true");
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

// Another machine's start (another name, another image) is what collects the stale state, and it does so
// when it starts, not when it ends.
TEST_F(FailedStart, NextStartOfAnotherMachineCollectsStaleCgroupAndLocks) {
    auto guest = kill_supervisor_of_running_machine();
    std::string stale_range = killed_range_lock_;
    ASSERT_TRUE(all_dead(guest, 10s)) << "guest processes outlived their supervisor";
    std::string stale_cgroup = cgroup_of(machine_), stale_name = name_lock(machine_), stale_image = image_lock(root_);

    std::string other = "bb2-" + id_, other_root = tmp_ + "/" + other;
    auto made = make_busybox_rootfs(other_root);
    ASSERT_TRUE(made.exited(0)) << made.describe();
    ::unlink((sync_ + "/up").c_str());  // the killed machine's
    auto p = start_nspawn({"-q", "--register=no", "-D", other_root, "--bind=" + sync_ + ":/sync:idmap", "/bin/sh",
                           "-c", "touch /sync/up; exec sleep 1000"},
                          {.timeout = 60s});
    ASSERT_TRUE(wait_up(p)) << p.wait(0ms).describe();
    EXPECT_FALSE(exists(stale_cgroup)) << "stale cgroup not collected";
    EXPECT_FALSE(exists(stale_name)) << "stale name lock not collected";
    EXPECT_FALSE(exists(stale_image)) << "stale image lock not collected";
    // The new machine may pick the same UID range again: then the lock is its own, and held.
    if (!stale_range.empty() && stale_range != uid_range_lock(guest_pid1(p.pid()))) {
        EXPECT_FALSE(exists(stale_range)) << "stale UID range lock not collected";
    }
    EXPECT_TRUE(exists(cgroup_of(other)));
    p.signal(SIGTERM);
    auto r = p.wait(10s);
    EXPECT_FALSE(r.timed_out) << r.describe();
}

// The directories made on the host for writable overlays (a temporary upper in /var/tmp, a work
// directory beside a given upper) are collected by the next start after a SIGKILLed supervisor.
TEST_F(FailedStart, KilledSupervisorsOverlayDirectoriesAreCollectedByTheNextStart) {
    auto here = [&](const std::string& d) {
        make_dirs(tmp_ + "/" + d);
        return tmp_ + "/" + d;
    };
    std::string lower = here("lower"), upper = here("upper");
    auto ours = [&] {
        std::vector<std::string> found;
        for (auto& dir : {std::string("/var/tmp"), tmp_})
            for (auto& e : std::filesystem::directory_iterator(dir)) {
                std::string n = e.path().filename().string();
                if (n.rfind("berth-overlay." + machine_ + ".", 0) == 0 || n.rfind(".#berth-work.", 0) == 0)
                    found.push_back(e.path().string());
            }
        return found;
    };
    auto guest = kill_supervisor_of_running_machine(
        {"--private-users=no", "--overlay=" + lower + "::/tmp-over", "--overlay=" + lower + ":" + upper + ":/over"},
        false);
    ASSERT_TRUE(all_dead(guest, 10s)) << "guest processes outlived their supervisor";
    ASSERT_EQ(ours().size(), 2u) << "the test proves nothing: " << ::testing::PrintToString(ours());
    std::string other = tmp_ + "/bb2-" + id_;
    ASSERT_TRUE(make_busybox_rootfs(other).exited(0));
    auto r = nspawn({"-q", "--register=no", "-D", other, "/bin/true"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(ours(), std::vector<std::string>{}) << "overlay directories left behind";
    EXPECT_TRUE(std::filesystem::exists(upper)) << "the user's upper directory itself stays";
}

TEST_F(FailedStart, SameMachineStartsAgainAfterSupervisorWasKilled) {
    auto guest = kill_supervisor_of_running_machine();
    ASSERT_TRUE(all_dead(guest, 10s)) << "guest processes outlived their supervisor";
    auto r = sh("echo ran");
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "ran\n");
}

TEST_F(FailedStart, KilledSupervisorOfEphemeralMachineLeavesImageUnchanged) {
    auto before = tree_snapshot(root_);
    auto p = start_sh("echo x > /written && touch /sync/written; exec sleep 1000", {"-x"});
    ASSERT_TRUE(wait_for_file(sync_ + "/written", p, 20s)) << p.wait(0ms).describe();
    pid_t pid1 = guest_pid1(p.pid());
    p.signal(SIGKILL);
    p.wait(10s);
    EXPECT_TRUE(all_dead({pid1}, 10s));
    EXPECT_EQ(tree_snapshot(root_), before) << "the image changed";
    auto r = sh("true");
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

}  // namespace
}  // namespace berth::test
