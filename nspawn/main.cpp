// nspawn: spawn a command or boot an OS in a machine. Options follow systemd-nspawn's spelling.
#include <cstdio>

#include "common/log.hpp"
#include "nspawn/launcher.hpp"
#include "nspawn/options.hpp"
#include "nspawn/plan.hpp"

using namespace berth;
using namespace berth::nspawn;

int main(int argc, char** argv) {
    setup_logging("nspawn", true);
    auto options = parse_command_line(argc, argv);
    if (!options.ok()) {
        spdlog::error("{}", options.error().message);
        return 1;
    }
    if (options->help) {
        std::fputs(help_text().c_str(), stdout);
        return 0;
    }
    if (options->version) {
        std::puts("nspawn (berth) " BERTH_VERSION);
        return 0;
    }
    std::vector<std::string> warnings;
    auto plan = make_plan(std::move(*options), warnings);
    for (auto& w : warnings) spdlog::warn("{}", w);
    if (!plan.ok()) {
        spdlog::error("{}", plan.error().message);
        return 1;
    }
    auto status = run_machine(*plan);
    if (!status.ok()) {
        spdlog::error("{}", status.error().message);
        return 1;
    }
    return *status;
}
