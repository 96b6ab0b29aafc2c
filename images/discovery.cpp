#include "images/discovery.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "common/fd.hpp"

namespace berth::images {

namespace {

UniqueFd open_search_dir(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd && errno != ENOENT && errno != ENOTDIR)
        spdlog::warn("Images in {} are not listed: {}", dir, std::strerror(errno));
    return fd;
}

// The image names the entries of `dir` could be: each entry ("x.raw" as a directory or block device is the
// image "x.raw"), and each "NAME.raw" also as NAME (a raw file).
void candidate_names(const std::string& dir, std::set<std::string>& names) {
    UniqueFd fd = open_search_dir(dir);
    if (!fd) return;
    DIR* d = ::fdopendir(fd.get());
    if (!d) return;
    (void)fd.release();
    while (auto* e = ::readdir(d)) {
        std::string entry = e->d_name;
        if (entry == "." || entry == "..") continue;
        names.insert(entry);
        if (entry.size() > 4 && entry.ends_with(".raw")) names.insert(entry.substr(0, entry.size() - 4));
    }
    ::closedir(d);
}

// The image `name` in `dir`: the entry NAME (a directory or block device), else NAME.raw.
Result<std::optional<Image>> find_in(const std::string& dir, const std::string& name) {
    UniqueFd fd = open_search_dir(dir);
    if (!fd) return std::optional<Image>();
    for (const std::string& entry : {name, name + ".raw"}) {
        BERTH_ASSIGN(auto img, inspect_entry(fd.get(), dir, entry));
        // "x.raw" as a directory is the image "x.raw", not "x".
        if (img && img->name == name) return img;
    }
    return std::optional<Image>();
}

}  // namespace

std::vector<std::string> search_path(const std::string& pool, const std::vector<std::string>& others) {
    std::vector<std::string> out;
    if (!pool.empty()) out.push_back(pool);
    for (auto& d : others)
        if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
    return out;
}

Result<Image> find_image(const std::vector<std::string>& path, const std::string& name) {
    if (name == kHostImage) return host_image();
    // A name no image can have names none: systemd 252 answers it as any unknown name.
    if (image_name_valid(name)) {
        for (auto& dir : path) {
            BERTH_ASSIGN(auto img, find_in(dir, name));
            if (img) return std::move(*img);
        }
    }
    return plain_error(fmt::format("No image '{}' known", name), ENOENT);
}

std::vector<Image> list_images(const std::vector<std::string>& path) {
    std::set<std::string> names;
    for (auto& dir : path) candidate_names(dir, names);
    std::vector<Image> out{host_image()};
    for (auto& name : names) {
        if (name == kHostImage || !image_name_valid(name)) continue;
        auto img = find_image(path, name);
        if (img.ok()) out.push_back(std::move(*img));
        else if (img.error().code != ENOENT) spdlog::warn("{}", img.error().message);
    }
    return out;
}

}  // namespace berth::images
