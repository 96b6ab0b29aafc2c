#include "nspawn/console.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.hpp"

namespace berth::nspawn {

namespace {
void write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;  // our output is gone (closed pipe): keep draining the guest anyway
        }
        p += w;
        n -= w;
    }
}
}  // namespace

Console::Console(ConsoleMode mode, UniqueFd master) : mode_(mode), master_(std::move(master)) {
    slave_.reset(::ioctl(master_.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (mode_ == ConsoleMode::Interactive && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
        termios raw = saved_;
        ::cfmakeraw(&raw);
        raw.c_lflag &= ~ECHO;
        if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) raw_ = true;
    }
    on_window_change();
}

Console::~Console() { restore_terminal(); }

void Console::restore_terminal() {
    if (raw_) {
        ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
        raw_ = false;
    }
}

void Console::on_window_change() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 || ::ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        ::ioctl(master_.get(), TIOCSWINSZ, &ws);
}

void Console::on_master_readable() {
    char buf[16384];
    for (int i = 0; i < 8; i++) {
        ssize_t n = ::read(master_.get(), buf, sizeof buf);
        if (n <= 0) return;
        if (mode_ != ConsoleMode::Passive) write_all(STDOUT_FILENO, buf, n);
    }
}

bool Console::on_stdin_readable() {
    char buf[4096];
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN)) stdin_eof_ = true;
        return false;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != 0x1d) {  // ^]
            escape_count_ = 0;
            continue;
        }
        long now = now_ms();
        if (escape_count_ == 0 || now - escape_start_ms_ > 1000) {
            escape_count_ = 0;
            escape_start_ms_ = now;
        }
        if (++escape_count_ >= 3) return true;
    }
    pending_.append(buf, n);
    on_master_writable();
    return false;
}

void Console::on_master_writable() {
    while (!pending_.empty()) {
        ssize_t w = ::write(master_.get(), pending_.data(), pending_.size());
        if (w <= 0) return;  // EAGAIN: the supervisor waits for EPOLLOUT
        pending_.erase(0, w);
    }
}

}  // namespace berth::nspawn
