#include "tests/integration/dbus_daemon.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>

#include "tests/integration/harness.hpp"

namespace berth::test {

DbusDaemon::DbusDaemon(const std::string& dir, const std::string& policy) : socket_(dir + "/system_bus_socket") {
    std::string config = dir + "/bus.conf";
    write_file(config,
               "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
               " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
               "<busconfig>\n"
               "  <type>system</type>\n"
               "  <listen>unix:path=" + socket_ + "</listen>\n"
               "  <auth>EXTERNAL</auth>\n" +
                   policy + "</busconfig>\n");
    auto r = run("/usr/bin/dbus-daemon", {"--config-file=" + config, "--fork", "--print-pid", "--nosyslog"});
    if (!r.exited(0)) throw std::runtime_error("dbus-daemon: " + r.describe());
    pid_t pid = std::stoi(r.out);
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd_ < 0) throw std::runtime_error("dbus-daemon exited right after starting");
}

DbusDaemon::~DbusDaemon() {
    // By pidfd: the daemon is not our child (it forked), and its pid may be reused once it is gone.
    ::syscall(SYS_pidfd_send_signal, pidfd_, SIGTERM, nullptr, 0);
    pollfd p{pidfd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) ::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
    ::close(pidfd_);
}

}  // namespace berth::test
