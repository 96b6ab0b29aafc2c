// A method whose work runs in a child machined forks (a copy, a bind mount: they touch a machine's file
// system, which its guest controls and may make slow), answered when the child ends, so that machined
// keeps serving everyone else meanwhile.
#pragma once

#include <systemd/sd-bus.h>

#include <functional>
#include <vector>

#include "common/result.hpp"
#include "machined/daemon.hpp"

namespace berth::machined {

// Forks; the child runs `work` (with default signal handling and dispositions, SIGKILL if machined dies)
// and ends, handing its error (errno and message) back through a pipe. `call` is answered when the child
// ends: empty on success, else the error, named by `error_name(errno)`, or as sd-bus names the errno where
// that gives nullptr. Throws BusError when the child cannot be started. Returns what a handler returns for
// a call answered later.
int reply_when_done(Daemon& d, sd_bus_message* call, std::function<Status()> work,
                    const char* (*error_name)(int code));

// The most general form, for work that answers no call (an image's disk usage): forks a child running
// `work` as above, and runs `done` in machined with its outcome once the child has ended (reaped by the
// daemon's loop through `children`). Returns the child's pid (to signal it; the daemon reaps it), or an
// error when the child cannot be started.
// With `keep_fds`, the child closes every other descriptor first (but 0, 1, 2 and its own pipe to
// machined): a transfer's worker must not hold another's pipe open, or that one's reader would wait for
// this one to end before it saw the end of its data.
using ForkedDone = std::function<void(const Result<std::string>& outcome)>;
Result<pid_t> run_forked(Children& children, std::function<Result<std::string>()> work, ForkedDone done,
                         std::vector<int> keep_fds = {});

// The general form: the child's `work` returns a short text (at most some 60 kB) or an error, and `answer`,
// run in machined when the child has ended, answers `call` from it (a BusError it throws is sent as the
// error reply). Returns what a handler returns for a call answered later.
using ForkedAnswer = std::function<int(sd_bus_message* call, const Result<std::string>& outcome)>;
int answer_when_done(Daemon& d, sd_bus_message* call, std::function<Result<std::string>()> work, ForkedAnswer answer);

// The D-Bus error of a failed copy or bind mount: as sd-bus names the errno (as systemd 252's machined
// answers: EEXIST FileExists, ENOENT FileNotFound, EINVAL InvalidArgs, ENOTDIR System.Error.ENOTDIR, ...),
// but Failed for EACCES and EPERM: the caller was allowed (checked before), the worker met a refusal, and
// systemd's clients print AccessDenied as a bare "Access denied", without the message saying which path
// refused what.
const char* file_error_name(int code);

}  // namespace berth::machined
