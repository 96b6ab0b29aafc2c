// Fixtures shared by the integration tests. Each derives from ::testing::Test, and a test file's own
// fixture from one of them, no deeper:
//   BusyboxTest: a fresh busybox rootfs, named so that its default machine name is unique.
//   DebianTest: the cached Debian 12 rootfs with systemd, booted on an ephemeral overlay (the cache must
//               stay unchanged), with the probe unit tests/fixtures/berth-probe.service.
//   MachinedTest (bus_fixture.hpp): a busybox rootfs as BusyboxTest's, and machined on a private bus.
// Every one gives its test a temporary directory and a short random id, and runs the leak check
// (HostLeakCheck) around it.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace berth::test {

// The host state a test must leave as it found it: the mount points must be exactly the same after the
// test as before it, and no cgroup or /run/berth entry may be added (except what another user's machine,
// still running, holds). Taken when constructed.
class HostLeakCheck {
public:
    HostLeakCheck();
    // `own_id`: the test's id, which its machines' cgroups carry (see held_by_live_machine).
    void expect_nothing_left(const std::string& own_id) const;

private:
    std::vector<std::string> mounts_before_, cgroups_before_, run_before_;
};

// A short random id, for unique machine names.
std::string random_id();

// nspawn with exactly these arguments.
RunResult nspawn(const std::vector<std::string>& args, const RunOptions& opts = {});
Process start_nspawn(const std::vector<std::string>& args, const RunOptions& opts = {});

// A fresh busybox rootfs at `root` (tests/fixtures/busybox-rootfs.sh).
RunResult make_busybox_rootfs(const std::string& root);
// Where the things of a BusyboxTest or MachinedTest are: a new temporary directory, a random id, the image
// tmp/bb-<id> (so that its default machine name, bb-<id>, is unique) and tmp/sync, bound to /sync.
struct BusyboxScratch {
    std::string tmp, id, root, machine, sync;
};
BusyboxScratch busybox_scratch();
// Builds the image: the rootfs at `root`, and the host directory `sync`.
::testing::AssertionResult make_busybox_image(const std::string& root, const std::string& sync);
// The options of a busybox machine in these tests: quiet (only the guest speaks on stdout), no
// registration, the image `root`.
std::vector<std::string> busybox_args(const std::string& root);
// busybox_args(root) + `sync` bound to /sync + opts + a shell running `script` after it has touched /sync/up.
std::vector<std::string> busybox_sh_args(const std::string& root, const std::string& sync, const std::string& script,
                                         const std::vector<std::string>& opts);

class BusyboxTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    std::vector<std::string> base() const { return busybox_args(root_); }
    // nspawn base() + opts + /bin/sh -c script.
    RunResult sh(const std::string& script, const std::vector<std::string>& opts = {},
                 const RunOptions& run = {}) const;
    // Starts a machine running `script` after it has touched /sync/up; wait for that with wait_up().
    Process start_sh(const std::string& script, const std::vector<std::string>& opts = {},
                     const RunOptions& run = {.timeout = 60s}) const;
    bool wait_up(const Process& p) const { return wait_for_file(sync_ + "/up", p, 20s); }

    std::string tmp_;      // removed in TearDown
    std::string id_;       // random_id()
    std::string root_;     // the image: tmp_/bb-<id>
    std::string machine_;  // its default machine name: bb-<id>
    std::string sync_;     // host directory bound to /sync by start_sh()

private:
    std::optional<HostLeakCheck> leak_check_;
};

class DebianTest : public ::testing::Test {
protected:
    void SetUp() override;     // fails without the rootfs (skips with BERTH_ALLOW_SKIP=1)
    void TearDown() override;  // the leak check, and the cached rootfs is unchanged

    // Quiet, unregistered, ephemeral, named machine_.
    std::vector<std::string> machine_args() const;
    // machine_args() + extra + the probe unit bound in + `-b systemd.wants=berth-probe.service`. The probe
    // appends `systemctl is-active multi-user.target` to probe_/boots, then powers off, or reboots while
    // probe_/reboot-once exists (removing it), or does neither while probe_/stay-up exists.
    std::vector<std::string> probe_args(const std::vector<std::string>& extra = {}) const;

    std::string tmp_;      // removed in TearDown
    std::string id_;       // random_id()
    std::string machine_;  // deb-<id>
    std::string probe_;    // host side of /berth-probe

private:
    std::vector<std::string> cache_signature() const;
    std::vector<std::string> cache_before_;
    std::optional<HostLeakCheck> leak_check_;
};

// The assertion for refused input: exit status 1, exactly one line on stderr that contains `needle`.
::testing::AssertionResult refused_with(const RunResult& r, const std::string& needle);

}  // namespace berth::test
