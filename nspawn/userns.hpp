// User namespaces, on by default: the machine's root is an unprivileged UID range on the host.
// pick: a free 65536-id range aligned to 64K, locked under /run/berth/ for the machine's life.
// Ownership of image files by idmapped mounts (nothing on disk changes, start cost independent of image
// size); a one-time recorded chown only where the filesystem cannot idmap.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "cgroup.hpp"
#include "fd.hpp"
#include "options.hpp"

namespace berth::nspawn {

enum class UserNsMode { Off, Pick, Identity, Fixed };
enum class Ownership { Auto, Map, Chown, Off };

struct UserNsPlan {
    UserNsMode mode = UserNsMode::Pick;
    uid_t base = 0;          // Fixed: given; Identity: 0
    uint32_t range = 0x10000;
    Ownership ownership = Ownership::Auto;
    bool enabled() const { return mode != UserNsMode::Off; }
};

Result<UserNsPlan> parse_userns(const Options& o);

}  // namespace berth::nspawn
