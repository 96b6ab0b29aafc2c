#include "nspawn/stub_init.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace berth::nspawn {

namespace {
constexpr int kForwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGPWR};

void nothing(int) {}

sigset_t forwarded_set() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : kForwarded) sigaddset(&set, s);
    for (int s = SIGRTMIN; s <= SIGRTMAX; s++) sigaddset(&set, s);
    sigaddset(&set, SIGCHLD);
    return set;
}
}  // namespace

void reset_signal_dispositions() {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s <= SIGRTMAX; s++)
        if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

void install_stub_signals() {
    // PID 1 of a namespace only receives signals it has a handler for; what it inherited ignored (SIGCHLD
    // ignored would even reap PID 2 behind its back) goes back to the default first.
    reset_signal_dispositions();
    sigset_t set = forwarded_set();
    struct sigaction sa {};
    sa.sa_handler = nothing;
    for (int s = 1; s <= SIGRTMAX; s++)
        if (sigismember(&set, s) && s != SIGCHLD) ::sigaction(s, &sa, nullptr);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
}

void run_stub_init(pid_t child) {
    sigset_t set = forwarded_set();
    for (;;) {
        siginfo_t si{};
        int sig = ::sigwaitinfo(&set, &si);
        if (sig < 0) continue;
        if (sig != SIGCHLD) {
            ::kill(child, sig);
            continue;
        }
        for (;;) {
            int status = 0;
            pid_t p = ::waitpid(-1, &status, WNOHANG);
            if (p <= 0) break;
            if (p != child) continue;
            if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
            if (WIFSIGNALED(status)) ::_exit(128 + WTERMSIG(status));
        }
    }
}

}  // namespace berth::nspawn
