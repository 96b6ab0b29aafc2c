// The image pool's own permissions, which nspawn (starting a pool image) and machined (starting one
// itself) both enforce.
#pragma once

#include <string>

#include "common/result.hpp"

namespace berth {

// Host root owns the files of a pool image (idmapped mounts change nothing on disk), its set-user-ID
// programs included: a pool other users can enter would let them run those as root. Makes `pool` root's
// alone (0700), with a warning, unless it is already; "" does nothing.
Status secure_pool(const std::string& pool);

}  // namespace berth
