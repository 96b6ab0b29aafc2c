// A guest takes what it may of the kernel's per-user counts, processes and shared memory, and the host and
// other machines keep theirs: the attacks are real (the hog takes inotify instances or forks until the
// kernel says no, dd fills /dev/shm), bounded in count, size and time.
#include <linux/nsfs.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include "tests/integration/fixture.hpp"

namespace berth::test {
namespace {

std::string hog_path() { return BERTH_HOG; }

uint64_t proc_number(const std::string& file) { return std::stoull(read_file(file)); }

// The documented default ceiling of a machine's tasks (docs/nspawn.md, "Defaults").
uint64_t default_tasks_max() {
    return std::min<uint64_t>(16384,
                              std::min(proc_number("/proc/sys/kernel/pid_max"),
                                       proc_number("/proc/sys/kernel/threads-max")) / 4);
}

struct HogResult {
    std::string what, error;
    uint64_t got = 0;
};

HogResult parse_hog(const std::string& line) {
    HogResult h;
    std::istringstream in(line);
    in >> h.what >> h.got >> h.error;
    return h;
}

// How many inotify instances host root (this test) can still open, up to `want`.
int host_root_inotify_headroom(int want) {
    std::vector<int> fds;
    for (int i = 0; i < want; i++) {
        int fd = ::inotify_init1(IN_CLOEXEC);
        if (fd < 0) break;
        fds.push_back(fd);
    }
    for (int fd : fds) ::close(fd);
    return static_cast<int>(fds.size());
}

class HostHeadroom : public BusyboxTest {
protected:
    // A machine whose hog takes up to `n` of `what` and holds them until /sync/done; its line is in
    // /sync/hog.tmp when it has them (hog_line).
    Process start_hog(const std::string& what, uint64_t n, const std::vector<std::string>& opts = {}) const {
        return start_hog_in(root_, sync_, what, n, opts);
    }
    // The same in the image `root`, with `sync` at /sync.
    static Process start_hog_in(const std::string& root, const std::string& sync, const std::string& what, uint64_t n,
                                const std::vector<std::string>& opts = {}) {
        std::vector<std::string> all{"--bind-ro=" + hog_path() + ":/hog"};
        all.insert(all.end(), opts.begin(), opts.end());
        return start_nspawn(
            busybox_sh_args(root, sync, "/hog " + what + " " + std::to_string(n) + " /sync/done > /sync/hog.tmp", all),
            {.timeout = 60s});
    }
    // The hog's line once it has printed it.
    HogResult hog_line(const Process& p, const std::string& sync) const {
        EXPECT_TRUE(wait_for_file(sync + "/hog.tmp", p, 20s));
        for (int i = 0; i < 600; i++) {
            std::string text = read_file(sync + "/hog.tmp");
            if (text.find('\n') != std::string::npos) return parse_hog(text);
            if (!p.running()) break;
            ::usleep(50 * 1000);
        }
        ADD_FAILURE() << "the hog printed nothing: " << read_file(sync + "/hog.tmp");
        return {};
    }
    RunResult finish(Process& p, const std::string& sync) const {
        write_file(sync + "/done", "");
        return p.wait(60s);
    }
    // A bounded fork bomb (the default ceiling and 100 more) stops at the ceiling, while the host forks.
    void expect_fork_bomb_stopped(const std::vector<std::string>& opts) const {
        uint64_t ceiling = default_tasks_max();
        auto p = start_hog("fork", ceiling + 100, opts);
        ASSERT_TRUE(wait_up(p));
        HogResult h = hog_line(p, sync_);
        EXPECT_EQ(h.error, "EAGAIN");
        // The ceiling counts every task of the machine: its shell and the hog itself besides the forks.
        EXPECT_LT(h.got, ceiling);
        EXPECT_GE(h.got + 8, ceiling);
        EXPECT_TRUE(run("/bin/true", {}).exited(0)) << "the host forks and runs programs meanwhile";
        auto r = finish(p, sync_);
        EXPECT_TRUE(r.exited(0)) << r.describe();
    }
};

TEST_F(HostHeadroom, AGuestsInotifyInstancesAreChargedToItsOwnRangeAndHostRootKeepsItsHeadroom) {
    // The attack as reported: a guest takes every inotify instance it can. Before, its user namespace
    // belonged to host root, and host root's inotify_init1 failed once the guest had its 128.
    auto p = start_hog("inotify", 1000);
    ASSERT_TRUE(wait_up(p));
    HogResult h = hog_line(p, sync_);
    EXPECT_EQ(h.error, "EMFILE") << "the guest must be stopped by a limit, not get 1000";
    EXPECT_GT(h.got, 0u);
    EXPECT_GE(host_root_inotify_headroom(16), 16) << "host root lost its inotify instances to the guest";

    // The namespace's owner is the machine's root on the host, not host root.
    int ns = ::open(("/proc/" + std::to_string(guest_pid1(p.pid())) + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(ns, 0);
    uid_t owner = 0;
    EXPECT_EQ(::ioctl(ns, NS_GET_OWNER_UID, &owner), 0);
    ::close(ns);
    EXPECT_NE(owner, 0u);
    EXPECT_EQ(owner % 65536, 0u) << "the base of the machine's range";
    auto r = finish(p, sync_);
    EXPECT_TRUE(r.exited(0)) << r.describe();
}

TEST_F(HostHeadroom, OneGuestsInotifyInstancesLeaveAnotherMachineItsOwn) {
    auto a = start_hog("inotify", 1000);
    ASSERT_TRUE(wait_up(a));
    HogResult ha = hog_line(a, sync_);
    ASSERT_EQ(ha.error, "EMFILE");

    // A second machine, its own image and sync directory.
    std::string root2 = tmp_ + "/second", sync2 = tmp_ + "/sync2";
    ASSERT_TRUE(make_busybox_rootfs(root2).exited(0));
    make_dirs(sync2);
    auto b = start_hog_in(root2, sync2, "inotify", 1000, {"-M", "second-" + id_});
    HogResult hb = hog_line(b, sync2);
    EXPECT_EQ(hb.got, ha.got) << "the second machine gets the same per-user allowance as the first, not what the "
                                 "first left over";
    EXPECT_EQ(hb.error, "EMFILE");
    EXPECT_TRUE(finish(b, sync2).exited(0));
    EXPECT_TRUE(finish(a, sync_).exited(0));
}

TEST_F(HostHeadroom, UsernsLimitSetsTheGuestsPerUserLimit) {
    auto r = sh("cat /proc/sys/user/max_inotify_instances /proc/sys/user/max_user_namespaces; "
                "/hog inotify 20 /",
                {"--bind-ro=" + hog_path() + ":/hog", "--userns-limit=inotify_instances=5",
                 "--userns-limit=max_user_namespaces=7"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "5\n7\ninotify 5 EMFILE\n");
}

TEST_F(HostHeadroom, UsernsLimitIsRefusedWithoutAUserNamespaceOrWithABadValue) {
    EXPECT_TRUE(refused_with(sh("true", {"--private-users=no", "--userns-limit=inotify_instances=5"}),
                             "--userns-limit sets limits of the machine's user namespace"));
    EXPECT_TRUE(refused_with(sh("true", {"--userns-limit=inotify_bogus=5"}), "unknown limit name"));
    EXPECT_TRUE(refused_with(sh("true", {"--userns-limit=inotify_instances=-1"}), "expected a number between 0"));
}

TEST_F(HostHeadroom, AForkBombStopsAtTheDefaultCeilingWithTheHostsPidsToSpare) { expect_fork_bomb_stopped({}); }

TEST_F(HostHeadroom, PidsMaxInfinityLiftsTheCeilingAndASmallOneLowersIt) {
    uint64_t ceiling = default_tasks_max();
    {
        auto p = start_hog("fork", ceiling + 50, {"--pids-max=infinity"});
        ASSERT_TRUE(wait_up(p));
        HogResult h = hog_line(p, sync_);
        EXPECT_EQ(h.got, ceiling + 50);
        EXPECT_EQ(h.error, "ok");
        EXPECT_TRUE(finish(p, sync_).exited(0));
    }
    ::unlink((sync_ + "/done").c_str());
    ::unlink((sync_ + "/hog.tmp").c_str());
    ::unlink((sync_ + "/up").c_str());
    auto r = sh("/hog fork 200 /", {"--bind-ro=" + hog_path() + ":/hog", "--pids-max=50"});
    ASSERT_TRUE(r.exited(0)) << r.describe();
    HogResult h = parse_hog(r.out);
    EXPECT_EQ(h.error, "EAGAIN");
    EXPECT_LT(h.got, 50u);
    EXPECT_GE(h.got + 8, 50u);
}

TEST_F(HostHeadroom, WithoutAUserNamespaceTheCeilingIsTheCgroupsPidsLimit) {
    expect_fork_bomb_stopped({"--private-users=no"});
}

TEST_F(HostHeadroom, ADevShmFillerStopsAtItsTenthOfRamAndTheHostsShmIsUntouched) {
    uint64_t mem_kib = 0;
    std::istringstream meminfo(read_file("/proc/meminfo"));
    for (std::string key; meminfo >> key;) {
        if (key == "MemTotal:") {
            meminfo >> mem_kib;
            break;
        }
    }
    ASSERT_GT(mem_kib, 0u);
    uint64_t budget_mib = mem_kib / 10 / 1024;
    auto host_shm_before = run("/bin/df", {"-k", "--output=used", "/dev/shm"}).out;
    // Bounded: at most 64 MiB more than the budget is ever attempted.
    auto r = sh("dd if=/dev/zero of=/dev/shm/fill bs=1M count=" + std::to_string(budget_mib + 64) +
                " 2>/tmp/dd.err; echo dd=$?; grep -c 'No space left' /tmp/dd.err; "
                "du -m /dev/shm/fill | cut -f1; rm /dev/shm/fill");
    ASSERT_TRUE(r.exited(0)) << r.describe();
    std::istringstream out(r.out);
    std::string status;
    int no_space = 0;
    uint64_t written_mib = 0;
    out >> status >> no_space >> written_mib;
    EXPECT_EQ(status, "dd=1") << r.out;
    EXPECT_EQ(no_space, 1) << r.out;
    EXPECT_LE(written_mib, budget_mib + 1) << r.out;
    EXPECT_GE(written_mib + 16, budget_mib) << r.out;
    EXPECT_EQ(run("/bin/df", {"-k", "--output=used", "/dev/shm"}).out, host_shm_before);
}

}  // namespace
}  // namespace berth::test
