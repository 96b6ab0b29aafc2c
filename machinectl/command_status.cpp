#include "machinectl/command_status.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/escape.hpp"
#include "machinectl/status_report.hpp"

namespace berth::machinectl {

Result<int> exit_code_of_status(const std::string& report, const std::string& machine) {
    auto fail = [&](const std::string& why) {
        return plain_error(fmt::format("Failed to get the exit status of the command in machine {}: {}",
                                       quote_untrusted(machine), why));
    };
    if (report.empty()) return fail("machined reported none (the machine or machined went away)");
    if (int code = status_report_exit_code(report); code >= 0) return code;
    return fail(fmt::format("machined reported {}", quote_untrusted(report)));
}

CommandStatusReader::CommandStatusReader(UniqueFd fd) : fd_(std::move(fd)) {
    int flags = fcntl(fd_.get(), F_GETFL);
    if (flags >= 0) fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
}

bool CommandStatusReader::read_available() {
    while (!eof_) {
        char buf[kStatusReportMax];
        ssize_t k = read(fd_.get(), buf, sizeof buf);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) return false;
        if (k <= 0) {
            eof_ = true;
            break;
        }
        if (text_.size() < kStatusReportMax) text_.append(buf, static_cast<size_t>(k));
    }
    return true;
}

Result<int> CommandStatusReader::wait_exit_code(const std::string& machine) {
    while (!read_available()) {
        struct pollfd p {fd_.get(), POLLIN, 0};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) return errno_error("Failed to wait for the command's status");
    }
    return exit_code_of_status(text_, machine);
}

}  // namespace berth::machinectl
