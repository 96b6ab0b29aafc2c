#include "machinectl_fixture.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <thread>

namespace berth::test {

std::string machinectl_path() { return BERTH_MACHINECTL; }
std::string machined_path() { return BERTH_MACHINED; }

void MachinectlTest::start_bus() {
    bus_socket_ = tmp_ + "/system_bus_socket";
    std::string config = tmp_ + "/bus.conf";
    write_file(config,
               "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
               " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
               "<busconfig>\n"
               "  <type>system</type>\n"
               "  <listen>unix:path=" + bus_socket_ + "</listen>\n"
               "  <auth>EXTERNAL</auth>\n"
               "  <policy context=\"default\">\n"
               "    <allow user=\"*\"/>\n"
               "    <allow own=\"*\"/>\n"
               "    <allow send_destination=\"*\"/>\n"
               "    <allow receive_sender=\"*\"/>\n"
               "  </policy>\n"
               "</busconfig>\n");
    auto r = run("/usr/bin/dbus-daemon", {"--config-file=" + config, "--fork", "--print-pid", "--nosyslog"});
    ASSERT_TRUE(r.exited(0)) << "dbus-daemon: " << r.describe();
    bus_pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, std::stoi(r.out), 0));
    ASSERT_GE(bus_pidfd_, 0) << "dbus-daemon exited right after starting";
}

void MachinectlTest::stop_bus() {
    if (bus_pidfd_ < 0) return;
    // By pidfd: the daemon forked away from us, and its pid may be reused once it is gone.
    ::syscall(SYS_pidfd_send_signal, bus_pidfd_, SIGTERM, nullptr, 0);
    pollfd p{bus_pidfd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) ::syscall(SYS_pidfd_send_signal, bus_pidfd_, SIGKILL, nullptr, 0);
    ::close(bus_pidfd_);
    bus_pidfd_ = -1;
}

void MachinectlTest::SetUp() {
    BusyboxTest::SetUp();
    if (HasFatalFailure()) return;
    pool_ = tmp_ + "/pool";
    make_dirs(pool_);
    start_bus();
    if (HasFatalFailure()) return;
    // Everything machined keeps goes under tmp_: state, enabled machines, pool.
    std::string config = tmp_ + "/machined.toml";
    write_file(config, "pool = \"" + pool_ + "\"\nstate_dir = \"" + tmp_ + "/state\"\nenabled_dir = \"" + tmp_ +
                           "/enabled\"\n");
    machined_.emplace(Process::start(machined_path(), {"--config=" + config}, {.env = {bus_env()}, .timeout = 600s}));
    // Ready when it answers on the bus (it owns its name before it serves, so the first answer is real).
    for (int i = 0; i < 300; i++) {
        if (!machined_->running()) break;
        auto r = busctl({"call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                         "org.freedesktop.machine1.Manager", "ListMachines"});
        if (r.exited(0)) return;
        std::this_thread::sleep_for(100ms);
    }
    auto r = machined_->wait(5s);
    FAIL() << "machined did not come up on the private bus: " << r.describe();
}

void MachinectlTest::TearDown() {
    if (machined_) {
        EXPECT_TRUE(machined_->running()) << "machined died during the test";
        machined_->signal(SIGTERM);
        auto r = machined_->wait(30s);
        EXPECT_TRUE(r.exited(0)) << "machined on SIGTERM: " << r.describe();
        machined_.reset();
    }
    stop_bus();
    BusyboxTest::TearDown();
}

RunResult MachinectlTest::machinectl(const std::vector<std::string>& args) const {
    return run(machinectl_path(), args, {.env = {bus_env()}, .timeout = 60s});
}

RunResult MachinectlTest::busctl(const std::vector<std::string>& args) const {
    std::vector<std::string> all{"--address=unix:path=" + bus_socket_};
    all.insert(all.end(), args.begin(), args.end());
    return run("/usr/bin/busctl", all, {.timeout = 60s});
}

Process MachinectlTest::register_sleeper(const std::string& name, const std::string& service) {
    Process p = Process::start("/bin/sleep", {"100000"}, {.timeout = 600s});
    auto r = busctl({"call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                     "org.freedesktop.machine1.Manager", "RegisterMachine", "sayssus", name, "0", service,
                     "container", std::to_string(p.pid()), tmp_});
    EXPECT_TRUE(r.exited(0)) << "RegisterMachine " << name << ": " << r.describe();
    return p;
}

Process MachinectlTest::start_registered(const std::string& script, const std::vector<std::string>& opts) {
    std::vector<std::string> all{"--register=yes"};
    all.insert(all.end(), opts.begin(), opts.end());
    Process p = start_sh(script, all, {.env = {bus_env()}, .timeout = 600s});
    EXPECT_TRUE(wait_up(p)) << "the machine did not come up";
    return p;
}

bool MachinectlTest::listed(const std::string& name) const {
    auto r = busctl({"--json=short", "call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
                     "org.freedesktop.machine1.Manager", "ListMachines"});
    EXPECT_TRUE(r.exited(0)) << r.describe();
    return r.out.find("\"" + name + "\"") != std::string::npos;
}

}  // namespace berth::test
