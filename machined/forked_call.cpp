#include "machined/forked_call.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <spdlog/spdlog.h>

#include "machined/bus_error.hpp"
#include "machined/sd_bus_object.hpp"

namespace berth::machined {

namespace {

// What the child hands back: "0 <text>" or "<errno> <message>", at most one pipe buffer (written at once,
// read after exit): kMaxReport, or less when the pipe holds less.
constexpr size_t kMaxReport = 60000;

// Every descriptor but 0, 1, 2, `report_fd` and `keep`.
void close_others(int report_fd, const std::vector<int>& keep) {
    std::vector<int> open;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d)) {
            int fd = std::atoi(e->d_name);
            if (e->d_name[0] != '.' && fd > 2 && fd != ::dirfd(d)) open.push_back(fd);
        }
        ::closedir(d);
    }
    for (int fd : open)
        if (fd != report_fd && std::find(keep.begin(), keep.end(), fd) == keep.end()) ::close(fd);
}

[[noreturn]] void run_child(int report_fd, const std::function<Result<std::string>()>& work, const std::vector<int>& keep) {
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_UNBLOCK, &all, nullptr);  // machined blocks some for its signalfd
    for (int s : {SIGTERM, SIGINT, SIGCHLD, SIGPIPE}) ::signal(s, SIG_DFL);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!keep.empty()) close_others(report_fd, keep);
    Result<std::string> r = std::string();
    try {
        r = work();
    } catch (const std::exception& e) {
        r = plain_error(e.what(), EIO);
    }
    std::string report = r.ok() ? "0 " + *r : fmt::format("{} {}", r.error().code > 0 ? r.error().code : EIO,
                                                          r.error().message);
    int capacity = ::fcntl(report_fd, F_GETPIPE_SZ);
    size_t max = capacity > 0 ? std::min(kMaxReport, static_cast<size_t>(capacity)) : 4096;
    bool ok = r.ok();
    if (report.size() > max) {
        // An answer cut short would be a wrong one: a success that does not fit is an error.
        if (ok) report = fmt::format("{} The answer is larger than {} bytes", EFBIG, max);
        ok = false;
        report.resize(std::min(report.size(), max));
    }
    (void)!::write(report_fd, report.data(), report.size());
    ::_exit(ok ? 0 : 1);
}

// What the child handed back, or a description of how it ended when it said nothing.
Result<std::string> child_outcome(int fd, const siginfo_t& how) {
    std::string text(kMaxReport, '\0');
    ssize_t n = ::read(fd, text.data(), kMaxReport);
    if (n > 0) {
        text.resize(static_cast<size_t>(n));
        size_t space = text.find(' ');
        int code = space == std::string::npos ? -1 : std::atoi(text.substr(0, space).c_str());
        std::string rest = space == std::string::npos ? text : text.substr(space + 1);
        if (code == 0 && how.si_code == CLD_EXITED && how.si_status == 0) return rest;
        if (code <= 0) code = EIO;  // an errno is what names the D-Bus error
        return plain_error(rest, code);
    }
    if (how.si_code == CLD_EXITED)
        return plain_error(fmt::format("the worker exited with status {}", how.si_status), EIO);
    // Workers bound their time with alarm(): SIGALRM is a worker that ran out of it.
    if (how.si_status == SIGALRM) return plain_error("the worker gave no answer within its time limit", ETIMEDOUT);
    return plain_error(fmt::format("the worker was killed by signal {}", how.si_status), EIO);
}

}  // namespace

Result<pid_t> run_forked(Children& children, std::function<Result<std::string>()> work, ForkedDone done,
                         std::vector<int> keep_fds) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return errno_error("Failed to create a pipe");
    auto read_end = std::make_shared<UniqueFd>(fds[0]);
    UniqueFd write_end(fds[1]);
    pid_t pid = ::fork();
    if (pid < 0) return errno_error("Failed to fork");
    if (pid == 0) {
        read_end->reset();
        run_child(write_end.get(), work, keep_fds);
    }
    write_end.reset();
    auto watched = children.watch(pid, [read_end, done = std::move(done)](const siginfo_t& how) {
        done(child_outcome(read_end->get(), how));
    });
    if (!watched.ok()) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return watched.error();
    }
    return pid;
}

int answer_when_done(Daemon& d, sd_bus_message* call, std::function<Result<std::string>()> work, ForkedAnswer answer) {
    MessagePtr kept(sd_bus_message_ref(call));
    auto owned = std::make_shared<MessagePtr>(std::move(kept));
    auto started = run_forked(d.children(), std::move(work), [owned, answer](const Result<std::string>& outcome) {
        sd_bus_message* m = owned->get();
        int r;
        try {
            r = answer(m, outcome);
        } catch (const BusError& e) {
            r = sd_bus_reply_method_errorf(m, e.name().c_str(), "%s", e.what());
        } catch (const std::exception& e) {
            r = sd_bus_reply_method_errorf(m, kFailed, "%s", e.what());
        }
        // The caller may have gone meanwhile: nothing to do about it.
        if (r < 0) spdlog::debug("Could not answer {}: {}", sd_bus_message_get_member(m), std::strerror(-r));
    });
    if (!started.ok()) throw_bus_error(kFailed, started.error().message);
    return 1;
}

int reply_when_done(Daemon& d, sd_bus_message* call, std::function<Status()> work,
                    const char* (*error_name)(int code)) {
    return answer_when_done(
        d, call,
        [work = std::move(work)]() -> Result<std::string> {
            BERTH_TRY(work());
            return std::string();
        },
        [error_name](sd_bus_message* m, const Result<std::string>& outcome) {
            if (outcome.ok()) return reply_empty(m);
            const char* name = error_name(outcome.error().code);
            return name ? sd_bus_reply_method_errorf(m, name, "%s", outcome.error().message.c_str())
                        : sd_bus_reply_method_errnof(m, outcome.error().code, "%s", outcome.error().message.c_str());
        });
}

const char* file_error_name(int code) { return code == EACCES || code == EPERM ? kFailed : nullptr; }

}  // namespace berth::machined
