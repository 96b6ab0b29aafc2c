// machinectl: parse, connect, run one verb. Exit 0 on success, 1 with one line on stderr on failure.
#include <cstdio>
#include <exception>

#include <fmt/format.h>

#include "machinectl/bus.hpp"
#include "machinectl/options.hpp"
#include "machinectl/verbs.hpp"

using namespace berth::machinectl;

namespace {

int fail(const std::string& message) {
    std::fflush(stdout);
    fmt::print(stderr, "{}\n", message);
    return 1;
}

int run(int argc, char** argv) {
    auto opts = parse_command_line(argc, argv);
    if (!opts) return fail(opts.error().message);
    if (opts->output_help) {
        fmt::print("{}", output_mode_help());
        return 0;
    }
    if (opts->help) {
        fmt::print("{}", help_text());
        return 0;
    }
    if (opts->version) {
        fmt::print("machinectl (berth) {}\n", BERTH_VERSION);
        return 0;
    }
    auto bus = Bus::connect();
    if (!bus) return fail(bus.error().message);
    const Verb* verb = find_verb(opts->verb);
    if (verb->run_for_status) {
        auto code = verb->run_for_status(**bus, *opts);
        if (!code) return fail(code.error().message);
        std::fflush(stdout);
        return *code;
    }
    auto status = verb->run(**bus, *opts);
    if (!status) return fail(status.error().message);
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) return fail("Failed to write output");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        // sdbus-c++ and nlohmann-json report by exception; nothing may escape as a crash.
        return fail(e.what());
    }
}
