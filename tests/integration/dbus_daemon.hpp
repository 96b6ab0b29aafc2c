// A dbus-daemon of the test's own, never the host's bus: a system bus whose socket lies in the test's
// directory, with the policy the test gives, no service activation; stopped when destroyed.
#pragma once

#include <string>

namespace berth::test {

class DbusDaemon {
public:
    // `policy`: the <policy> and <include> elements of its busconfig. Throws std::runtime_error.
    DbusDaemon(const std::string& dir, const std::string& policy);
    ~DbusDaemon();
    DbusDaemon(const DbusDaemon&) = delete;
    DbusDaemon& operator=(const DbusDaemon&) = delete;

    std::string address() const { return "unix:path=" + socket_; }
    std::string env() const { return "DBUS_SYSTEM_BUS_ADDRESS=" + address(); }

private:
    std::string socket_;
    int pidfd_ = -1;
};

}  // namespace berth::test
