#include "machinectl/command_status.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/escape.hpp"

namespace berth::machinectl {

namespace {

constexpr size_t kReportMax = 64;  // "dumped 64\n" is ten bytes; anything longer is not a report

bool parse_number(std::string_view s, int max, int& out) {
    if (s.empty() || s.size() > 3) return false;
    int v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    if (v > max) return false;
    out = v;
    return true;
}

}  // namespace

Result<int> exit_code_of_status(const std::string& report, const std::string& machine) {
    auto fail = [&](const std::string& why) {
        return plain_error(fmt::format("Failed to get the exit status of the command in machine {}: {}",
                                       quote_untrusted(machine), why));
    };
    if (report.empty()) return fail("machined reported none (the machine or machined went away)");
    std::string_view line(report);
    if (line.back() != '\n' || line.find('\n') != line.size() - 1)
        return fail(fmt::format("machined reported {}", quote_untrusted(report)));
    line.remove_suffix(1);
    auto space = line.find(' ');
    std::string_view kind = line.substr(0, space), number = space == std::string_view::npos ? "" : line.substr(space + 1);
    int n = 0;
    if (kind == "exited" && parse_number(number, 255, n)) return n;
    if ((kind == "killed" || kind == "dumped") && parse_number(number, 64, n) && n > 0) return 128 + n;
    return fail(fmt::format("machined reported {}", quote_untrusted(report)));
}

CommandStatusReader::CommandStatusReader(UniqueFd fd) : fd_(std::move(fd)) {
    int flags = fcntl(fd_.get(), F_GETFL);
    if (flags >= 0) fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
}

bool CommandStatusReader::read_available() {
    while (!eof_) {
        char buf[kReportMax];
        ssize_t k = read(fd_.get(), buf, sizeof buf);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) return false;
        if (k <= 0) {
            eof_ = true;
            break;
        }
        if (text_.size() < kReportMax) text_.append(buf, static_cast<size_t>(k));
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
