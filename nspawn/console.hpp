// The supervisor's end of the console: forwards between our terminal and the machine's pty master.
// interactive: both ways, our terminal in raw mode, window size passed on, ^]^]^] within 1 s kills the
// machine; read-only: machine output only; passive: output read and dropped (so the guest never blocks).
#pragma once

#include <termios.h>

#include <string>

#include "common/fd.hpp"
#include "nspawn/plan.hpp"

namespace berth::nspawn {

class Console {
public:
    Console(ConsoleMode mode, UniqueFd master);
    ~Console();
    Console(const Console&) = delete;
    Console& operator=(const Console&) = delete;

    int master_fd() const { return master_.get(); }
    bool reads_stdin() const { return mode_ == ConsoleMode::Interactive && !stdin_eof_; }
    bool has_pending_input() const { return !pending_.empty(); }

    void on_master_readable();
    // Returns true when the user asked to kill the machine.
    bool on_stdin_readable();
    void on_master_writable();
    void on_window_change();
    void restore_terminal();

private:
    ConsoleMode mode_;
    UniqueFd master_;
    UniqueFd slave_;  // held open so the master never sees a hangup while the guest reopens its console
    std::string pending_;
    bool stdin_eof_ = false;
    bool raw_ = false;
    termios saved_{};
    int escape_count_ = 0;
    long escape_start_ms_ = 0;
};

}  // namespace berth::nspawn
