// How much disk a directory image takes: a walk of the whole tree, so slow on big images. machined runs
// it in a forked worker (machined/image_usage.hpp), never in its own loop.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace berth::images {

// The blocks allocated to everything below `dir` (st_blocks: sparse files count what they hold), each
// inode once however many hard links it has, without following symbolic links or crossing into other
// filesystems mounted below it.
Result<uint64_t> disk_usage(const std::string& dir);

}  // namespace berth::images
