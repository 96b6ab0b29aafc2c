// Forwards between our terminal (or pipes) and the master of a pty whose slave is a session inside a
// machine: what `machinectl login` and `shell` run while connected. On a terminal: raw mode for the
// session (restored on every way out, SIGINT and SIGTERM included), the window size passed on at start and
// on SIGWINCH, and ^] pressed three times within a second leaves. As systemd's ptyfwd.
#pragma once

#include <termios.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth::machinectl {

struct PtyForwardOptions {
    int in_fd = 0;
    int out_fd = 1;
    // login: the master's hangup (EIO when the getty closes or vhangup()s the tty before it opens it
    // again) does not end the session; only ^]^]^], a signal, or stop_ignoring_hangup() then a hangup do.
    bool ignore_hangup = false;
    // shell: hangups before the first byte from the master are ignored (the command may not have opened
    // the tty yet); stop_ignoring_hangup() when the command is known to have ended.
    bool ignore_initial_hangup = false;
    // CLOCK_MONOTONIC in µs; tests replace it to try the one-second window of the escape.
    std::function<uint64_t()> clock;
};

enum class PtyForwardEnd {
    Hangup,  // the master ended (or our output did), all output written
    Escape,  // ^] three times within a second
    Signal,  // SIGINT, SIGTERM or SIGHUP
    Stopped, // request_stop()
};

struct PtyForwardResult {
    PtyForwardEnd end = PtyForwardEnd::Hangup;
    int signal = 0;        // for Signal
    char last_char = 0;    // the last byte written to our output ('\0' when none)
};

// An fd the loop watches beside the pty: the bus connection, the status pipe of a command.
struct PtyForwardWatch {
    int fd;
    // Also called once before the first wait (buffered bus messages). false: watch no more (EOF seen).
    std::function<bool()> on_ready;
};

class PtyForwarder {
public:
    PtyForwarder(int master, PtyForwardOptions options);
    ~PtyForwarder();
    PtyForwarder(const PtyForwarder&) = delete;
    PtyForwarder& operator=(const PtyForwarder&) = delete;

    void add_watch(PtyForwardWatch w) { watches_.push_back(std::move(w)); }
    // The session may end at the master's next hangup, or now if it is hung up already.
    void stop_ignoring_hangup();
    // Ends run() after this turn of the loop.
    void request_stop() { stop_requested_ = true; }

    // Sets up the terminal and signals, forwards until the end, restores both.
    Result<PtyForwardResult> run();

private:
    Status setup();
    void restore();
    bool ignoring_hangup() const;
    void read_stdin();
    void read_master();
    void write_master();
    void write_stdout();
    void pass_window_size();
    bool look_for_escape(const char* p, size_t n);
    Status shovel();

    int master_;
    PtyForwardOptions opt_;
    std::vector<PtyForwardWatch> watches_;
    UniqueFd epoll_, signal_fd_;
    sigset_t saved_mask_{};
    bool mask_saved_ = false;
    std::optional<struct termios> saved_in_, saved_out_;
    std::vector<std::pair<int, int>> saved_flags_;  // fd, its file status flags before O_NONBLOCK

    std::string in_buf_, out_buf_;  // towards the master, towards our output
    bool stdin_readable_ = true, stdin_hangup_ = false, stdout_writable_ = true, stdout_hangup_ = false;
    bool master_readable_ = true, master_writable_ = true, master_hangup_ = false;
    bool read_from_master_ = false, eof_sent_ = false, stop_requested_ = false;
    uint64_t bytes_moved_ = 0;  // read and written, both ways: progress of shovel()
    unsigned escape_count_ = 0;
    uint64_t escape_time_ = 0;
    char last_in_ = '\n';
    PtyForwardResult result_;
    bool done_ = false;
};

}  // namespace berth::machinectl
