// The machines to start when machined (or, under systemd, the host) starts: one empty file per name in
// `enabled_dir`. Under systemd the unit nspawn@NAME.service is also linked into machines.target.wants,
// as `systemctl enable` would, so that systemd starts it at boot.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"

namespace berth::machined {

class EnabledSet {
public:
    explicit EnabledSet(std::string dir) : dir_(std::move(dir)) {}

    std::vector<std::string> list() const;  // sorted
    bool contains(const std::string& name) const;
    Status enable(const std::string& name, bool under_systemd);
    Status disable(const std::string& name, bool under_systemd);

private:
    std::string dir_;
};

}  // namespace berth::machined
