// The status pipe of a command run by io.berth.Machine1.Execute/ExecutePTY: machined writes one line
// when the command ends ("exited N", "killed SIG", "dumped SIG") and closes it; EOF without a line means
// its fate is unknown (the machine was terminated, machined went away).
#pragma once

#include <string>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth::machinectl {

// The exit status machinectl shell ends with: N, or 128+SIG; an error naming the machine for a missing
// or malformed report.
Result<int> exit_code_of_status(const std::string& report, const std::string& machine);

class CommandStatusReader {
public:
    explicit CommandStatusReader(UniqueFd fd);
    int fd() const { return fd_.get(); }
    // Reads what is there without waiting; true once the pipe is at its end (the report is complete).
    bool read_available();
    // Waits for the end of the pipe; the exit status (exit_code_of_status).
    Result<int> wait_exit_code(const std::string& machine);

private:
    UniqueFd fd_;
    std::string text_;
    bool eof_ = false;
};

}  // namespace berth::machinectl
