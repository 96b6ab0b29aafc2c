// Our machinectl against the real machined: MachinedTest (bus_fixture) gives each test a private
// dbus-daemon with the shipped policy (never the host's bus) and machined on a temporary pool, state
// and enabled directory, and checks at the end that no machine, state file, process, cgroup, mount or
// /run/berth entry is left. MachinectlTest starts machined before each test; the suites of the machinectl
// test files (MachinectlRegistry, MachinectlControl, MachinectlPool, MachinectlHostile) are this fixture.
#pragma once

#include <string>
#include <vector>

#include "tests/integration/bus_fixture.hpp"

namespace berth::test {

std::string machinectl_path();

class MachinectlTest : public MachinedTest {
protected:
    void SetUp() override;  // plus: machined started

    // Our machinectl with exactly these arguments, on the private bus.
    RunResult machinectl(const std::vector<std::string>& args) const;
    // systemd's machinectl (systemd-container) on the same bus, for comparison.
    RunResult systemd_machinectl(const std::vector<std::string>& args) const { return systemd_tool("/usr/bin/machinectl", args); }
    bool have_systemd_machinectl() const { return exists("/usr/bin/machinectl") && exists("/run/systemd"); }

    // A registry-only machine: start_leader(), registered once it is `sleep` (exec done, so that status
    // and list see its name and command line) by register_leader(name, its pid, service, tmp_).
    Process start_registered_leader(const std::string& name, const std::string& service = "test-svc") const;
    // start_registered(), and up (it touched /sync/up) when this returns.
    Process start_registered_up(const std::string& script, const std::vector<std::string>& opts = {}) const;

    bool listed(const std::string& name) const;
    // machined notices a leader's death by its pidfd, asynchronously: waits (bounded) until it is gone.
    bool wait_unlisted(const std::string& name) const {
        return eventually([&] { return !listed(name); }, 30s);
    }
    bool wait_listed(const std::string& name) const {
        return eventually([&] { return listed(name); }, 30s);
    }
    // `machinectl show NAME -p PROPERTY --value`, which must succeed; its value.
    std::string show_value(const std::string& name, const std::string& property) const;
    // machinectl with `args` is refused (refused_with `needle`), prints nothing on stdout, and the registry
    // is unchanged with machined still answering.
    void expect_refused(const std::vector<std::string>& args, const std::string& needle) const;
    // A pool image that boots: busybox plus an init that sleeps.
    std::string make_pool_image(const std::string& name) const;
};

}  // namespace berth::test
