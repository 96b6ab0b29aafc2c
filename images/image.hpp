// One image of the pool as machined reports it (org.freedesktop.machine1.Image): what kind it is, where,
// whether it may be written, when it was made and changed, how much it takes. Inspected afresh on every
// look: an image is whatever is on disk now, machined keeps no list of them.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "common/result.hpp"

namespace berth::images {

inline constexpr uint64_t kUnknown = std::numeric_limits<uint64_t>::max();  // as systemd: (uint64_t) -1

enum class ImageType { Directory, Subvolume, Raw, Block };

// "directory", "subvolume", "raw", "block": the Type property, as systemd spells it.
const char* type_name(ImageType type);

struct Image {
    std::string name;  // without ".raw"
    std::string path;  // absolute: DIR/ENTRY of the search path, "/" for .host
    ImageType type = ImageType::Directory;
    bool read_only = false;
    uint64_t crtime_usec = 0;  // 0: unknown
    uint64_t mtime_usec = 0;   // 0: unknown (directories and subvolumes: always, as systemd 252)
    uint64_t usage = kUnknown, usage_exclusive = kUnknown;
    uint64_t limit = kUnknown, limit_exclusive = kUnknown;
    // Which inode the image is (the directory, file or device node the path led to): a cache of what was
    // measured at a path knows by these whether it is still the same image.
    uint64_t dev = 0, ino = 0;

    bool is_host() const { return name == ".host"; }
    bool is_hidden() const { return !name.empty() && name[0] == '.'; }
};

inline constexpr const char* kHostImage = ".host";

// Whether `name` can name an image, as systemd 252 decides: a valid file name (not empty, not "." or "..",
// no '/', at most 255 bytes), valid UTF-8 without control characters, and not starting with ".#" (the
// temporaries of an image being made). Hostname rules do not apply: "bad name" is an image.
bool image_name_valid(std::string_view name);

// The image ENTRY in directory `dirfd` (`dir` its path, for Image::path and messages), following a
// symbolic link as systemd does. nullopt when the entry is not an image (not a directory, a ".raw"
// regular file or a block device; an invalid name); an error when it cannot be looked at.
Result<std::optional<Image>> inspect_entry(int dirfd, const std::string& dir, const std::string& entry);

// The .host image: "/", a directory, read-only when "/" is.
Image host_image();

}  // namespace berth::images
