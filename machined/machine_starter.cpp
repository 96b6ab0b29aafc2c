#include "machined/machine_starter.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.hpp"
#include "common/pool.hpp"
#include "machined/procfs.hpp"
#include "machined/sd_bus_object.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace berth::machined {

namespace {

constexpr int kExitReboot = 133;

std::string default_nspawn() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "nspawn";
    std::string exe(buf, n);
    return exe.substr(0, exe.rfind('/') + 1) + "nspawn";
}

}  // namespace

bool systemd_is_running() {
    struct stat st {};
    return ::lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

Supervisor::Supervisor(const MachinedConfig& config, sd_bus* bus)
    : config_(config), bus_(bus), nspawn_(config.nspawn.empty() ? default_nspawn() : config.nspawn) {}

bool Supervisor::image_exists(const std::string& name) const {
    struct stat st {};
    return ::stat((config_.pool + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status Supervisor::start(const std::string& name) {
    if (!image_exists(name))
        return plain_error(fmt::format("No image \"{}\" in {}", name, config_.pool), ENOENT);
    if (running(name)) return plain_error(fmt::format("Machine \"{}\" is already running", name), EEXIST);
    if (systemd_is_running()) {
        // The unit's job is queued; systemd reports the rest.
        std::string unit = fmt::format("nspawn@{}.service", name);
        auto job = call_method(bus_, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                               "org.freedesktop.systemd1.Manager", "StartUnit", "ss", unit.c_str(), "replace");
        if (!job.ok()) return plain_error(fmt::format("Failed to start {}: {}", unit, job.error().message), EIO);
        return {};
    }
    return spawn(name);
}

bool Supervisor::signal(const std::string& name, int sig) {
    auto it = children_.find(name);
    if (it == children_.end()) return false;
    ::syscall(SYS_pidfd_send_signal, it->second.pidfd.get(), sig, nullptr, 0);
    return true;
}

Status Supervisor::spawn(const std::string& name) {
    // As nspawn -M does for its pool: nspawn -D is not told this is one.
    BERTH_TRY(secure_pool(config_.pool));
    std::vector<std::string> args = {nspawn_, "-q", "-b", "--register=yes", "--console=passive",
                                     "-D", config_.pool + "/" + name, "-M", name};
    pid_t pid = ::fork();
    if (pid < 0) return errno_error("Failed to fork");
    if (pid == 0) {
        // machined blocks these for its signalfd; nspawn must see them.
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_UNBLOCK, &all, nullptr);
        ::setsid();
        int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) ::dup2(null, 0);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    // Our own unreaped child: its pid cannot be reused before we wait for it.
    auto fd = pidfd_open(pid);
    if (!fd.ok()) return fd.error();
    spdlog::info("Started machine \"{}\" (nspawn {})", name, pid);
    children_[name] = Child{pid, std::move(*fd)};
    return {};
}

std::vector<int> Supervisor::fds() const {
    std::vector<int> out;
    for (auto& [_, c] : children_) out.push_back(c.pidfd.get());
    return out;
}

bool Supervisor::owns(int fd) const {
    for (auto& [_, c] : children_)
        if (c.pidfd.get() == fd) return true;
    return false;
}

std::optional<std::pair<std::string, std::string>> Supervisor::on_exit(int fd) {
    for (auto it = children_.begin(); it != children_.end(); ++it) {
        if (it->second.pidfd.get() != fd) continue;
        siginfo_t info{};
        if (::waitid(static_cast<idtype_t>(P_PIDFD), fd, &info, WEXITED | WNOHANG) < 0 || info.si_pid == 0)
            return std::nullopt;
        std::string name = it->first;
        children_.erase(it);
        if (info.si_code == CLD_EXITED && info.si_status == kExitReboot) {
            spdlog::info("Machine \"{}\" rebooted: starting it again", name);
            auto s = spawn(name);
            if (s.ok()) return std::nullopt;
            spdlog::error("Failed to restart machine \"{}\": {}", name, s.error().message);
            return std::pair{name, s.error().message};
        }
        std::string how = info.si_code == CLD_EXITED ? fmt::format("nspawn exited with status {}", info.si_status)
                                                     : fmt::format("nspawn was killed by signal {}", info.si_status);
        spdlog::info("Machine \"{}\" stopped ({})", name, how);
        return std::pair{name, how};
    }
    return std::nullopt;
}

}  // namespace berth::machined
