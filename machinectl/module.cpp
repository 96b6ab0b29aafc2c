// machinectl proper: parse, connect, run one verb. Exit 0 on success, 1 with one line on stderr on failure.
// A shared object the executable (machinectl/launcher.cpp) loads for everything but `machinectl shell` on
// pipes; only the berth_machinectl_* functions are exported (module.map).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>

#include <fmt/format.h>

#include "machinectl/bus.hpp"
#include "machinectl/command_status.hpp"
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

// machinectl, for the launcher.
extern "C" int berth_machinectl_main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        // sdbus-c++ and nlohmann-json report by exception; nothing may escape as a crash.
        return fail(e.what());
    }
}

// The end of a `machinectl shell` the launcher ran itself, when it did not end with a report of the
// command's status: `error_text`, the error answer to the call, or `error` (errno) when the call failed
// after it was sent, else what the status pipe held. Says so as the shell verb does; the exit status.
extern "C" int berth_machinectl_finish_shell(const char* machine, const char* report, size_t size, int error,
                                             const char* error_text) {
    try {
        if (error_text || error != 0) {
            std::string why = error_text ? error_text : std::strerror(error);
            std::replace(why.begin(), why.end(), '\n', ' ');  // one line, as bus_error_text() makes it
            return fail(fmt::format("Failed to run a command in machine {}: {}", quote_arg(machine), why));
        }
        auto code = exit_code_of_status(std::string(report, size), machine);
        if (!code) return fail(code.error().message);
        return *code;
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}
