// The guest's own service manager, driven on the guest's system bus as systemd-machined 252 drives it:
// a getty for a login (StartUnit container-getty@N.service), a transient container-shell@N.service for a
// shell. The connection is a socket connected inside the machine (guest_fd.hpp); every exchange on it,
// the handshake included, ends within kGuestBusTimeoutMs. It runs in a worker machined forks
// (shell_methods.cpp), so a guest whose bus is slow or silent holds up only the call that asked.
#pragma once

#include <string>
#include <vector>

#include "common/fd.hpp"

namespace berth::machined {

inline constexpr int kGuestBusTimeoutMs = 5000;

struct GuestOutcome {
    enum class Kind {
        Done,
        NoSystemd,  // nothing reached the guest's systemd (no bus yet, no systemd on it): machined may go in itself
        Failed,     // the guest refused: its error, passed on as systemd-machined does
    } kind = Kind::Done;
    std::string error_name, message;
};

// A GuestOutcome as a forked worker hands it back (forked_call.hpp), and read back.
std::string encode_guest_outcome(const GuestOutcome& out);
GuestOutcome decode_guest_outcome(const std::string& text);

GuestOutcome start_guest_getty(UniqueFd bus_socket, const std::string& pty_path, const std::string& machine);

struct ShellUnit {
    std::string pty_path;  // "/dev/pts/N"
    int terminal = -1;     // the pty's peer, sent as the unit's standard streams
    std::string user;      // never empty: "root" when none was given
    std::string path;      // absolute
    std::vector<std::string> args, environment;
};
GuestOutcome start_guest_shell(UniqueFd bus_socket, const ShellUnit& unit, const std::string& machine);

// systemd 252's command for an empty path: the user's shell from the guest's own user database (getent,
// so NSS inside the guest), as a login shell, /bin/sh when it has none.
ShellUnit default_shell_command(ShellUnit unit);

}  // namespace berth::machined
