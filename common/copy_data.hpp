// The data of one regular file copied to another (common/copy_tree.cpp's regular files): shared extents
// where the filesystem can (FICLONE: btrfs, XFS), else copy_file_range, else read and write.
#pragma once

#include <string>

#include "common/result.hpp"

namespace berth {

// The whole of `in` to `out` (empty, just made). Without `keep_holes` as read, to its end (a /proc file's
// size says nothing); with it its data segments alone (SEEK_DATA/SEEK_HOLE), the size set last, and a
// file that shrank meanwhile copied as far as it went. `src`, `dst`: the paths errors name.
Status copy_bytes(int in, int out, bool keep_holes, const std::string& src, const std::string& dst);

}  // namespace berth
