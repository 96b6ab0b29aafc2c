// Calls that pass or return descriptors (busctl cannot): machined's ways into a machine, through sdbus-c++
// on the test's private bus, and the terminal a test then types into.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace berth::test {

std::string machine_object(const std::string& name);  // /org/freedesktop/machine1/machine/<escaped>

// A pty master a test got from machined: what the program inside writes, and keys typed to it.
class Terminal {
public:
    Terminal() = default;
    Terminal(sdbus::UnixFd master, std::string path);
    const std::string& path() const { return path_; }
    int fd() const { return master_.get(); }
    void type(const std::string& keys) const;
    bool wait_for(const std::string& needle, Millis timeout = 30s);  // in everything read so far
    // `needle` in what was read from `from` on; a hangup (EIO: no one has the terminal open, as between
    // two logins) is waited out, as machinectl login waits it out.
    bool wait_for_from(const std::string& needle, size_t from, Millis timeout = 30s);
    // Reads until the program inside has closed its side (EIO); what it wrote.
    std::string read_to_end(Millis timeout = 30s);
    const std::string& output() const { return output_; }

private:
    bool read_some(Millis wait);  // false at the end
    sdbus::UnixFd master_;
    std::string path_, output_;
};

// The status pipe's one line ("exited 0"), "" at EOF without one.
std::string read_status(const sdbus::UnixFd& status, Millis timeout = 60s);

struct Executed {
    std::string error;  // the D-Bus error name, "" when the call succeeded
    std::string message;  // the error's message
    std::string out, err, status;
};
// io.berth.Machine1.Execute, `input` on its stdin; waits for the status line.
Executed execute(const std::string& machine, const std::string& user, const std::string& path,
                 const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                 const std::string& input = "");

struct Opened {
    std::string error;  // "" when the call succeeded
    std::string message;
    Terminal terminal;
    sdbus::UnixFd status;  // ExecutePTY only
};
Opened execute_pty(const std::string& machine, const std::string& user, const std::string& path,
                   const std::vector<std::string>& args, const std::vector<std::string>& env = {});
Opened open_pty(const std::string& machine);    // Manager.OpenMachinePTY
Opened open_login(const std::string& machine);  // Manager.OpenMachineLogin
Opened open_shell(const std::string& machine, const std::string& user, const std::string& path,
                  const std::vector<std::string>& args, const std::vector<std::string>& env = {});

// What a command run inside sees of its confinement against the guest's PID 1: confinement_script()
// prints, for `sh -c` inside, a line "FIELD OURS PID1S" for each /proc/PID/status field and each namespace,
// then "cgroups OURS / PID1S"; parse_confinement() reads that back.
std::string confinement_script(const std::vector<std::string>& status_fields, const std::vector<std::string>& namespaces);
struct Confinement {
    struct Field {
        std::string name, ours, theirs;
    };
    std::vector<Field> fields;
    std::string own_cgroups, leader_cgroups;  // /proc/self/cgroup and /proc/1/cgroup, lines joined by spaces
    int lines = 0;
};
Confinement parse_confinement(const std::string& out);

}  // namespace berth::test
