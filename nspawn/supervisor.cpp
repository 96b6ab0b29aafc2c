#include "nspawn/supervisor.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.hpp"
#include "common/signals.hpp"
#include "nspawn/notify.hpp"

namespace berth::nspawn {

namespace {

enum Tag : uint64_t { kPidfd, kSignal, kNotify, kChannel, kMaster, kStdin };

Outcome outcome_of(const Plan& plan, const siginfo_t& si) {
    Outcome o;
    if (si.si_code == CLD_EXITED) {
        o.exit_status = si.si_status;
    } else if (plan.boot && si.si_status == SIGHUP) {
        o.reboot = true;  // reboot() in a PID namespace kills its init with SIGHUP
    } else if (plan.boot && si.si_status == SIGINT) {
        o.exit_status = 0;  // ... and with SIGINT for halt and poweroff
    } else {
        o.exit_status = 128 + si.si_status;
    }
    return o;
}

class Loop {
public:
    Loop() : ep_(::epoll_create1(EPOLL_CLOEXEC)) {}
    void add(int fd, Tag tag, uint32_t events = EPOLLIN) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = tag;
        ::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev);
    }
    void mod(int fd, Tag tag, uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = tag;
        ::epoll_ctl(ep_.get(), EPOLL_CTL_MOD, fd, &ev);
    }
    void del(int fd) { ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr); }
    int wait(epoll_event* evs, int n) { return ::epoll_wait(ep_.get(), evs, n, -1); }

private:
    UniqueFd ep_;
};

// The console's master: readable always, writable only while input waits for it.
void watch_master(Loop& loop, Console& console) {
    uint32_t out = console.has_pending_input() ? uint32_t{EPOLLOUT} : 0;
    loop.mod(console.master_fd(), kMaster, uint32_t{EPOLLIN} | out);
}

}  // namespace

Outcome supervise(const Plan& plan, RunningMachine& m, int signal_fd, const Cgroup& cgroup) {
    Loop loop;
    loop.add(m.init.pidfd(), kPidfd);
    loop.add(signal_fd, kSignal);
    if (m.notify) loop.add(m.notify.get(), kNotify);
    if (m.channel.fd() >= 0) loop.add(m.channel.fd(), kChannel);
    if (m.console) {
        loop.add(m.console->master_fd(), kMaster);
        if (m.console->reads_stdin()) loop.add(STDIN_FILENO, kStdin);
    }
    std::optional<Error> exec_error;
    int stop_requests = 0;

    for (;;) {
        epoll_event evs[8];
        int n = loop.wait(evs, 8);
        for (int i = 0; i < n; i++) {
            switch (evs[i].data.u64) {
                case kPidfd: {
                    auto si = m.init.try_reap();
                    if (!si) break;
                    if (m.console) m.console->on_master_readable();  // the last words
                    Outcome o = outcome_of(plan, *si);
                    if (exec_error) {
                        o.error = exec_error;
                        o.reboot = false;
                    }
                    return o;
                }
                case kSignal: {
                    signalfd_siginfo ssi{};
                    if (::read(signal_fd, &ssi, sizeof ssi) != sizeof ssi) break;
                    if (ssi.ssi_signo == SIGWINCH) {
                        if (m.console) m.console->on_window_change();
                    } else if (ssi.ssi_signo == SIGTERM || ssi.ssi_signo == SIGINT || ssi.ssi_signo == SIGHUP) {
                        // First request: ask the guest politely; second: kill everything.
                        if (stop_requests++ == 0 && plan.kill_signal != SIGKILL) {
                            if (!plan.quiet)
                                spdlog::info("Asking machine \"{}\" to stop with {}.", plan.machine,
                                             signal_name(plan.kill_signal));
                            m.init.signal(plan.kill_signal);
                        } else {
                            m.init.signal(SIGKILL);
                            (void)cgroup.kill_all(0);
                        }
                    }
                    break;
                }
                case kNotify: {
                    std::string msg = read_notify_message(m.notify.get());
                    if (plan.notify_ready && notify_has(msg, "READY=1")) notify_host("READY=1");
                    if (notify_has(msg, "STOPPING=1")) notify_host("STOPPING=1");
                    break;
                }
                case kChannel: {
                    auto r = m.channel.recv();
                    if (r.ok() && r->stage == Stage::Failed) exec_error = r->error;
                    if (!r.ok() || r->stage == Stage::Failed) {
                        loop.del(m.channel.fd());
                        m.channel.close();
                    }
                    break;
                }
                case kMaster:
                    if (evs[i].events & EPOLLIN) m.console->on_master_readable();
                    if (evs[i].events & EPOLLOUT) m.console->on_master_writable();
                    watch_master(loop, *m.console);
                    break;
                case kStdin:
                    if (m.console->on_stdin_readable()) {
                        if (!plan.quiet) spdlog::info("\r\nKilling machine \"{}\" (^] pressed three times).\r", plan.machine);
                        m.init.signal(SIGKILL);
                        (void)cgroup.kill_all(0);
                    }
                    if (!m.console->reads_stdin()) loop.del(STDIN_FILENO);
                    watch_master(loop, *m.console);
                    break;
            }
        }
    }
}

}  // namespace berth::nspawn
