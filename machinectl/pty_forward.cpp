#include "machinectl/pty_forward.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <tuple>

namespace berth::machinectl {

namespace {

constexpr size_t kBufMax = 4096;              // per direction, as systemd's LINE_MAX buffers
constexpr uint64_t kEscapeWindowUsec = 1000000;
constexpr char kEscapeChar = 0x1d;            // ^]

// epoll data: which fd an event is for; watches are kWatch + their index.
enum : uint64_t { kMaster, kIn, kOut, kSignal, kWatch };

uint64_t monotonic_usec() {
    struct timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

bool same_tty(int a, int b) {
    struct stat sa {}, sb {};
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_rdev == sb.st_rdev;
}

}  // namespace

PtyForwarder::PtyForwarder(int master, PtyForwardOptions options) : master_(master), opt_(std::move(options)) {
    if (!opt_.clock) opt_.clock = monotonic_usec;
}

PtyForwarder::~PtyForwarder() { restore(); }

bool PtyForwarder::ignoring_hangup() const {
    return opt_.ignore_hangup || (opt_.ignore_initial_hangup && !read_from_master_);
}

void PtyForwarder::stop_ignoring_hangup() {
    opt_.ignore_hangup = false;
    opt_.ignore_initial_hangup = false;
    // A hangup seen and ignored before raises no new edge: look again.
    if (!master_hangup_) master_readable_ = master_writable_ = true;
}

Status PtyForwarder::setup() {
    // Signals first, so that nothing between here and the raw mode can kill us with the terminal raw.
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGWINCH, SIGINT, SIGTERM, SIGHUP}) sigaddset(&mask, s);
    if (sigprocmask(SIG_BLOCK, &mask, &saved_mask_) < 0) return errno_error("Failed to block signals");
    mask_saved_ = true;
    signal_fd_.reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd_) return errno_error("Failed to create signalfd");
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) return errno_error("Failed to create epoll");

    auto add = [&](int fd, uint32_t events, uint64_t key) {
        struct epoll_event ev {};
        ev.events = events;
        ev.data.u64 = key;
        return epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
    };
    // Our stdin/stdout may share their open file descriptions with the shell that started us, which must
    // get them back as they were: their flags are restored.
    auto set_nonblock = [&](int fd) {
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || (flags & O_NONBLOCK)) return;
        saved_flags_.emplace_back(fd, flags);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    };
    set_nonblock(master_);
    // Edge-triggered as systemd's: a master whose slave is closed reports a hangup for as long as it stays
    // closed, and the login session ignores that until the getty opens the tty again.
    if (add(master_, EPOLLIN | EPOLLOUT | EPOLLET, kMaster) < 0) return errno_error("Failed to watch the pty");
    if (add(signal_fd_.get(), EPOLLIN, kSignal) < 0) return errno_error("Failed to watch signals");
    // Regular files and /dev/null cannot be watched (EPERM): always ready, read or written until done.
    // One fd for both directions (a terminal opened once) is watched once, for both.
    bool one_fd = opt_.in_fd == opt_.out_fd;
    set_nonblock(opt_.in_fd);
    if (add(opt_.in_fd, EPOLLIN | EPOLLET | (one_fd ? uint32_t{EPOLLOUT} : 0u), kIn) < 0 && errno != EPERM)
        return errno_error("Failed to watch stdin");
    set_nonblock(opt_.out_fd);
    if (!one_fd && add(opt_.out_fd, EPOLLOUT | EPOLLET, kOut) < 0 && errno != EPERM)
        return errno_error("Failed to watch stdout");
    for (size_t i = 0; i < watches_.size(); i++)
        if (add(watches_[i].fd, EPOLLIN, kWatch + i) < 0) return errno_error("Failed to watch the bus");

    // As systemd's ptyfwd: stdin raw in what it reads (input flags, line discipline), stdout raw in what
    // it writes (no output processing): the session's own pty already turned its \n into \r\n, and a
    // full-screen program inside that writes a bare \n means just that. One terminal for both is fully raw.
    struct termios t {};
    bool one_tty = isatty(opt_.in_fd) && isatty(opt_.out_fd) && same_tty(opt_.in_fd, opt_.out_fd);
    if (isatty(opt_.in_fd) && tcgetattr(opt_.in_fd, &t) == 0) {
        saved_in_ = t;
        struct termios raw = t;
        cfmakeraw(&raw);
        if (!one_tty) raw.c_oflag = t.c_oflag;  // another terminal's output is stdout's business
        if (tcsetattr(opt_.in_fd, TCSANOW, &raw) < 0) return errno_error("Failed to set the terminal to raw mode");
    }
    if (isatty(opt_.out_fd) && !(saved_in_ && one_tty) && tcgetattr(opt_.out_fd, &t) == 0) {
        saved_out_ = t;
        struct termios raw = t;
        cfmakeraw(&raw);
        raw.c_iflag = t.c_iflag;
        raw.c_lflag = t.c_lflag;
        tcsetattr(opt_.out_fd, TCSANOW, &raw);
    }
    pass_window_size();
    return {};
}

