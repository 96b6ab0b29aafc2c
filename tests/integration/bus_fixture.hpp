// A private system bus with machined on it, for the machined tests (and machinectl's):
//   - dbus-daemon --config-file=... in the test's temporary directory, with the system bus's default
//     policy plus units/org.freedesktop.machine1.conf (so the shipped policy file is what is tested);
//   - machined with a temporary --pool (its only image directory: image_search_path = []), --state-dir
//     and --config, DBUS_SYSTEM_BUS_ADDRESS pointing at that bus (exported to this test process too, for
//     sdbus proxies), writing the files systemd's -M tools read into a temporary machines_dir;
//   - systemd's clients run in a private mount namespace where /run/systemd/system exists and
//     /run/systemd/machines is that machines_dir;
//   - a busybox rootfs as BusyboxTest's (fixture.hpp), for machines our nspawn registers;
//   - at the end machined and the bus are stopped and every machine process the test started is gone
//     (the HostLeakCheck then compares mounts, cgroups and /run/berth).
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/dbus_daemon.hpp"
#include "tests/integration/fixture.hpp"

namespace berth::test {

std::string machined_path();

// The private system bus of a machined test: the system bus's default policy and machined's policy file.
class PrivateSystemBus : public DbusDaemon {
public:
    explicit PrivateSystemBus(const std::string& dir);  // throws std::runtime_error
};

class MachinedTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    // Starts machined (config_ written first when `config` is set) and waits until it owns its name.
    // With `as_if_under_systemd` it runs in a private mount namespace where /run/systemd/system exists and
    // /etc/systemd/system is a tmpfs holding units/nspawn@.service (seen at /proc/PID/root from outside).
    void start_machined(const std::string& config = "", bool as_if_under_systemd = false);
    // SIGTERM (or `sig`), and wait for its exit; returns how it ended.
    RunResult stop_machined(int sig = SIGTERM);
    bool machined_running() const { return machined_ && machined_->running(); }

    // busctl --system with this bus; `args` after "--system".
    RunResult busctl(const std::vector<std::string>& args, const RunOptions& opts = {}) const;
    // A method call on the manager: busctl call ... org.freedesktop.machine1.Manager METHOD SIG ARGS...
    RunResult manager(const std::string& method, const std::vector<std::string>& sig_and_args = {}) const;
    // The same through io.berth.Manager1.
    RunResult berth_manager(const std::string& method, const std::vector<std::string>& sig_and_args = {}) const;
    // As user nobody (setpriv), to test access control.
    RunResult busctl_as_nobody(const std::vector<std::string>& args) const;
    // systemd's machinectl (or another systemd tool) in a private mount namespace with /run/systemd/system
    // and machines_dir_ at /run/systemd/machines.
    RunResult systemd_tool(const std::string& tool, const std::vector<std::string>& args, Millis timeout = 30s,
                           const std::optional<std::string>& input = std::nullopt) const;
    // The same tool on the terminal `pty` (TERM=vt220), started: the test types into it and reads from it.
    Process start_systemd_tool_on(const Pty& pty, const std::string& tool, const std::vector<std::string>& args,
                                  Millis timeout = 120s) const;

    // Names of ListMachines, .host included, sorted.
    std::vector<std::string> machine_names() const;
    // Property of a machine object as busctl prints it ("s \"web\"").
    std::string machine_property(const std::string& name, const std::string& property,
                                 const std::string& interface = "org.freedesktop.machine1.Machine") const;
    // Our nspawn running `script` in the busybox image after it has touched /sync/up (as
    // BusyboxTest::start_sh), registered with machined on this bus; wait for it with wait_up().
    Process start_registered(const std::string& script, const std::vector<std::string>& opts = {}) const;
    bool wait_up(const Process& p) const { return wait_for_file(sync_ + "/up", p, 20s); }
    // A Debian 12 guest of our nspawn: the cached rootfs on an ephemeral overlay, booted with systemd and
    // registered on this bus as `name`, once multi-user.target is reached (the probe unit
    // tests/fixtures/berth-probe.service, told to stay up, writes to `probe_dir`). A failed assertion when it
    // does not get there; stop it (SIGTERM) before the fixture's TearDown. Call require_debian_rootfs() first.
    Process boot_registered_debian(const std::string& name, const std::string& probe_dir) const;
    // The cached Debian rootfs is there; else the test fails (is skipped with BERTH_ALLOW_SKIP=1).
    bool require_debian_rootfs();
    // A plain leader process (sleep), and the registration of a leader through RegisterMachine by root.
    static Process start_leader();
    RunResult register_leader(const std::string& name, pid_t leader, const std::string& service = "test",
                              const std::string& root = "/") const;
    // Waits (bounded, not a timed assertion) until `pred` holds.
    static bool eventually(const std::function<bool()>& pred, Millis limit = 20s);

    std::string tmp_;      // removed in TearDown
    std::string id_;       // random_id()
    std::string root_;     // the busybox image: tmp_/bb-<id>
    std::string machine_;  // its default machine name: bb-<id>
    std::string sync_;     // host directory bound to /sync by start_registered()
    std::string pool_, state_dir_, config_, enabled_dir_;
    std::string machines_dir_;  // machined's machines_dir: what systemd's tools see as /run/systemd/machines
    std::optional<PrivateSystemBus> bus_;
    std::optional<Process> machined_;

private:
    std::optional<HostLeakCheck> leak_check_;
};

// busctl prints an error's message, not its name: calls whose error name matters go through sdbus-c++.
// Runs `call` on a proxy of `path` on the private bus (in a child that became user nobody when
// `as_nobody`); returns "" when it succeeded, else the D-Bus error name.
std::string bus_error_of(const std::function<void(sdbus::IProxy&)>& call, bool as_nobody = false,
                         const std::string& path = "/org/freedesktop/machine1");

}  // namespace berth::test
