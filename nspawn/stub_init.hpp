// The tiny init of --as-pid2: PID 1 reaps zombies, forwards signals to PID 2, and exits with its status.
#pragma once

#include <sys/types.h>

namespace berth::nspawn {

// Call in PID 1 after forking `child`. Only fds 0-2 should be open.
[[noreturn]] void run_stub_init(pid_t child);

// Every signal back to its default action (what nspawn inherited ignored, SIGINT under `&` or nohup, must
// not reach the machine's processes: systemd's reboot is SIGINT), none blocked. Before every exec.
void reset_signal_dispositions();

// Signals the stub forwards (installed as handlers before the fork, so nothing is lost in between).
void install_stub_signals();

}  // namespace berth::nspawn
