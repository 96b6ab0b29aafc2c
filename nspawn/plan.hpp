// The plan: command line + settings turned into one validated, immutable description of the machine.
// Everything that can be wrong with the input is found while building it; the child only executes it.
#pragma once

#include <csignal>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/id128.hpp"
#include "common/resources.hpp"
#include "nspawn/image_users.hpp"
#include "nspawn/net.hpp"
#include "nspawn/seccomp.hpp"
#include "nspawn/userns.hpp"

namespace berth::nspawn {

enum class ConsoleMode { Interactive, ReadOnly, Passive, Pipe };
enum class RegisterMode { No, Yes, Auto };
enum class SettingsMode { No, Yes, Trusted };

struct BindMount {
    std::string source;       // absolute host path
    std::string destination;  // absolute path inside the machine
    bool read_only = false;
    bool recursive = true;    // "rbind" (default) or "norbind"
    bool idmap = false;       // "idmap": the machine's root owns what host root owns
};

struct TmpfsMount {
    std::string destination;
    std::string options;  // tmpfs's own (mode, size, nr_inodes, uid, gid), checked; default "mode=0755"
    unsigned attrs = 0;   // MOUNT_ATTR_NOEXEC, MOUNT_ATTR_RDONLY from "noexec", "ro" (always nosuid, nodev)
};

struct OverlayMount {
    std::vector<std::string> lowers;  // host paths, lowest first
    std::string upper;                // host path; empty: --overlay-ro, or a temporary directory if !read_only
    std::string destination;
    bool read_only = false;
};

struct Plan {
    std::string directory;  // canonical absolute path of the image
    std::string machine;    // valid machine name
    std::string pool;       // the pool the image was taken from (-M without -D), else ""
    bool boot = false;
    bool as_pid2 = false;
    std::vector<std::string> argv;  // init + arguments with --boot, else the command (argv[0] absolute or in PATH)
    std::string chdir;              // working directory inside the machine, "" = "/" or the user's home
    std::vector<std::string> environment;  // "VAR=VALUE" from --setenv and settings, applied last
    UserInfo user;                         // resolved in the image
    std::string hostname;                  // defaults to the machine name
    Id128 uuid{};                          // machine id: image's, else --uuid, else random
    bool uuid_from_image = false;
    int kill_signal = SIGKILL;
    ConsoleMode console = ConsoleMode::Pipe;
    bool quiet = false;
    bool read_only = false;
    bool ephemeral = false;
    bool private_network = false;
    RegisterMode register_mode = RegisterMode::Auto;
    bool keep_unit = false;
    bool notify_ready = false;
    std::vector<BindMount> binds;
    std::vector<TmpfsMount> tmpfs;
    std::vector<OverlayMount> overlays;
    std::vector<std::string> settings_files;  // which settings files were applied, for messages
    UserNsPlan userns;
    Privileges privileges;
    Resources resources;
    NetworkPlan network;
};

// A plan while make_plan builds it: what the options' parsers (options.cpp) fill in, and what they collect
// for the checks that need several options or the image.
struct PlanDraft {
    Plan plan;
    std::string user = "root";                 // --user, looked up in the image
    std::optional<Id128> uuid;                 // --uuid, if the image has none
    std::vector<std::string> command;          // COMMAND [ARGS], or init's arguments with --boot
    uint64_t capabilities_added = 0, capabilities_dropped = 0;
    std::set<std::string, std::less<>> given;  // the options said, by long name
    bool has(std::string_view name) const { return given.count(name) > 0; }
};

class Options;

// Read settings, validate everything, look up what must exist in the image. Creates nothing.
// `warnings` collects non-fatal remarks (ignored untrusted keys, ...).
Result<Plan> make_plan(Options options, std::vector<std::string>& warnings);

// Pieces of make_plan, exposed for tests.
Result<BindMount> parse_bind(const std::string& spec, bool read_only);
Result<TmpfsMount> parse_tmpfs(const std::string& spec);
Result<OverlayMount> parse_overlay(const std::string& spec, bool read_only);
Result<ConsoleMode> parse_console(const std::string& text);
// Values of the options that make_plan reads for itself: environment assignments, host names.
Status check_env(const std::string& kv);
Status check_hostname(const std::string& h);

}  // namespace berth::nspawn
