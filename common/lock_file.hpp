// Lock files under /run/berth/locks (common/paths.hpp): one per machine name, one per image inode. nspawn
// holds them for a machine's life (nspawn/lock.hpp), machined takes an image's while it changes the image
// (images/operations.hpp).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/fd.hpp"
#include "common/result.hpp"

namespace berth {

// flock() `path` (created if missing), robust against a concurrent unlink by its previous holder or by
// stale-lock collection: the lock held is always on the file now at `path`. EWOULDBLOCK if taken.
Result<UniqueFd> lock_file(const std::string& path, bool exclusive);

// /run/berth/locks/inode-DEV:INO: the lock of the image whose top directory (or file) is that inode.
std::string image_lock_path(dev_t dev, ino_t ino);

// Creates /run/berth/locks and takes `path` in it, trying again when the last holder of another lock
// removes the directory meanwhile (as a holder does when it lets go of the last lock).
Result<UniqueFd> lock_in_lock_dir(const std::string& path, bool exclusive);

// Lets go of a lock taken by lock_in_lock_dir: its file is removed when nobody else holds it, and so is
// the directory with its last file.
void release_lock(const std::string& path, UniqueFd fd);

}  // namespace berth