void PtyForwarder::restore() {
    if (saved_in_) tcsetattr(opt_.in_fd, TCSANOW, &*saved_in_);
    if (saved_out_) tcsetattr(opt_.out_fd, TCSANOW, &*saved_out_);
    saved_in_.reset();
    saved_out_.reset();
    for (auto& [fd, flags] : saved_flags_) fcntl(fd, F_SETFL, flags);
    saved_flags_.clear();
    signal_fd_.reset();
    if (mask_saved_) sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
    mask_saved_ = false;
}

void PtyForwarder::pass_window_size() {
    struct winsize ws {};
    if (ioctl(opt_.out_fd, TIOCGWINSZ, &ws) == 0 || ioctl(opt_.in_fd, TIOCGWINSZ, &ws) == 0)
        ioctl(master_, TIOCSWINSZ, &ws);
}

bool PtyForwarder::look_for_escape(const char* p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (p[i] != kEscapeChar) {
            escape_count_ = 0;
            continue;
        }
        uint64_t now = opt_.clock();
        if (escape_count_ == 0 || now > escape_time_ + kEscapeWindowUsec) {
            escape_time_ = now;
            escape_count_ = 1;
        } else if (++escape_count_ >= 3) {
            return true;
        }
    }
    return false;
}

void PtyForwarder::read_stdin() {
    char buf[kBufMax];
    ssize_t k = read(opt_.in_fd, buf, kBufMax - in_buf_.size());
    if (k < 0) {
        if (errno == EAGAIN || errno == EINTR) stdin_readable_ = false;
        else stdin_hangup_ = true;  // our terminal is gone: nothing more to send
        return;
    }
    if (k == 0) {
        stdin_hangup_ = true;
        return;
    }
    if (look_for_escape(buf, static_cast<size_t>(k))) {
        result_.end = PtyForwardEnd::Escape;
        done_ = true;
        return;
    }
    in_buf_.append(buf, static_cast<size_t>(k));
    bytes_moved_ += static_cast<uint64_t>(k);
    last_in_ = buf[k - 1];
}

void PtyForwarder::write_master() {
    ssize_t k = write(master_, in_buf_.data(), in_buf_.size());
    if (k < 0) {
        if (errno == EAGAIN || errno == EINTR || (errno == EIO && ignoring_hangup())) {
            master_writable_ = false;
        } else {
            master_hangup_ = true;
            master_readable_ = master_writable_ = false;
        }
        return;
    }
    in_buf_.erase(0, static_cast<size_t>(k));
    bytes_moved_ += static_cast<uint64_t>(k);
}

void PtyForwarder::read_master() {
    char buf[kBufMax];
    ssize_t k = read(master_, buf, kBufMax - out_buf_.size());
    if (k < 0 && (errno == EAGAIN || errno == EINTR || (errno == EIO && ignoring_hangup()))) {
        master_readable_ = false;
        return;
    }
    if (k <= 0) {
        master_hangup_ = true;
        master_readable_ = master_writable_ = false;
        return;
    }
    read_from_master_ = true;
    out_buf_.append(buf, static_cast<size_t>(k));
    bytes_moved_ += static_cast<uint64_t>(k);
}

