// Our machinectl against the real machined, each test on a private dbus-daemon of its own (never the
// host's bus) with machined on a temporary pool. BusyboxTest's leak check runs after machined and the
// bus are gone: no process, cgroup, mount or /run/berth entry may outlive a test.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace berth::test {

std::string machinectl_path();
std::string machined_path();

class MachinectlTest : public BusyboxTest {
protected:
    void SetUp() override;
    void TearDown() override;

    std::string bus_env() const { return "DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + bus_socket_; }
    // Our machinectl with exactly these arguments, on the private bus.
    RunResult machinectl(const std::vector<std::string>& args) const;
    // busctl on the private bus.
    RunResult busctl(const std::vector<std::string>& args) const;

    // A registry-only machine: `sleep` as leader, registered through RegisterMachine by busctl.
    Process register_sleeper(const std::string& name, const std::string& service = "test-svc");
    // A busybox machine (this test's rootfs) running `script`, registered by nspawn --register=yes and
    // up (it touched /sync/up) when this returns.
    Process start_registered(const std::string& script, const std::vector<std::string>& opts = {});

    // Whether machined lists `name` (through ListMachines, by busctl).
    bool listed(const std::string& name) const;

    std::string pool_;  // machined's --pool, under tmp_

private:
    void start_bus();
    void stop_bus();
    std::string bus_socket_;
    int bus_pidfd_ = -1;
    std::optional<Process> machined_;
};

}  // namespace berth::test
