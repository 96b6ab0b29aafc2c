// machined: the machine registry on the system bus (org.freedesktop.machine1, io.berth.Manager1).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <sdbus-c++/IConnection.h>

#include "config.hpp"
#include "daemon.hpp"
#include "log.hpp"

using namespace berth;
using namespace berth::machined;

int main(int argc, char** argv) {
    CLI::App app{"machined: keeps the registry of running machines on the system bus"};
    std::string pool, config_path = "/etc/berth/machined.toml", state_dir;
    app.add_option("--pool", pool, "Image pool (default /var/lib/machines)");
    auto* config_opt = app.add_option("--config", config_path, "Configuration file");
    app.add_option("--state-dir", state_dir, "Runtime state (default /run/berth)");
    CLI11_PARSE(app, argc, argv);

    setup_logging("machined", false);
    auto config = load_config(config_path, config_opt->count() > 0);
    if (!config.ok()) {
        spdlog::error("{}", config.error().message);
        return 1;
    }
    if (!pool.empty()) config->pool = pool;
    if (!state_dir.empty()) config->state_dir = state_dir;
    spdlog::default_logger()->set_level(config->log_level);

    // Before any child exists: the signalfd wants them blocked, children unblock them again.
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&mask, s);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    std::unique_ptr<sdbus::IConnection> bus;
    try {
        bus = sdbus::createSystemBusConnection();
    } catch (const sdbus::Error& e) {
        spdlog::error("Cannot connect to the system bus: {}", e.getMessage());
        return 1;
    }
    Daemon daemon(std::move(*config), std::move(bus));
    if (auto s = daemon.start(); !s.ok()) {
        spdlog::error("{}", s.error().message);
        return 1;
    }
    return daemon.run();
}
