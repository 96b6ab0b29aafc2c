#include "common/signals.hpp"

#include <signal.h>

#include <climits>
#include <cstring>

#include "common/values.hpp"

namespace berth {

namespace {
struct Named { const char* name; int sig; };
constexpr Named kSignals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT},   {"ILL", SIGILL},   {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},     {"KILL", SIGKILL}, {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},   {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},   {"URG", SIGURG},     {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},   {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

Result<int> parse_number(std::string_view s, std::string_view whole) {
    auto v = parse_uint(s);
    if (!v || *v > INT_MAX) return plain_error(fmt::format("Unknown signal \"{}\"", whole));
    return static_cast<int>(*v);
}
}  // namespace

Result<int> parse_signal(std::string_view text) {
    std::string_view s = text;
    if (s.substr(0, 3) == "SIG") s.remove_prefix(3);
    int sig = -1;
    if (!s.empty() && s[0] >= '0' && s[0] <= '9' && s == text) {
        BERTH_ASSIGN(sig, parse_number(s, text));
    } else if (s.substr(0, 5) == "RTMIN") {
        sig = SIGRTMIN;
        if (s.size() > 5) {
            if (s[5] != '+') return plain_error(fmt::format("Unknown signal \"{}\"", text));
            BERTH_ASSIGN(int off, parse_number(s.substr(6), text));
            if (off < 0 || off > SIGRTMAX - SIGRTMIN) return plain_error(fmt::format("Unknown signal \"{}\"", text));
            sig += off;
        }
    } else if (s.substr(0, 5) == "RTMAX") {
        sig = SIGRTMAX;
        if (s.size() > 5) {
            if (s[5] != '-') return plain_error(fmt::format("Unknown signal \"{}\"", text));
            BERTH_ASSIGN(int off, parse_number(s.substr(6), text));
            if (off < 0 || off > SIGRTMAX - SIGRTMIN) return plain_error(fmt::format("Unknown signal \"{}\"", text));
            sig -= off;
        }
    } else {
        for (auto& n : kSignals)
            if (s == n.name) sig = n.sig;
    }
    if (sig < 1 || sig > SIGRTMAX) return plain_error(fmt::format("Unknown signal \"{}\"", text));
    return sig;
}

std::string signal_name(int sig) {
    for (auto& n : kSignals)
        if (n.sig == sig) return std::string("SIG") + n.name;
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) return fmt::format("SIGRTMIN+{}", sig - SIGRTMIN);
    return std::to_string(sig);
}

}  // namespace berth