void PtyForwarder::write_stdout() {
    ssize_t k = write(opt_.out_fd, out_buf_.data(), out_buf_.size());
    if (k < 0) {
        if (errno == EAGAIN || errno == EINTR) stdout_writable_ = false;
        else stdout_hangup_ = true;
        return;
    }
    result_.last_char = out_buf_[static_cast<size_t>(k) - 1];
    out_buf_.erase(0, static_cast<size_t>(k));
    bytes_moved_ += static_cast<uint64_t>(k);
}

Status PtyForwarder::shovel() {
    // Until nothing changes: bytes read or written, or a side found ended (sizes alone would miss a read
    // and a write of the same length).
    auto snapshot = [&] {
        return std::tuple{bytes_moved_, stdin_hangup_, master_hangup_, stdout_hangup_, eof_sent_, stdin_readable_,
                          master_readable_, master_writable_, stdout_writable_};
    };
    for (auto before = snapshot();; before = snapshot()) {
        if (stdin_readable_ && !stdin_hangup_ && in_buf_.size() < kBufMax) read_stdin();
        if (done_) break;
        // Input that ends without a terminal: the command gets an end of file, as from ^D typed at it.
        if (stdin_hangup_ && !saved_in_ && in_buf_.empty() && !eof_sent_ && !master_hangup_) {
            struct termios t {};
            char veof = tcgetattr(master_, &t) == 0 ? static_cast<char>(t.c_cc[VEOF]) : '\x04';
            // A pending partial line takes one VEOF to be read, the end of file another.
            in_buf_.assign(last_in_ == '\n' ? 1 : 2, veof);
            eof_sent_ = true;
        }
        if (master_writable_ && !master_hangup_ && !in_buf_.empty()) write_master();
        if (master_readable_ && !master_hangup_ && out_buf_.size() < kBufMax) read_master();
        if (stdout_writable_ && !stdout_hangup_ && !out_buf_.empty()) write_stdout();
        if (snapshot() == before) break;
    }
    if (!done_ && (stdout_hangup_ || (master_hangup_ && out_buf_.empty()))) {
        result_.end = PtyForwardEnd::Hangup;
        done_ = true;
    }
    return {};
}

Result<PtyForwardResult> PtyForwarder::run() {
    auto status = setup();
    if (!status) {
        restore();
        return status.error();
    }
    for (size_t i = 0; i < watches_.size(); i++)
        if (!watches_[i].on_ready()) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, watches_[i].fd, nullptr);
    while (!done_ && !stop_requested_) {
        auto moved = shovel();
        if (!moved) {
            restore();
            return moved.error();
        }
        if (done_ || stop_requested_) break;
        struct epoll_event events[8];
        int n = epoll_wait(epoll_.get(), events, 8, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            restore();
            return sys_error(e, "Failed to wait for the pty");
        }
        for (int i = 0; i < n && !done_; i++) {
            uint64_t key = events[i].data.u64;
            uint32_t ev = events[i].events;
            if (key == kMaster) {
                if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) master_readable_ = true;
                if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) master_writable_ = true;
            } else if (key == kIn) {
                if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) stdin_readable_ = true;
                if ((ev & EPOLLOUT) && opt_.in_fd == opt_.out_fd) stdout_writable_ = true;
            } else if (key == kOut) {
                stdout_writable_ = true;
            } else if (key == kSignal) {
                struct signalfd_siginfo si {};
                while (read(signal_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                    if (si.ssi_signo == SIGWINCH) {
                        pass_window_size();
                    } else {
                        result_.end = PtyForwardEnd::Signal;
                        result_.signal = static_cast<int>(si.ssi_signo);
                        done_ = true;
                    }
                }
            } else {
                auto& w = watches_[key - kWatch];
                if (!w.on_ready()) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, w.fd, nullptr);
            }
        }
    }
    if (!done_ && stop_requested_) result_.end = PtyForwardEnd::Stopped;
    restore();
    return result_;
}

}  // namespace berth::machinectl
