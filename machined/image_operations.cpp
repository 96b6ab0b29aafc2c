#include "machined/image_operations.hpp"

#include <sys/stat.h>

#include "common/paths.hpp"
#include "images/operations.hpp"
#include "machined/bus_error.hpp"
#include "machined/forked_call.hpp"

namespace berth::machined {

namespace {

images::SettingsDirs settings_dirs() {
    return {{std::begin(paths::kSettingsDirs), std::end(paths::kSettingsDirs)}};
}

// A registered machine whose root directory is the image (the same inode, whatever the path: a pool
// entry may be a link): the image is busy while it runs. nspawn's machines also hold the image's lock,
// which the worker takes, for those that are not registered.
void refuse_if_running(Daemon& d, const images::Image& image) {
    for (auto* m : d.registry().all()) {
        struct stat st {};
        if (m->is_host() || m->root_directory.empty() || ::stat(m->root_directory.c_str(), &st) < 0) continue;
        if (st.st_dev == image.dev && st.st_ino == image.ino)
            throw_bus_error("System.Error.EBUSY",
                            fmt::format("Image \"{}\" is in use by machine \"{}\"", image.name, m->name));
    }
}

void check_new_name(Daemon& d, const std::string& new_name) {
    if (!images::image_name_valid(new_name))
        throw_bus_error(kInvalidArgs, fmt::format("Image name '{}' is invalid.", new_name));
    // Anywhere on the search path: a name must find one image.
    if (new_name == images::kHostImage || d.find_image(new_name))
        throw_bus_error("org.freedesktop.DBus.Error.FileExists", fmt::format("Image \"{}\" already exists", new_name));
}

int in_worker(sd_bus_message* call, Daemon& d, std::function<Status()> work) {
    return reply_when_done(d, call, std::move(work), file_error_name);
}

}  // namespace

int reply_remove_image(sd_bus_message* call, Daemon& d, const images::Image& image) {
    d.authorize(call);
    refuse_if_running(d, image);
    return in_worker(call, d, [image]() -> Status {
        BERTH_ASSIGN(auto lock, images::ImageLock::take(image, true));
        return images::remove_image(image, settings_dirs());
    });
}

int reply_rename_image(sd_bus_message* call, Daemon& d, const images::Image& image, const std::string& new_name) {
    d.authorize(call);
    check_new_name(d, new_name);
    refuse_if_running(d, image);
    return in_worker(call, d, [image, new_name]() -> Status {
        BERTH_ASSIGN(auto lock, images::ImageLock::take(image, true));
        return images::rename_image(image, new_name, settings_dirs());
    });
}

int reply_clone_image(sd_bus_message* call, Daemon& d, const images::Image& image, const std::string& new_name,
                      bool read_only) {
    d.authorize(call);
    check_new_name(d, new_name);
    std::string pool = d.image_search_path().front();
    // A machine that only reads the image shares it: a copy of what it sees is consistent.
    return in_worker(call, d, [image, new_name, read_only, pool]() -> Status {
        BERTH_ASSIGN(auto lock, images::ImageLock::take(image, false));
        return images::clone_image(image, pool, new_name, read_only, settings_dirs());
    });
}

int reply_mark_image_read_only(sd_bus_message* call, Daemon& d, const images::Image& image, bool read_only) {
    d.authorize(call);
    refuse_if_running(d, image);
    return in_worker(call, d, [image, read_only]() -> Status {
        BERTH_ASSIGN(auto lock, images::ImageLock::take(image, true));
        return images::mark_read_only(image, read_only);
    });
}

}  // namespace berth::machined
