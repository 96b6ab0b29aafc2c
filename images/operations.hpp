// What machined does to an image when asked (CloneImage, RenameImage, MarkImageReadOnly, RemoveImage and
// the Image interface's methods), as systemd 252's machined does it (tests/data/systemd-252-image-
// operations.sh; docs/machined.md, "Images"), each under the image's lock. Clone and remove walk whole
// trees: machined runs them in a forked worker.
#pragma once

#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/result.hpp"
#include "images/image.hpp"

namespace berth::images {

// An image's lock: the one nspawn holds while a machine runs on the image (/run/berth/locks/inode-DEV:INO,
// exclusive for a machine that writes it, shared for --read-only and --ephemeral ones). Taken without
// waiting: EBUSY, naming the image, when a machine has it. systemd-nspawn's lock of the same inode
// (/run/systemd/nspawn/locks/inode-DEV:INO) is tested too where it exists, never created.
class ImageLock {
public:
    static Result<ImageLock> take(const Image& image, bool exclusive);
    // The name an image is being given (clone, rename): two operations never make one name at once.
    // EBUSY while another holds it.
    static Result<ImageLock> take_name(const std::string& name);
    ImageLock() = default;
    ImageLock(ImageLock&&) = default;
    ImageLock& operator=(ImageLock&&) = default;
    ~ImageLock();

private:
    std::string path_;
    UniqueFd fd_, systemd_;
};

// Where per-machine settings files (NAME.toml) are, besides the one next to the image: they follow the
// image when it is cloned (copied), renamed and removed, as systemd's .nspawn files do.
struct SettingsDirs {
    std::vector<std::string> dirs;
};

// Removes the image and its settings files. Read-only images too (their flag cleared first, as 252 does);
// never .host, one under /usr or a block device (EROFS).
Status remove_image(const Image& image, const SettingsDirs& settings);

// Renames the image in its directory (NEW.raw for a raw image) and its settings files. EINVAL for a name
// no image can have, EEXIST when NEW is taken there, EROFS for .host and /usr. A read-only directory
// keeps its flag.
Status rename_image(const Image& image, const std::string& new_name, const SettingsDirs& settings);

// Sets or clears the image's read-only state: the immutable attribute of a directory, the read-only flag
// of a btrfs subvolume, the write bits of a raw file (as 252: chmod a-w, and u+w back). EROFS for .host
// and /usr, EOPNOTSUPP for block devices.
Status mark_read_only(const Image& image, bool read_only);

// Copies the image to `new_name` in `pool` (a snapshot where it is a btrfs subvolume on the pool's
// filesystem, else a copy keeping owners, modes, hard links, special files, xattrs, ACLs, file
// capabilities and times), made under a hidden temporary name and renamed into place only when
// complete, then read-only if asked; its settings files are copied. EINVAL for a bad name, EEXIST when
// the name is taken in the pool, EOPNOTSUPP for .host and block devices.
Status clone_image(const Image& image, const std::string& pool, const std::string& new_name, bool read_only,
                   const SettingsDirs& settings);

}  // namespace berth::images
