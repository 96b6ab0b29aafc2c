// machined: the machine registry on the system bus (org.freedesktop.machine1, io.berth.Manager1).
#include <fcntl.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "common/fd.hpp"
#include "common/log.hpp"
#include "common/machined_config.hpp"
#include "common/paths.hpp"
#include "machined/daemon.hpp"
#include "machined/sd_bus_object.hpp"

using namespace berth;
using namespace berth::machined;

namespace {

// --daemon: the process that was started returns once the daemon owns its bus name (exit status 0) or
// has failed (1, the daemon's error on stderr), as `dbus-daemon --fork` does, so that a shell starting it
// may call it on its next line. The daemon runs on in a session of its own; it writes one byte to the
// returned pipe when ready.
UniqueFd daemonize() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) {
        spdlog::error("Failed to create a pipe: {}", std::strerror(errno));
        std::exit(1);
    }
    UniqueFd from_daemon(p[0]), to_starter(p[1]);
    pid_t pid = ::fork();
    if (pid < 0) {
        spdlog::error("Failed to fork: {}", std::strerror(errno));
        std::exit(1);
    }
    if (pid > 0) {
        to_starter.reset();
        char ready;
        ssize_t n;
        do n = ::read(from_daemon.get(), &ready, 1);
        while (n < 0 && errno == EINTR);
        std::_Exit(n == 1 ? 0 : 1);
    }
    from_daemon.reset();
    ::setsid();
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (null.get() == STDIN_FILENO) (void)null.release();  // stdin was closed: /dev/null is it now
    else if (null) ::dup2(null.get(), STDIN_FILENO);
    return to_starter;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"machined: keeps the registry of running machines on the system bus"};
    std::string pool, config_path = paths::kMachinedConfig, state_dir, machines_dir;
    app.add_option("--pool", pool, "Image pool (default /var/lib/machines)");
    auto* config_opt = app.add_option("--config", config_path, "Configuration file");
    app.add_option("--state-dir", state_dir, "Runtime state (default /run/berth)");
    app.add_option("--machines-dir", machines_dir,
                   "Where systemd's -M tools find machines (default /run/systemd/machines)");
    bool background = false;
    app.add_flag("--daemon", background, "Run in the background; return once ready on the bus");
    CLI11_PARSE(app, argc, argv);

    setup_logging("machined", false);
    auto config = load_machined_config(config_path, config_opt->count() > 0);
    if (!config.ok()) {
        spdlog::error("{}", config.error().message);
        return 1;
    }
    if (!pool.empty()) config->pool = pool;
    if (!state_dir.empty()) config->state_dir = state_dir;
    if (!machines_dir.empty()) config->machines_dir = machines_dir;
    spdlog::default_logger()->set_level(config->log_level);
    UniqueFd ready;
    if (background) ready = daemonize();

    // Before any child exists: the signalfd wants them blocked, children unblock them again.
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&mask, s);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    auto bus = open_system_bus();
    if (!bus.ok()) {
        spdlog::error("{}", bus.error().message);
        return 1;
    }
    Daemon daemon(std::move(*config), std::move(*bus));
    if (auto s = daemon.start(); !s.ok()) {
        spdlog::error("{}", s.error().message);
        return 1;
    }
    if (ready) {
        (void)!::write(ready.get(), "1", 1);
        ready.reset();
    }
    return daemon.run();
}
