// Fixtures shared by the integration tests.
//   NspawnTest: a temporary directory per test, and the leak check: the host's mount points must be exactly
//               the same after the test as before it, and no cgroup or /run/berth entry may be added
//               (except what another user's machine, still running, holds).
//   BusyboxTest: plus a fresh busybox rootfs, named so that its default machine name is unique.
//   DebianTest: the cached Debian 12 rootfs with systemd, booted on an ephemeral overlay (the cache must
//               stay unchanged), with the probe unit tests/fixtures/berth-probe.service.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace berth::test {

class NspawnTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    // nspawn with exactly these arguments.
    RunResult nspawn(const std::vector<std::string>& args, const RunOptions& opts = {}) const;
    Process start_nspawn(const std::vector<std::string>& args, const RunOptions& opts = {}) const;

    std::string tmp_;  // removed in TearDown
    std::string id_;   // short random suffix, for unique machine names

private:
    std::vector<std::string> mounts_before_, cgroups_before_, run_before_;
};

class BusyboxTest : public NspawnTest {
protected:
    void SetUp() override;

    // The options every machine in these tests gets: quiet (only the guest speaks on stdout), no
    // registration, this test's rootfs.
    std::vector<std::string> base() const { return {"-q", "--register=no", "-D", root_}; }
    // nspawn base() + opts + /bin/sh -c script.
    RunResult sh(const std::string& script, const std::vector<std::string>& opts = {},
                 const RunOptions& run = {}) const;
    // Starts a machine running `script` after it has touched /sync/up; wait for that with wait_up().
    Process start_sh(const std::string& script, const std::vector<std::string>& opts = {},
                     const RunOptions& run = {.timeout = 60s}) const;
    bool wait_up(const Process& p) const { return wait_for_file(sync_ + "/up", p, 20s); }

    std::string root_;     // the image: tmp_/bb-<id>
    std::string machine_;  // its default machine name: bb-<id>
    std::string sync_;     // host directory bound to /sync by start_sh()
};

class DebianTest : public NspawnTest {
protected:
    void SetUp() override;     // fails without the rootfs (skips with BERTH_ALLOW_SKIP=1)
    void TearDown() override;  // plus: the cached rootfs is unchanged

    // Quiet, unregistered, ephemeral, named machine_.
    std::vector<std::string> machine_args() const;
    // machine_args() + extra + the probe unit bound in + `-b systemd.wants=berth-probe.service`. The probe
    // appends `systemctl is-active multi-user.target` to probe_/boots, then powers off, or reboots while
    // probe_/reboot-once exists (removing it), or does neither while probe_/stay-up exists.
    std::vector<std::string> probe_args(const std::vector<std::string>& extra = {}) const;

    std::string machine_;  // deb-<id>
    std::string probe_;    // host side of /berth-probe

private:
    std::vector<std::string> cache_signature() const;
    std::vector<std::string> cache_before_;
};

// The assertion for refused input: exit status 1, exactly one line on stderr that contains `needle`.
::testing::AssertionResult refused_with(const RunResult& r, const std::string& needle);

}  // namespace berth::test
