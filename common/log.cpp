#include "common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace berth {

void setup_logging(std::string_view program, bool plain, spdlog::level::level_enum level) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_st>();
    auto logger = std::make_shared<spdlog::logger>(std::string(program), sink);
    logger->set_pattern(plain ? "%v" : "%n[%P]: %l: %v");
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(logger);
}

}  // namespace berth
