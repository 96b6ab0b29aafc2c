#include "machined/image_operations.hpp"

#include <sys/stat.h>

#include "common/paths.hpp"
#include "images/discovery.hpp"
#include "images/operations.hpp"
#include "machined/bus_error.hpp"
#include "machined/forked_call.hpp"

namespace berth::machined {

namespace {

images::SettingsDirs settings_dirs() {
    return {{std::begin(paths::kSettingsDirs), std::end(paths::kSettingsDirs)}};
}

// The root directories of the registered machines, with their names: looked at in the worker (a stat of
// a path a caller registered may hang on a mount, never in machined's loop).
using Roots = std::vector<std::pair<std::string, std::string>>;
Roots machine_roots(Daemon& d) {
    Roots out;
    for (auto* m : d.registry().all())
        if (!m->is_host() && !m->root_directory.empty()) out.emplace_back(m->root_directory, m->name);
    return out;
}

// A registered machine whose root directory is the image (the same inode, whatever the path: a pool
// entry may be a link) makes the image busy while it runs; nspawn's machines also hold the image's lock,
// which the worker takes, for those that are not registered.
Status not_running(const images::Image& image, const Roots& roots) {
    for (auto& [root, machine] : roots) {
        struct stat st {};
        if (::stat(root.c_str(), &st) == 0 && st.st_dev == image.dev && st.st_ino == image.ino)
            return plain_error(fmt::format("Image \"{}\" is in use by machine \"{}\"", image.name, machine), EBUSY);
    }
    return {};
}

void check_new_name(Daemon& d, const std::string& new_name) {
    if (!images::image_name_valid(new_name))
        throw_bus_error(kInvalidArgs, fmt::format("Image name '{}' is invalid.", new_name));
    if (new_name == images::kHostImage || d.find_image(new_name))
        throw_bus_error("org.freedesktop.DBus.Error.FileExists", fmt::format("Image \"{}\" already exists", new_name));
}

// In the worker, holding the name: no image of the search path has it (checked again, now that no other
// operation can be giving it).
Status name_free(const std::vector<std::string>& search_path, const std::string& new_name) {
    auto found = images::find_image(search_path, new_name);
    if (found.ok()) return plain_error(fmt::format("Image \"{}\" already exists", new_name), EEXIST);
    return {};
}

int in_worker(sd_bus_message* call, Daemon& d, std::function<Status()> work) {
    return reply_when_done(d, call, std::move(work), file_error_name);
}

}  // namespace

int reply_remove_image(sd_bus_message* call, Daemon& d, const images::Image& image) {
    d.authorize(call);
    return in_worker(call, d, [image, roots = machine_roots(d)]() -> Status {
        BERTH_TRY(not_running(image, roots));
        BERTH_ASSIGN(auto lock, images::ImageLock::take(image, true));
        return images::remove_image(image, settings_dirs());
    });
}

int reply_rename_image(sd_bus_message* call, Daemon& d, const images::Image& image, const std::string& new_name) {
    d.authorize(call);
    check_new_name(d, new_name);
    return in_worker(call, d, [image, new_name, roots = machine_roots(d), path = d.image_search_path()]() -> Status {
        BERTH_TRY(not_running(image, roots));
        BERTH_ASSIGN(auto lock, images::ImageLock::take(image, true));
        BERTH_ASSIGN(auto name, images::ImageLock::take_name(new_name));
        BERTH_TRY(name_free(path, new_name));
        return images::rename_image(image, new_name, settings_dirs());
    });
}

int reply_clone_image(sd_bus_message* call, Daemon& d, const images::Image& image, const std::string& new_name,
                      bool read_only) {
    d.authorize(call);
    check_new_name(d, new_name);
    // A machine that only reads the image shares it: a copy of what it sees is consistent.
    return in_worker(call, d, [image, new_name, read_only, path = d.image_search_path()]() -> Status {
        BERTH_ASSIGN(auto lock, images::ImageLock::take(image, false));
        BERTH_ASSIGN(auto name, images::ImageLock::take_name(new_name));
        BERTH_TRY(name_free(path, new_name));
        return images::clone_image(image, path.front(), new_name, read_only, settings_dirs());
    });
}

int reply_mark_image_read_only(sd_bus_message* call, Daemon& d, const images::Image& image, bool read_only) {
    d.authorize(call);
    return in_worker(call, d, [image, read_only, roots = machine_roots(d)]() -> Status {
        BERTH_TRY(not_running(image, roots));
        BERTH_ASSIGN(auto lock, images::ImageLock::take(image, true));
        return images::mark_read_only(image, read_only);
    });
}

}  // namespace berth::machined
