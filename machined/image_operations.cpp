#include "machined/image_operations.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <sstream>

#include <spdlog/spdlog.h>

#include "common/paths.hpp"
#include "images/btrfs_quota.hpp"
#include "images/discovery.hpp"
#include "images/disk_usage.hpp"
#include "images/operations.hpp"
#include "machined/bus_error.hpp"
#include "machined/forked_call.hpp"
#include "machined/sd_bus_object.hpp"

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

void check_limit(uint64_t limit) {
    if (limit != images::kUnknown && (limit >> 63) != 0) throw_bus_error(kInvalidArgs, "New limit out of range");
}

bool vendor(const images::Image& image) { return image.path.starts_with("/usr/"); }

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

int reply_set_image_limit(sd_bus_message* call, Daemon& d, const images::Image& image, uint64_t limit) {
    check_limit(limit);
    d.authorize(call);
    return in_worker(call, d, [image, limit]() -> Status {
        if (image.is_host() || vendor(image))
            return plain_error(fmt::format("Image \"{}\" is read-only: it cannot be limited", image.name), EROFS);
        if (image.type != images::ImageType::Subvolume)
            return plain_error(fmt::format("Cannot limit image \"{}\": it is a {}, and a disk space limit needs a "
                                           "btrfs subvolume (btrfs quota)",
                                           image.name, images::type_name(image.type)),
                               EOPNOTSUPP);
        UniqueFd fd(::open(image.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        struct stat st {};
        if (!fd || ::fstat(fd.get(), &st) < 0) return errno_error(fmt::format("Failed to open image {}", image.path));
        if (st.st_dev != image.dev || st.st_ino != image.ino)
            return plain_error(fmt::format("Image \"{}\" ({}) changed meanwhile", image.name, image.path), ESTALE);
        Status s = images::set_subvolume_limit(fd.get(), limit);
        if (!s.ok()) return wrap_error(s.error(), fmt::format("Cannot limit image \"{}\"", image.name));
        return {};
    });
}

int reply_set_pool_limit(sd_bus_message* call, Daemon& d, uint64_t limit) {
    check_limit(limit);
    d.authorize(call);
    return in_worker(call, d, [pool = d.image_search_path().front(), limit]() -> Status {
        UniqueFd fd(::open(pool.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) return errno_error(fmt::format("Failed to open the pool {}", pool));
        Status s = images::set_pool_limit(fd.get(), limit);
        if (!s.ok()) return wrap_error(s.error(), fmt::format("Cannot limit the pool {}", pool));
        return {};
    });
}

int reply_clean_pool(sd_bus_message* call, Daemon& d, const std::string& mode) {
    if (mode != "all" && mode != "hidden") throw_bus_error(kInvalidArgs, fmt::format("Unknown mode '{}'.", mode));
    d.authorize(call);
    std::vector<images::Image> candidates;
    for (auto& image : d.list_images())
        if (!image.is_host() && !vendor(image) && (mode == "all" || image.is_hidden())) candidates.push_back(image);
    // The worker answers "INDEX FREED" lines: short whatever the names, so any pool fits its answer.
    auto work = [candidates, roots = machine_roots(d)]() -> Result<std::string> {
        std::string out;
        for (size_t i = 0; i < candidates.size(); i++) {
            auto& image = candidates[i];
            Status s = not_running(image, roots);
            // A link in the pool goes as a link: what it points to stays, and nothing is freed.
            struct stat entry {};
            bool link = ::lstat(image.path.c_str(), &entry) == 0 && S_ISLNK(entry.st_mode);
            uint64_t freed = link ? 0 : image.usage_exclusive;
            if (s.ok()) {
                auto lock = images::ImageLock::take(image, true);
                // What a directory frees, measured now where nothing had measured it (252 says nothing).
                if (lock.ok() && freed == images::kUnknown && image.type != images::ImageType::Raw &&
                    image.type != images::ImageType::Block)
                    if (auto measured = images::disk_usage(image.path); measured.ok()) freed = *measured;
                if (lock.ok()) s = images::remove_image(image, settings_dirs());
                else s = lock.error();
            }
            if (!s.ok()) {
                spdlog::info("Cleaning the pool, image \"{}\" kept: {}", image.name, s.error().message);
                continue;
            }
            out += fmt::format("{} {}\n", i, freed);
        }
        return out;
    };
    auto answer = [candidates](sd_bus_message* m, const Result<std::string>& outcome) -> int {
        if (!outcome.ok()) {
            // As reply_when_done names a worker's error.
            if (const char* name = file_error_name(outcome.error().code))
                return sd_bus_reply_method_errorf(m, name, "%s", outcome.error().message.c_str());
            return sd_bus_reply_method_errnof(m, outcome.error().code, "%s", outcome.error().message.c_str());
        }
        Reply reply(m);
        std::vector<std::pair<size_t, uint64_t>> removed;
        std::istringstream lines(outcome.value());
        size_t i;
        uint64_t freed;
        while (lines >> i >> freed)
            if (i < candidates.size()) removed.emplace_back(i, freed);
        append_each(reply.get(), "(st)", removed, [&](const std::pair<size_t, uint64_t>& r) {
            append(reply.get(), "(st)", candidates[r.first].name.c_str(), r.second);
        });
        return reply.send();
    };
    return answer_when_done(d, call, std::move(work), std::move(answer));
}

}  // namespace berth::machined
