// The files systemd's own clients find a machine by: DIR/NAME, env-style, exactly as systemd-machined
// 252 writes them (sd-bus's "machine=" addresses, `systemctl -M`, `systemd-run -M`, `busctl -M`, ... read
// LEADER and CLASS there and enter the leader's namespaces), and DIR/unit:UNIT -> NAME for a machine that
// runs in a systemd unit. DIR is /run/systemd/machines unless machined.toml says otherwise (machines_dir).
//
// machined writes them only while it owns org.freedesktop.machine1 (enable() is called once it does):
// a machined that lost the name to systemd-machined must not overwrite that one's files. A file is
// written when its machine registers and removed when it goes, next to machined's own state; at start,
// whatever is there for machines no longer registered is removed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "machined/machine.hpp"

namespace berth::machined {

class SystemdMachineFiles {
public:
    explicit SystemdMachineFiles(std::string dir) : dir_(std::move(dir)) {}

    // Creates DIR, writes the files of `registered` (.host skipped) and removes every other machine's.
    Status enable(const std::vector<Machine*>& registered);
    // Atomically (temporary + rename); a failure is a warning: the -M tools then cannot find the machine.
    void write(const Machine& m) const;
    void remove(const Machine& m) const;

    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    bool enabled_ = false;
};

// The file's text, as systemd-machined 252's machine_save() lays it out.
std::string systemd_machine_file(const Machine& m);
// systemd's cescape(): \a \b \f \n \r \t \v \\ \" \' and every other byte below 0x20 or from 0x7f on as
// a three-digit octal escape.
std::string systemd_cescape(std::string_view s);

}  // namespace berth::machined
