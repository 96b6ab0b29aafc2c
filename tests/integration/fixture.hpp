// Fixtures shared by the integration tests.
//   NspawnTest: a temporary directory per test, and the leak check: the host's mount points must be exactly
//               the same after the test as before it, and no cgroup or /run/berth entry may be added
//               (except what another user's machine, still running, holds).
//   BusyboxTest: plus a fresh busybox rootfs, named so that its default machine name is unique.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.hpp"

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
    Process start_sh(const std::string& script, const std::vector<std::string>& opts = {}) const;
    bool wait_up(const Process& p) const { return wait_for_file(sync_ + "/up", p, 20s); }

    std::string root_;     // the image: tmp_/bb-<id>
    std::string machine_;  // its default machine name: bb-<id>
    std::string sync_;     // host directory bound to /sync by start_sh()
};

// The assertion for refused input: exit status 1, exactly one line on stderr that contains `needle`.
::testing::AssertionResult refused_with(const RunResult& r, const std::string& needle);

}  // namespace berth::test
