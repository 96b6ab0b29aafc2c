// The tiny init of --as-pid2: PID 1 reaps zombies, forwards signals to PID 2, and exits with its status.
#pragma once

#include <sys/types.h>

namespace berth::nspawn {

// Call in PID 1 after forking `child`. Only fds 0-2 should be open.
[[noreturn]] void run_stub_init(pid_t child);

// Signals the stub forwards (installed as handlers before the fork, so nothing is lost in between).
void prepare_stub_signals();

}  // namespace berth::nspawn
