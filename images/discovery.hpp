// Finding images: the directories of the search path, in order, the first one holding a name winning
// (as systemd: /etc/machines shadows /var/lib/machines), and the .host image. Nothing is cached: each call
// looks at the disk.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "images/image.hpp"

namespace berth::images {

// `pool` first, then `others` (systemd's search path is common/paths.hpp's kImageSearchPath, the default
// of machined.toml's image_search_path) in their order, each directory once.
std::vector<std::string> search_path(const std::string& pool, const std::vector<std::string>& others);

// Every image of the search path, .host first, then by name. An entry that cannot be looked at is left
// out with a warning (one bad entry must not hide the others); a missing directory is no error.
std::vector<Image> list_images(const std::vector<std::string>& path);

// The image `name` (".host" too): ENOENT with systemd 252's message, "No image 'NAME' known", when there
// is none, `name` one no image can have ("", "a/b", "../x") included.
Result<Image> find_image(const std::vector<std::string>& path, const std::string& name);

}  // namespace berth::images
