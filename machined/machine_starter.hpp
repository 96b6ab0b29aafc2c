// Booting pool images as machines (StartMachine, enabled machines). Under systemd: StartUnit
// nspawn@NAME.service. Without it machined runs nspawn itself:
//   nspawn -q -b --register=yes --console=passive -D POOL/NAME -M NAME
// with its output going to machined's. nspawn reboots the guest in place on its own; should it exit
// with 133 ("restart me", systemd-nspawn's code) machined starts it again. A machined that is restarted
// no longer supervises the nspawns its predecessor started: they run on, registered, but are not
// restarted on 133.
#pragma once

#include <sys/types.h>

#include <systemd/sd-bus.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/machined_config.hpp"
#include "common/result.hpp"

namespace berth::machined {

bool systemd_is_running();  // /run/systemd/system exists: PID 1 is systemd

class Supervisor {
public:
    Supervisor(const MachinedConfig& config, sd_bus* bus);

    bool image_exists(const std::string& name) const;
    bool running(const std::string& name) const { return children_.count(name) > 0; }
    // ENOENT when the image is not in the pool.
    Status start(const std::string& name);

    // Signals the nspawn machined runs for `name` (false: it runs none).
    bool signal(const std::string& name, int sig);

    std::vector<int> fds() const;  // pidfds of the nspawns machined runs
    bool owns(int fd) const;
    // Reap; start again after exit status 133. Returns the machine's name and how nspawn ended when it
    // is not restarted (nullopt otherwise, or when `fd` had nothing to report).
    std::optional<std::pair<std::string, std::string>> on_exit(int fd);

private:
    Status spawn(const std::string& name);

    const MachinedConfig& config_;
    sd_bus* bus_;
    std::string nspawn_;
    struct Child {
        pid_t pid = 0;
        UniqueFd pidfd;
    };
    std::map<std::string, Child> children_;
};

}  // namespace berth::machined
