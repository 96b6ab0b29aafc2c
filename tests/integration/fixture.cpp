#include "tests/integration/fixture.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <sstream>

namespace berth::test {

namespace {

// What `after` has that `before` had not (multisets: a mount stacked twice on one point counts twice).
std::vector<std::string> added(std::vector<std::string> before, std::vector<std::string> after) {
    std::sort(before.begin(), before.end());
    std::sort(after.begin(), after.end());
    std::vector<std::string> out;
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(out));
    return out;
}

std::string joined(const std::vector<std::string>& items) {
    std::string s;
    for (auto& i : items) s += "\n  " + i;
    return s;
}

}  // namespace

HostLeakCheck::HostLeakCheck()
    : mounts_before_(mount_points()), cgroups_before_(cgroup_dirs()), run_before_(run_berth_entries()) {}

void HostLeakCheck::expect_nothing_left(const std::string& own_id) const {
    auto mounts = mount_points();
    auto leaked = added(mounts_before_, mounts), lost = added(mounts, mounts_before_);
    // Both directions count for mounts: one that vanished from the host is as wrong as one that appeared.
    EXPECT_TRUE(leaked.empty()) << "Mount points left behind:" << joined(leaked);
    EXPECT_TRUE(lost.empty()) << "Mount points removed from the host:" << joined(lost);

    // Other people may start and stop machines on this host meanwhile; what their live machines hold is
    // not this test's leak (see held_by_live_machine). This test's own nspawns are all gone by now.
    auto ours = [&](std::vector<std::string> entries, const std::string& root) {
        std::erase_if(entries, [&](const std::string& e) { return held_by_live_machine(root + e, own_id); });
        return entries;
    };
    auto cgroups = ours(added(cgroups_before_, cgroup_dirs()), "");
    EXPECT_TRUE(cgroups.empty()) << "Cgroups left behind:" << joined(cgroups);
    auto run = ours(added(run_before_, run_berth_entries()), "/run/berth");
    EXPECT_TRUE(run.empty()) << "/run/berth entries left behind:" << joined(run);
}

std::string random_id() { return read_file("/proc/sys/kernel/random/uuid").substr(0, 8); }

RunResult nspawn(const std::vector<std::string>& args, const RunOptions& opts) { return run(nspawn_path(), args, opts); }

Process start_nspawn(const std::vector<std::string>& args, const RunOptions& opts) {
    return Process::start(nspawn_path(), args, opts);
}

RunResult make_busybox_rootfs(const std::string& root) { return run(fixtures_dir() + "/busybox-rootfs.sh", {root}); }

BusyboxScratch busybox_scratch() {
    BusyboxScratch s{.tmp = make_temp_dir(), .id = random_id()};
    s.machine = "bb-" + s.id;
    s.root = s.tmp + "/" + s.machine;
    s.sync = s.tmp + "/sync";
    return s;
}

::testing::AssertionResult make_busybox_image(const std::string& root, const std::string& sync) {
    auto r = make_busybox_rootfs(root);
    if (!r.exited(0)) return ::testing::AssertionFailure() << "busybox rootfs: " << r.describe();
    make_dirs(sync);
    return ::testing::AssertionSuccess();
}

std::vector<std::string> busybox_args(const std::string& root) { return {"-q", "--register=no", "-D", root}; }

std::vector<std::string> busybox_sh_args(const std::string& root, const std::string& sync, const std::string& script,
                                         const std::vector<std::string>& opts) {
    auto args = busybox_args(root);
    args.push_back("--bind=" + sync + ":/sync:idmap");
    args.insert(args.end(), opts.begin(), opts.end());
    args.insert(args.end(), {"/bin/sh", "-c", "touch /sync/up; " + script});
    return args;
}

void BusyboxTest::SetUp() {
    leak_check_.emplace();
    auto where = busybox_scratch();
    tmp_ = where.tmp, id_ = where.id, root_ = where.root, machine_ = where.machine, sync_ = where.sync;
    ASSERT_TRUE(make_busybox_image(root_, sync_));
}

void BusyboxTest::TearDown() {
    leak_check_->expect_nothing_left(id_);
    remove_tree(tmp_);
}

RunResult BusyboxTest::sh(const std::string& script, const std::vector<std::string>& opts,
                          const RunOptions& run_opts) const {
    auto args = base();
    args.insert(args.end(), opts.begin(), opts.end());
    args.insert(args.end(), {"/bin/sh", "-c", script});
    return nspawn(args, run_opts);
}

Process BusyboxTest::start_sh(const std::string& script, const std::vector<std::string>& opts,
                              const RunOptions& run_opts) const {
    return start_nspawn(busybox_sh_args(root_, sync_, script, opts), run_opts);
}

void DebianTest::SetUp() {
    leak_check_.emplace();
    tmp_ = make_temp_dir();
    id_ = random_id();
    machine_ = "deb-" + id_;
    if (!exists(debian_rootfs() + "/usr/lib/systemd/systemd")) {
        const char* allow = std::getenv("BERTH_ALLOW_SKIP");
        if (allow && *allow) GTEST_SKIP() << "no Debian rootfs at " << debian_rootfs();
        FAIL() << "no Debian rootfs at " << debian_rootfs()
               << " (test.sh builds it; set BERTH_ALLOW_SKIP=1 to skip these tests instead)";
    }
    probe_ = tmp_ + "/probe";
    make_dirs(probe_);
    cache_before_ = cache_signature();
}

void DebianTest::TearDown() {
    if (!cache_before_.empty()) {
        EXPECT_EQ(cache_signature(), cache_before_) << "a machine wrote into the cached rootfs";
    }
    leak_check_->expect_nothing_left(id_);
    remove_tree(tmp_);
}

std::vector<std::string> DebianTest::machine_args() const {
    return {"-q", "--register=no", "-D", debian_rootfs(), "-M", machine_, "-x"};
}

std::vector<std::string> DebianTest::probe_args(const std::vector<std::string>& extra) const {
    auto args = machine_args();
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(),
                {"--bind-ro=" + fixtures_dir() + "/berth-probe.service:/etc/systemd/system/berth-probe.service",
                 "--bind=" + probe_ + ":/berth-probe:idmap", "-b", "systemd.wants=berth-probe.service"});
    return args;
}

// Top level and /etc of the cache: where a write that escaped the overlay would show first.
std::vector<std::string> DebianTest::cache_signature() const {
    std::vector<std::string> sig;
    for (const char* dir : {"", "/etc"}) {
        struct stat st {};
        std::string d = debian_rootfs() + dir;
        ::lstat(d.c_str(), &st);
        sig.push_back(d + " " + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
        for (auto& n : list_dir(d)) sig.push_back(d + "/" + n);
    }
    return sig;
}

::testing::AssertionResult refused_with(const RunResult& r, const std::string& needle) {
    std::string err = trim(r.err);
    if (!r.exited(1)) return ::testing::AssertionFailure() << "expected exit status 1, got " << r.describe();
    if (err.empty() || err.find('\n') != std::string::npos)
        return ::testing::AssertionFailure() << "expected exactly one line on stderr, got " << r.describe();
    if (err.find(needle) == std::string::npos)
        return ::testing::AssertionFailure() << "expected the error to name \"" << needle << "\", got "
                                             << r.describe();
    return ::testing::AssertionSuccess();
}

}  // namespace berth::test
