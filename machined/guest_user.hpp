// Who a command runs as inside a machine, and what it runs: read from the guest's own /etc/passwd and
// /etc/group through the machine's root (never the host's NSS: the host's users mean nothing inside), and
// the command's path found in the guest's tree. Everything here is what the guest controls: read with
// read_untrusted_file (bounded, regular files only, resolved inside the root).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace berth::machined {

struct GuestUser {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary, as initgroups() would set them: the primary and /etc/group's
    std::string home = "/";
    std::string shell = "/bin/sh";
};

// `user` "" is root. A name or a number; ENOENT when the guest has no such user (a number without a
// passwd entry too: a shell needs a home and a shell). `machine` names it in messages.
Result<GuestUser> resolve_guest_user(int rootfd, const std::string& user, const std::string& machine);

// The parsers on the files' text (unit tests). Malformed lines are skipped.
Result<GuestUser> find_passwd_entry(std::string_view passwd, const std::string& user);
std::vector<gid_t> supplementary_groups(std::string_view group, const std::string& user, gid_t primary);

struct GuestCommand {
    std::string path;               // absolute, inside the machine
    std::vector<std::string> argv;  // argv[0] "-sh" for a login shell
    std::vector<std::string> env;   // K=V
};

// io.berth.Machine1's rules (docs/dbus-api.md): `path` "" is the user's shell as a login shell (`args`
// ignored); else absolute, or a bare name looked up in PATH inside the machine (EINVAL: neither; ENOENT:
// not found); `args` empty is [path]. `environment` entries ("K=V", else EINVAL) add to or override
// TERM (`term`), HOME, USER, LOGNAME, SHELL, PATH.
Result<GuestCommand> make_guest_command(int rootfd, const GuestUser& user, const std::string& path,
                                        const std::vector<std::string>& args,
                                        const std::vector<std::string>& environment, const std::string& term,
                                        const std::string& machine);

// "K=V" with a non-empty K of no '=' and no NUL: what systemd calls a valid assignment.
bool valid_environment(const std::vector<std::string>& environment);

inline constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace berth::machined
