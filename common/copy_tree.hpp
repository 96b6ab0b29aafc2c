// Copying a file tree between two directories one side of which a machine controls (machined's CopyTo and
// CopyFrom). Every step is relative to a directory already open and never follows a symbolic link
// (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), and each object is checked after opening to be the one looked at: a
// guest that swaps a directory for a symlink while the copy runs makes it fail, never reach outside.
// Semantics as systemd 252's copy_tree_at() with COPY_MERGE (machined's copy): docs/machined.md, "Copying".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "common/result.hpp"

namespace berth {

struct CopyTreeOptions {
    // An existing non-directory at a destination is removed and copied again (CopyTo/FromWithFlags' bit 0);
    // without it, the top destination existing is EEXIST, and inside a directory being merged the existing
    // entry is kept.
    bool replace = false;
    // Setuid and setgid bits of everything but directories are dropped, and file capabilities (copies out
    // of a machine).
    bool drop_setid = false;
    // The owner of each copy (and the ids in its ACLs) from the source's (kernel) ids; identity when empty.
    // A uid map given drops file capabilities: leave it empty for the identity.
    std::function<uint32_t(uint32_t)> map_uid, map_gid;
    // Directories below the top that are another mount (a bind mount, a /proc, in an image) are copied as
    // empty directories (owner, mode, times), never entered: the copy is of one filesystem tree (clones).
    bool one_mount = false;
    // Holes of regular files stay holes (SEEK_DATA/SEEK_HOLE): clones and imports of images. Without it
    // every byte is written, as systemd's copies do (a preallocated file, a swap file, stays one).
    bool keep_holes = false;
    // How paths are shown in errors: the source's and the destination's top path as the caller knows them.
    std::string shown_source, shown_destination;
};

// Copies `from` (a name in the directory `src_dir`) to `to` (a name in `dst_dir`). A directory is copied
// recursively and merged into an existing directory; symlinks are copied as symlinks; FIFOs, sockets and
// device nodes are made anew; mode, owner (through the maps) and atime/mtime are kept. A regular file's
// data shares extents with the original where the filesystem can (FICLONE: btrfs, XFS reflinks), else it
// is copied (copy_file_range): as read, to its end; with keep_holes its data segments alone.
// Extended attributes of regular files, of directories this copy creates and of symlinks (through O_PATH
// descriptors; the kernel takes no user.* there) are copied best effort: every one the process can read,
// those the destination refuses skipped; but security.capability (file capabilities) is dropped when
// drop_setid is set or a uid map is given (a map given counts as not the identity). POSIX ACLs
// (system.posix_acl_access/default) have their user and group ids mapped when a map is given, and are not
// copied if that makes two entries one (an access ACL not copied leaves the owning group its own
// permissions, not the mask's).
// Hard links within the copied tree are kept: a non-directory whose source has more names than one is
// copied once, its later names linked to that copy (held by descriptor, or by file handle past 64 at
// once); a name whose other names lie outside the tree is a plain copy, and an entry kept in a merge is
// not linked over.
// The first error ends the copy; it names the path and the reason. A directory met twice on the way down
// (a bind mount of an ancestor) or one this copy created (the destination inside the source) is an error,
// and so is a tree deeper than 512 levels. Objects are created with exactly their modes (the process's
// umask is set to 0 meanwhile).
Status copy_tree_at(int src_dir, const std::string& from, int dst_dir, const std::string& to,
                    const CopyTreeOptions& options);

// The last component of an absolute path and its parent ("/a/b/" -> "/a", "b"); an error for "/" and
// for a last component "." or "..".
struct SplitPath {
    std::string parent, name;
};
Result<SplitPath> split_last_component(const std::string& path);

}  // namespace berth
