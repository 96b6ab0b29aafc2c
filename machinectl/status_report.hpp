// The report on a command's status pipe (io.berth.Machine1.Execute/ExecutePTY): one line, "exited N",
// "killed SIG" or "dumped SIG", then EOF. Header-only and free of the C++ runtime: machinectl's launcher
// reads it too (machinectl/launcher.cpp).
#pragma once

#include <string_view>

namespace berth::machinectl {

inline constexpr size_t kStatusReportMax = 64;  // "dumped 64\n" is ten bytes; anything longer is not a report

// The exit status machinectl shell ends with: N, or 128+SIG; -1 for anything that is not a report.
inline int status_report_exit_code(std::string_view report) {
    auto number = [](std::string_view s, int max) {
        if (s.empty() || s.size() > 3) return -1;
        int v = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return -1;
            v = v * 10 + (c - '0');
        }
        return v > max ? -1 : v;
    };
    if (report.empty() || report.back() != '\n' || report.find('\n') != report.size() - 1) return -1;
    report.remove_suffix(1);
    size_t space = report.find(' ');
    if (space == std::string_view::npos) return -1;
    // No substr(): it may throw, and the launcher has no C++ runtime to throw with.
    std::string_view kind(report.data(), space), n(report.data() + space + 1, report.size() - space - 1);
    if (kind == "exited") return number(n, 255);
    if (kind == "killed" || kind == "dumped") {
        int sig = number(n, 64);
        return sig > 0 ? 128 + sig : -1;
    }
    return -1;
}

}  // namespace berth::machinectl
